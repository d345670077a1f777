// `imagegate policy impact NEW_POLICY` (README): replays the logged image decisions against
// a new policy with the decision code `serve` uses, and lists those whose outcome changes.
#pragma once
#include "decision_log/reader.hpp"
#include "policy/policy.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imagegate {

// One (action, reference) whose logged decisions would come out the other way.
struct ImpactChange {
    std::string action; // "image.pull"
    bool tag_target = false;
    std::string reference;
    std::uint64_t count = 0;        // logged decisions that change
    std::vector<std::string> users; // sorted
    std::string last_seen;          // the last changed decision, RFC 3339
    std::string category;           // under the new policy
    std::string reason;             // the new policy's, for the user with the most decisions
};

struct Impact {
    ScanSummary scan;
    std::string since_text, since_time;
    std::uint64_t replayed = 0; // image decisions replayed
    std::uint64_t distinct = 0; // distinct (user, action, reference, tag target) decided
    std::uint64_t unchanged = 0;
    std::uint64_t no_image = 0;       // denials that name no image (hardening, protocol, sign-in)
    std::uint64_t not_replayable = 0; // image IDs, invalid references, unknown actions
    std::uint64_t allow_to_deny_count = 0, deny_to_allow_count = 0;
    std::vector<ImpactChange> allow_to_deny, deny_to_allow; // most decisions first
    std::uint64_t changed() const { return allow_to_deny_count + deny_to_allow_count; }
};

// Reads FILES (oldest first) on `threads` threads and replays them against POLICY.
Result<Impact> replay_decision_log(const std::vector<std::string> &files,
                                   std::optional<std::int64_t> since_ms, const Policy &policy,
                                   unsigned threads, std::size_t block_bytes = kLogBlockBytes);

// The terminal report: at most `top` rows per list (0: all).
std::string impact_table(const Impact &impact, const Policy &policy, const std::string &policy_file,
                         const std::string &log_path, std::size_t top);
std::string impact_json(const Impact &impact, const Policy &policy, const std::string &policy_file);

} // namespace imagegate
