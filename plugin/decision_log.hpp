// The decision log (SPEC §2): JSON lines, one per image decision and per denial of any kind,
// size-capped rotation. Each line is written with one append, so the daemon and
// `containerd-verify` can share the file.
#pragma once
#include "plugin/decision_line.hpp"
#include "policy/decide.hpp"

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace imagegate {

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

} // namespace imagegate
