// One line of the decision log (docs/policy.md): JSON with the contract's keys, formatted without a
// DOM. Apart from DecisionLog (decision_log.hpp), so that a writer without spdlog
// (imagegate-containerd-verify, one process per pull) formats exactly the same lines.
#pragma once
#include "common/time_text.hpp"
#include "policy/decide.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace imagegate {

struct LogContext {
    std::string user;
    std::string organization;
    std::int64_t policy_serial = -1; // -1: no policy
    bool audit = false;
    std::string source = "dockerd"; // or "containerd"
    std::string endpoint;
    std::string digest; // containerd-verify
};

// The line (no newline) for one decision; CAUSE is cause_name(...) (policy/cause.hpp).
std::string decision_line(const LogContext &context, std::string_view action,
                          std::string_view reference, std::string_view category,
                          std::string_view registry, bool allow, std::string_view reason,
                          bool tag_target, std::string_view cause);
// The line for one image decision.
std::string image_decision_line(const ImageDecision &image, const LogContext &context);

// The name of rotation INDEX of a log (0: the log itself): decisions.jsonl → decisions.1.jsonl
// (spdlog's file_helper::split_by_extension, which earlier versions used to write the log).
std::string rotated_log_name(const std::string &path, int index);

} // namespace imagegate
