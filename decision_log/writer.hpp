// The decision log (docs/policy.md): JSON lines, one per image decision and per denial of any kind,
// size-capped rotation. Lines reach the file whole, in O_APPEND writes of whole lines, so the
// daemon and `containerd-verify` can share the file.
#pragma once
#include "decision_log/line.hpp"
#include "policy/decide.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace imagegate {

class DecisionLog {
  public:
    // An empty path disables the log. Throws std::runtime_error naming the path when it cannot
    // open. `asynchronous` (the daemon): a background thread writes the lines in batches, off the
    // request path; a request only appends to a buffer (and waits only if 8 MiB are pending).
    DecisionLog(const std::string &path, std::size_t max_bytes, int max_files,
                bool asynchronous = false);
    ~DecisionLog();
    DecisionLog(const DecisionLog &) = delete;
    DecisionLog &operator=(const DecisionLog &) = delete;

    void write(const Decision &decision, const LogContext &context);
    void write_image(const ImageDecision &image, const LogContext &context);
    // Returns once every line written before the call is in the file.
    void flush();

  private:
    void append(std::string line);
    void write_out(std::string_view lines); // io_mutex_ held
    void rotate();                          // io_mutex_ held
    void writer_loop();

    std::string path_;
    std::size_t max_bytes_ = 0;
    int max_files_ = 0;
    bool asynchronous_ = false;
    bool enabled_ = false; // set once, before any writer: the file opened

    std::mutex io_mutex_; // the file
    int fd_ = -1;
    std::size_t size_ = 0;

    std::mutex mutex_; // the pending lines
    std::condition_variable wake_, drained_;
    std::string pending_; // appended by requests (mutex_)
    std::string writing_; // the writer thread's own: the batch being written
    std::uint64_t appended_ = 0, written_ = 0;
    bool flushing_ = false, stop_ = false;
    std::thread writer_;
};

} // namespace imagegate
