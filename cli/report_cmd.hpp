// `imagegate report` (README): what the decision log says — totals by decision, category,
// registry and user, and the references most often denied or that audit mode would have denied.
#pragma once
#include "decision_log/reader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imagegate {

struct DecisionCounts {
    std::uint64_t allowed = 0;
    std::uint64_t denied = 0;     // denied and enforced
    std::uint64_t would_deny = 0; // denied by the policy in audit mode: logged, not enforced
    std::uint64_t total() const { return allowed + denied + would_deny; }
    std::uint64_t denials() const { return denied + would_deny; }
};

struct Breakdown {
    std::string name; // a category, registry or user ("" for none / the local socket)
    DecisionCounts counts;
};

// A reference (or, for denials that name no image, a reason) denied in one mode.
struct DenialRow {
    std::string subject; // the normalised reference; the reason for denials that name no image
    bool audit = false;  // "wouldDeny" rather than "deny"
    std::uint64_t count = 0;
    std::vector<std::string> users;   // sorted
    std::vector<std::string> actions; // sorted
    std::string category;             // of the last one seen
    std::string reason;               // of the last one seen
    std::string last_seen;            // RFC 3339, UTC
};

struct Report {
    ScanSummary scan;
    std::string since_text; // "24h", or empty
    std::string since_time; // where that window starts, RFC 3339
    DecisionCounts totals;
    std::vector<Breakdown> by_category; // most decisions first
    std::vector<Breakdown> by_registry;
    std::vector<Breakdown> by_cause; // cause_name() (policy/cause.hpp); "unknown" for old lines
    std::vector<Breakdown> by_user;  // most denials first
    std::vector<Breakdown> by_trust_rule; // images a trust rule covered (docs/trust.md)
    std::vector<Breakdown> by_key;        // runs and pulls a key's signature let through
    std::vector<DenialRow> references;    // image denials, most first
    std::vector<DenialRow>
        other_denials; // denials that name no image (hardening, protocol, sign-in)
};

// Reads FILES (oldest first) on `threads` threads; records before since_ms are left out.
Result<Report> build_report(const std::vector<std::string> &files,
                            std::optional<std::int64_t> since_ms, unsigned threads,
                            std::size_t block_bytes = kLogBlockBytes);

// The terminal table: at most `top` rows per list (0: all).
std::string report_table(const Report &report, const std::string &log_path, std::size_t top);
// {"total","allowed","denied","wouldDeny","references":[...], "byCategory", ...}: every row.
std::string report_json(const Report &report);

} // namespace imagegate
