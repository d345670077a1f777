#include "policy/active_policy.hpp"

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
    std::time_t t = Clock::to_time_t(active->synced_at);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char since[32];
    std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return "the cached policy is stale: last synced " + std::string(since) +
           ", more than maxAgeSeconds (" + std::to_string(max_age_seconds) + ") ago";
}

} // namespace imagegate
