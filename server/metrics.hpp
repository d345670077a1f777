// Decision counters for /metrics and `status`: fixed arrays of atomics, so recording a
// decision on the request path takes no lock and allocates nothing.
#pragma once
#include "policy/action.hpp"
#include "policy/cause.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imagegate {

// The policy gauges /metrics shows next to the counters (read from the PolicyStore).
struct PolicyGauges {
    std::optional<std::int64_t> serial; // no policy: absent
    std::optional<double> age_seconds;  // since the policy was last confirmed current
    std::uint64_t sync_failures = 0;
};

struct DecisionTotals {
    std::uint64_t allowed = 0;
    std::uint64_t denied = 0;
    std::uint64_t internal_errors = 0;
};

class Metrics {
  public:
    static constexpr std::size_t kActions = 10;   // Action::Pull .. Action::Other
    static constexpr std::size_t kCategories = 7; // Category::None .. Category::OtherRegistry
    // Upper bounds in seconds; a decision is normally tens of microseconds.
    static constexpr std::array<double, 12> kDurationBuckets{
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0};

    // `action` is an action name ("image.pull", "other"), `category` a category name
    // ("community", "none"); anything else counts as "other" / "none".
    // A denial is counted under its cause (label cause on the deny series).
    void record_decision(std::string_view action, std::string_view category, bool allow,
                         double seconds, Cause cause = Cause::None);
    void record_decision(Action action, Category category, bool allow, double seconds,
                         Cause cause = Cause::None);
    void record_internal_error();

    DecisionTotals totals() const;
    // Prometheus text exposition format 0.0.4.
    std::string prometheus_text(const PolicyGauges &gauges) const;

  private:
    // Per action and category: one allow counter, then one deny counter per cause.
    static constexpr std::size_t kCauses = std::size(kAllCauses);
    static constexpr std::size_t kSlots = 1 + kCauses;
    static std::size_t counter_index(std::size_t action, std::size_t category, bool allow,
                                     Cause cause = Cause::None) {
        return (action * kCategories + category) * kSlots +
               (allow ? 0 : 1 + static_cast<std::size_t>(cause));
    }
    std::array<std::atomic<std::uint64_t>, kActions * kCategories * kSlots> decisions_{};
    std::array<std::atomic<std::uint64_t>, kDurationBuckets.size() + 1>
        duration_buckets_{}; // last: +Inf
    std::atomic<std::uint64_t> duration_sum_nanoseconds_{0};
    std::atomic<std::uint64_t> internal_errors_{0};
};

} // namespace imagegate
