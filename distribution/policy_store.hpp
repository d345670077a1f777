// The policy in force, swapped atomically: readers see the old or the new one, never a mixture.
#pragma once
#include "policy/active_policy.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace imagegate {

struct SyncStatus {
    Clock::time_point last_attempt{};
    Clock::time_point next_attempt{};
    bool last_ok = false;
    std::string last_result; // "ok", "not modified", or why the new policy was refused
    std::uint64_t failures = 0;
};

class PolicyStore {
  public:
    std::shared_ptr<const ActivePolicy> current() const {
        return current_.load(std::memory_order_acquire);
    }
    // Swaps `next` in. The previous policy is freed here, on the publishing thread, once the
    // requests that still hold it are done (bounded wait): a request thread never pays for
    // freeing a large policy. Then the freed memory goes back to the system.
    void publish(std::shared_ptr<const ActivePolicy> next);
    SyncStatus sync_status() const {
        std::lock_guard lock(mutex_);
        return status_;
    }
    void record_sync(bool ok, std::string result, Clock::time_point when, Clock::time_point next) {
        std::lock_guard lock(mutex_);
        status_.last_attempt = when;
        status_.next_attempt = next;
        status_.last_ok = ok;
        status_.last_result = std::move(result);
        if (!ok)
            ++status_.failures;
    }

  private:
    std::atomic<std::shared_ptr<const ActivePolicy>> current_;
    mutable std::mutex mutex_;
    SyncStatus status_;
};

} // namespace imagegate
