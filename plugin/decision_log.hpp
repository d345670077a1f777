// The decision log (SPEC §2): JSON lines, one per image decision and per denial of any kind,
// size-capped rotation. Each line is written with one append, so the daemon and
// `containerd-verify` can share the file.
#pragma once
#include "policy/decide.hpp"

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

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

class DecisionLog {
  public:
    // An empty path disables the log. Throws std::runtime_error naming the path when it cannot open.
    // `asynchronous` (the daemon): lines are written by a background thread, off the request path.
    DecisionLog(const std::string &path, std::size_t max_bytes, int max_files, bool asynchronous = false);
    void write(const Decision &decision, const LogContext &context);
    void write_image(const ImageDecision &image, const LogContext &context);
    void flush();

  private:
    std::shared_ptr<spdlog::logger> logger_;
};

// RFC 3339 UTC with milliseconds: "2026-11-23T14:02:03.123Z".
std::string rfc3339_now();

} // namespace imagegate
