// The policy in force, with where it came from and when it was last confirmed current, and
// whether it may still decide (docs/policy.md, "Freshness": a fetched policy older than
// maxAgeSeconds denies image actions). Shared by serve, check and containerd-verify.
#pragma once
#include "policy/policy.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace imagegate {

using Clock = std::chrono::system_clock;

struct ActivePolicy {
    std::shared_ptr<const Policy> policy; // never null inside an ActivePolicy
    std::string source; // "default", "file:/etc/imagegate/policy.json", "cache:...", "url:..."
    Clock::time_point synced_at; // when it was last confirmed current (load, fetch, 304)
};

// Why the policy in force may not decide image actions at `now` (null: none loaded; fetched
// and older than `max_age_seconds`: stale), or "".
std::string policy_problem(const ActivePolicy *active, std::int64_t max_age_seconds,
                           Clock::time_point now);

} // namespace imagegate
