#include "decision_log/writer.hpp"
#include "decision_log/rotation.hpp"

#include "common/blocking.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace imagegate {
namespace {
// More than this pending and a request waits for the writer: bounded memory, no line lost.
inline constexpr std::size_t kMaxPending = 8 * 1024 * 1024;
// The two buffers (pending, being written) keep this capacity: appends never reallocate in
// steady state. Memory freed by one request thread and reallocated by another spreads over
// glibc's per-thread arenas and stays resident.
inline constexpr std::size_t kBufferBytes = 256 * 1024;
// How long the writer lets lines gather before a write: one write(2) and one wake-up per
// batch instead of per decision, at the cost of this much delay on the file.
inline constexpr auto kGather = std::chrono::microseconds(500);
} // namespace

DecisionLog::DecisionLog(const std::string &path, std::size_t max_bytes, int max_files,
                         bool asynchronous)
    : path_(path), max_bytes_(max_bytes), max_files_(max_files), asynchronous_(asynchronous) {
    if (path.empty())
        return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    fd_ = open_decision_log(path);
    if (fd_ < 0)
        throw std::runtime_error("cannot open the decision log " + path + ": " +
                                 std::strerror(errno));
    enabled_ = true;
    struct stat st {};
    if (::fstat(fd_, &st) == 0)
        size_ = static_cast<std::size_t>(st.st_size);
    if (asynchronous_) {
        pending_.reserve(kBufferBytes);
        writing_.reserve(kBufferBytes);
        writer_ = std::thread([this] { writer_loop(); });
    }
}

DecisionLog::~DecisionLog() {
    if (writer_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        writer_.join();
    }
    if (fd_ >= 0)
        ::close(fd_);
}

void DecisionLog::write_image(const ImageDecision &i, const LogContext &c) {
    if (!enabled_)
        return;
    append(image_decision_line(i, c));
}

void DecisionLog::write(const Decision &d, const LogContext &c) {
    if (!enabled_)
        return;
    bool logged_denial = false;
    for (const auto &i : d.images) {
        write_image(i, c);
        if (!i.allow)
            logged_denial = true;
    }
    // A denial that no image line explains (hardening, protocol, sign-in, no policy).
    if (d.policy_denied && !logged_denial)
        append(decision_line(c, action_name(d.action), "", "none", "", false, d.message, false,
                             cause_name(d.cause)));
}

void DecisionLog::append(std::string line) {
    line.push_back('\n');
    if (!asynchronous_) {
        std::lock_guard io(io_mutex_);
        write_out(line);
        return;
    }
    std::unique_lock lock(mutex_);
    if (pending_.size() > kMaxPending) {
        BlockingScope waiting; // the disk is slow: other requests go on meanwhile
        drained_.wait(lock, [&] { return pending_.size() <= kMaxPending || stop_; });
    }
    bool was_empty = pending_.empty();
    pending_ += line; // into the buffer's capacity, never replacing it
    ++appended_;
    if (was_empty)
        wake_.notify_one();
}

void DecisionLog::writer_loop() {
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait(lock, [&] { return !pending_.empty() || stop_; });
        if (pending_.empty())
            break; // stopping, nothing left
        if (!stop_ && !flushing_) {
            lock.unlock();
            std::this_thread::sleep_for(kGather);
            lock.lock();
        }
        writing_.swap(pending_); // writing_ was empty, with its capacity
        std::uint64_t upto = appended_;
        lock.unlock();
        {
            std::lock_guard io(io_mutex_);
            write_out(writing_);
        }
        writing_.clear();
        if (writing_.capacity() > 4 * kBufferBytes) { // after a burst: back to the usual size
            std::string().swap(writing_);
            writing_.reserve(kBufferBytes);
        }
        lock.lock();
        written_ = upto;
        drained_.notify_all();
    }
}

void DecisionLog::flush() {
    if (!asynchronous_ || !enabled_)
        return;
    std::unique_lock lock(mutex_);
    std::uint64_t target = appended_;
    flushing_ = true;
    wake_.notify_one();
    drained_.wait(lock, [&] { return written_ >= target; });
    flushing_ = false;
}

// Whole lines, each file at most max_bytes (a single longer line gets a file of its own).
void DecisionLog::write_out(std::string_view lines) {
    while (!lines.empty()) {
        std::size_t take = lines.size();
        if (max_bytes_ > 0 && size_ + take > max_bytes_) {
            // As many whole lines as still fit; none: rotate first (unless the file is empty).
            std::size_t room = max_bytes_ > size_ ? max_bytes_ - size_ : 0;
            std::size_t end = room > 0 ? lines.rfind('\n', room - 1) : std::string_view::npos;
            if (end == std::string_view::npos) {
                if (size_ > 0) {
                    rotate();
                    continue;
                }
                end = lines.find('\n');
            }
            take = end + 1;
        }
        std::string_view chunk = lines.substr(0, take);
        while (!chunk.empty()) {
            ssize_t n = ::write(fd_, chunk.data(), chunk.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                spdlog::error("cannot write the decision log {}: {}", path_, std::strerror(errno));
                return;
            }
            chunk.remove_prefix(static_cast<std::size_t>(n));
            size_ += static_cast<std::size_t>(n);
        }
        lines.remove_prefix(take);
    }
}

// decisions.jsonl → decisions.1.jsonl → ... → decisions.N.jsonl (the oldest is dropped), by
// renames alone, then a new file: a line a verifier appends meanwhile lands in one of them.
void DecisionLog::rotate() {
    if (auto shifted = shift_rotated_logs(path_, max_files_); !shifted)
        spdlog::error("{}", shifted.error());
    int fd = open_decision_log(path_, max_files_ == 0);
    if (fd < 0) {
        spdlog::error("cannot reopen the decision log {}: {}", path_, std::strerror(errno));
        size_ = 0; // keep writing to the old file rather than spin
        return;
    }
    ::close(fd_);
    fd_ = fd;
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

} // namespace imagegate
