#include "policy/active_policy.hpp"
#include "common/time_text.hpp"

#include <chrono>
#include <ctime>

namespace imagegate {

std::string policy_problem(const ActivePolicy *active, std::int64_t max_age_seconds,
                           Clock::time_point now) {
    if (!active)
        return "no valid imagegate policy has been loaded";
    bool fetched = active->source.starts_with("url:") || active->source.starts_with("cache:");
    if (!fetched)
        return {};
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - active->synced_at).count();
    if (age <= max_age_seconds)
        return {};
    return "the cached policy is stale: last synced " + rfc3339(active->synced_at) +
           ", more than maxAgeSeconds (" + std::to_string(max_age_seconds) + ") ago";
}

} // namespace imagegate
