// Decision counters: relaxed atomics on the hot path, formatted only when /metrics is read.
#include "server/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace imagegate {
namespace {

constexpr std::size_t action_count = Metrics::kActions;
constexpr std::size_t category_count = Metrics::kCategories;

std::size_t action_index(std::string_view name) {
    for (std::size_t i = 0; i < action_count; ++i) {
        if (action_name(static_cast<Action>(i)) == name)
            return i;
    }
    return static_cast<std::size_t>(Action::Other);
}

std::size_t category_index(std::string_view name) {
    for (std::size_t i = 0; i < category_count; ++i) {
        if (category_name(static_cast<Category>(i)) == name)
            return i;
    }
    return static_cast<std::size_t>(Category::None);
}

std::string format_number(double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.9g", value);
    return text;
}

} // namespace

void Metrics::record_decision(std::string_view action, std::string_view category, bool allow,
                              double seconds, Cause cause) {
    record_decision(static_cast<Action>(action_index(action)),
                    static_cast<Category>(category_index(category)), allow, seconds, cause);
}

void Metrics::record_decision(Action action, Category category, bool allow, double seconds,
                              Cause cause) {
    auto a = static_cast<std::size_t>(action);
    auto c = static_cast<std::size_t>(category);
    if (a >= kActions)
        a = static_cast<std::size_t>(Action::Other);
    if (c >= kCategories)
        c = static_cast<std::size_t>(Category::None);
    if (static_cast<std::size_t>(cause) >= kCauses)
        cause = Cause::Internal;
    decisions_[counter_index(a, c, allow, cause)].fetch_add(1, std::memory_order_relaxed);

    if (!(seconds >= 0) || !std::isfinite(seconds))
        seconds = 0; // NaN or a clock step backwards
    std::size_t bucket = 0;
    while (bucket < kDurationBuckets.size() && seconds > kDurationBuckets[bucket])
        ++bucket;
    duration_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    duration_sum_nanoseconds_.fetch_add(static_cast<std::uint64_t>(std::min(seconds, 1e9) * 1e9),
                                        std::memory_order_relaxed);
}

void Metrics::record_internal_error() {
    internal_errors_.fetch_add(1, std::memory_order_relaxed);
}

DecisionTotals Metrics::totals() const {
    DecisionTotals totals;
    for (std::size_t i = 0; i < decisions_.size(); ++i) {
        std::uint64_t n = decisions_[i].load(std::memory_order_relaxed);
        (i % kSlots == 0 ? totals.allowed : totals.denied) += n;
    }
    totals.internal_errors = internal_errors_.load(std::memory_order_relaxed);
    return totals;
}

std::string Metrics::prometheus_text(const PolicyGauges &gauges) const {
    std::string out;
    out.reserve(16 * 1024);
    out += "# HELP imagegate_decisions_total Image and request decisions, by action, image "
           "category and outcome (denials also by cause).\n"
           "# TYPE imagegate_decisions_total counter\n";
    // Every series is shown from the start, zeros included, so rate() sees the first decision.
    for (std::size_t a = 0; a < kActions; ++a) {
        for (std::size_t c = 0; c < kCategories; ++c) {
            for (std::size_t slot = 0; slot < kSlots; ++slot) {
                std::uint64_t n = decisions_[(a * kCategories + c) * kSlots + slot].load(
                    std::memory_order_relaxed);
                out += "imagegate_decisions_total{action=\"";
                out += action_name(static_cast<Action>(a));
                out += "\",category=\"";
                out += category_name(static_cast<Category>(c));
                if (slot == 0) {
                    out += "\",decision=\"allow\"} ";
                } else {
                    out += "\",decision=\"deny\",cause=\"";
                    out += cause_name(kAllCauses[slot - 1]);
                    out += "\"} ";
                }
                out += std::to_string(n);
                out += '\n';
            }
        }
    }

    out += "# HELP imagegate_decision_duration_seconds Time to decide one AuthZ request.\n"
           "# TYPE imagegate_decision_duration_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kDurationBuckets.size(); ++i) {
        cumulative += duration_buckets_[i].load(std::memory_order_relaxed);
        out += "imagegate_decision_duration_seconds_bucket{le=\"";
        out += i < kDurationBuckets.size() ? format_number(kDurationBuckets[i]) : "+Inf";
        out += "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "imagegate_decision_duration_seconds_sum " +
           format_number(double(duration_sum_nanoseconds_.load(std::memory_order_relaxed)) / 1e9) +
           "\n";
    out += "imagegate_decision_duration_seconds_count " + std::to_string(cumulative) + "\n";

    out +=
        "# HELP imagegate_policy_serial Serial of the policy in force (absent: no valid policy).\n"
        "# TYPE imagegate_policy_serial gauge\n";
    if (gauges.serial)
        out += "imagegate_policy_serial " + std::to_string(*gauges.serial) + "\n";
    out += "# HELP imagegate_policy_age_seconds Seconds since the policy in force was last "
           "confirmed current.\n"
           "# TYPE imagegate_policy_age_seconds gauge\n";
    if (gauges.age_seconds)
        out += "imagegate_policy_age_seconds " + format_number(*gauges.age_seconds) + "\n";
    out +=
        "# HELP imagegate_policy_sync_failures_total Policy fetches that failed or were refused.\n"
        "# TYPE imagegate_policy_sync_failures_total counter\n"
        "imagegate_policy_sync_failures_total " +
        std::to_string(gauges.sync_failures) + "\n";
    out += "# HELP imagegate_internal_errors_total Requests denied because of an internal error.\n"
           "# TYPE imagegate_internal_errors_total counter\n"
           "imagegate_internal_errors_total " +
           std::to_string(internal_errors_.load(std::memory_order_relaxed)) + "\n";
    return out;
}

} // namespace imagegate
