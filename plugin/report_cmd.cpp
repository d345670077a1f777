// `imagegate report [--config FILE] [--log FILE] [--since DURATION] [--json] [--top N]`.
#include "plugin/report_cmd.hpp"

#include "plugin/cli.hpp"
#include "plugin/commands.hpp"
#include "plugin/text_table.hpp"
#include "policy/policy.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <iostream>

namespace imagegate {
namespace json = boost::json;

namespace {

const char *kReportUsage = R"(usage: imagegate report [--config FILE] [--log FILE] [--since DURATION] [--json] [--top N]

What the decision log (and its rotated files) says: decisions by outcome, category, registry
and user, and the references most often denied — or that audit mode would have denied — with
counts, users and when they were last seen.
  --log FILE        the decision log (default: decisionLog of the configuration)
  --config FILE     the configuration (default /etc/imagegate/imagegate.json)
  --since DURATION  only decisions of the last DURATION: 30m, 24h, 7d (s, m, h, d, w)
  --json            one JSON document, every row (for scripts)
  --top N           rows per list in the table (default 20; 0: all)
Lines that are torn or not decisions are counted and skipped. Exit status: 0, or 2 on bad
usage or an unreadable log.
)";

// One thread's tallies; merged when every thread is done.
struct Tally {
    struct Denial {
        std::uint64_t count = 0;
        StringSet users;
        StringSet actions;
        std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
        std::string last_time, category, reason;
    };
    DecisionCounts totals;
    StringMap<DecisionCounts> by_category, by_registry, by_user;
    StringMap<Denial> denied, would_deny;             // by reference
    StringMap<Denial> other_denied, other_would_deny; // by reason, for denials that name no image

    template <class V> static V &at(StringMap<V> &map, std::string_view key) {
        auto it = map.find(key);
        if (it == map.end()) it = map.emplace(std::string(key), V{}).first;
        return it->second;
    }
    static void count(DecisionCounts &c, const LogRecord &r) {
        if (r.allow) ++c.allowed;
        else if (r.audit) ++c.would_deny;
        else ++c.denied;
    }
    static void insert(StringSet &set, std::string_view value) {
        if (set.find(value) == set.end()) set.emplace(value);
    }

    void add(const LogRecord &r) {
        count(totals, r);
        count(at(by_category, r.category), r);
        count(at(by_registry, r.registry), r);
        count(at(by_user, r.user), r);
        if (r.allow) return;
        bool image = !r.reference.empty();
        auto &map = image ? (r.audit ? would_deny : denied) : (r.audit ? other_would_deny : other_denied);
        Denial &d = at(map, image ? r.reference : r.reason);
        ++d.count;
        insert(d.users, r.user);
        insert(d.actions, r.action);
        if (r.time_ms >= d.last_ms) {
            d.last_ms = r.time_ms;
            d.last_time = std::string(r.time);
            d.category = std::string(r.category);
            d.reason = std::string(r.reason);
        }
    }

    static void merge_counts(StringMap<DecisionCounts> &into, StringMap<DecisionCounts> &from) {
        for (auto &[key, c] : from) {
            DecisionCounts &to = at(into, key);
            to.allowed += c.allowed;
            to.denied += c.denied;
            to.would_deny += c.would_deny;
        }
    }
    static void merge_denials(StringMap<Denial> &into, StringMap<Denial> &from) {
        for (auto &[key, d] : from) {
            Denial &to = at(into, key);
            to.count += d.count;
            to.users.merge(d.users);
            to.actions.merge(d.actions);
            if (d.last_ms >= to.last_ms) {
                to.last_ms = d.last_ms;
                to.last_time = std::move(d.last_time);
                to.category = std::move(d.category);
                to.reason = std::move(d.reason);
            }
        }
    }
    void merge(Tally &other) {
        totals.allowed += other.totals.allowed;
        totals.denied += other.totals.denied;
        totals.would_deny += other.totals.would_deny;
        merge_counts(by_category, other.by_category);
        merge_counts(by_registry, other.by_registry);
        merge_counts(by_user, other.by_user);
        merge_denials(denied, other.denied);
        merge_denials(would_deny, other.would_deny);
        merge_denials(other_denied, other.other_denied);
        merge_denials(other_would_deny, other.other_would_deny);
    }
};

std::vector<std::string> sorted(const StringSet &set) {
    std::vector<std::string> out(set.begin(), set.end());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<Breakdown> breakdown(const StringMap<DecisionCounts> &map, bool denials_first) {
    std::vector<Breakdown> out;
    for (const auto &[name, counts] : map) out.push_back({name, counts});
    std::sort(out.begin(), out.end(), [&](const Breakdown &a, const Breakdown &b) {
        if (denials_first && a.counts.denials() != b.counts.denials()) return a.counts.denials() > b.counts.denials();
        if (a.counts.total() != b.counts.total()) return a.counts.total() > b.counts.total();
        return a.name < b.name;
    });
    return out;
}

std::vector<DenialRow> denial_rows(const StringMap<Tally::Denial> &deny, const StringMap<Tally::Denial> &would) {
    std::vector<DenialRow> rows;
    for (bool audit : {false, true}) {
        for (const auto &[subject, d] : audit ? would : deny) {
            rows.push_back({subject, audit, d.count, sorted(d.users), sorted(d.actions), d.category, d.reason,
                            format_rfc3339_ms(d.last_ms)});
        }
    }
    // Most often first; then the most recent; then by name, so the order is stable.
    std::sort(rows.begin(), rows.end(), [](const DenialRow &a, const DenialRow &b) {
        if (a.count != b.count) return a.count > b.count;
        if (a.last_seen != b.last_seen) return a.last_seen > b.last_seen;
        if (a.subject != b.subject) return a.subject < b.subject;
        return a.audit < b.audit;
    });
    return rows;
}

std::string decision_word(bool audit) { return audit ? "would deny" : "deny"; }

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

} // namespace

Result<Report> build_report(const std::vector<std::string> &files, std::optional<std::int64_t> since_ms,
                            unsigned threads, std::size_t block_bytes) {
    threads = std::max(threads, 1u);
    std::vector<Tally> tallies(threads);
    std::vector<RecordVisitor> visitors;
    for (auto &t : tallies) visitors.push_back([&t](const LogRecord &r) { t.add(r); });
    ScanOptions options;
    options.since_ms = since_ms;
    options.block_bytes = block_bytes;
    auto scan = scan_decision_log(files, options, visitors);
    if (!scan) return Error{scan.error()};
    for (std::size_t i = 1; i < tallies.size(); ++i) tallies[0].merge(tallies[i]);
    Tally &t = tallies[0];
    Report report;
    report.scan = std::move(scan).value();
    if (since_ms) report.since_time = format_rfc3339_ms(*since_ms);
    report.totals = t.totals;
    report.by_category = breakdown(t.by_category, false);
    report.by_registry = breakdown(t.by_registry, false);
    report.by_user = breakdown(t.by_user, true);
    report.references = denial_rows(t.denied, t.would_deny);
    report.other_denials = denial_rows(t.other_denied, t.other_would_deny);
    return report;
}

std::string report_table(const Report &r, const std::string &log_path, std::size_t top) {
    std::string out;
    std::size_t rotated = r.scan.files.size() - (std::find(r.scan.files.begin(), r.scan.files.end(), log_path) !=
                                                 r.scan.files.end());
    out += "Decision log: " + log_path;
    if (rotated) out += " and " + plural(rotated, "rotated file", "rotated files");
    out += "\n";
    const DecisionCounts &c = r.totals;
    if (c.total() == 0) {
        out += r.since_text.empty() ? "No decisions in the log.\n"
                                    : "No decisions since " + r.since_time + " (--since " + r.since_text + ").\n";
    } else {
        out += plural(c.total(), "decision", "decisions") + " from " + r.scan.first_time + " to " + r.scan.last_time;
        if (!r.since_text.empty()) out += " (--since " + r.since_text + ": from " + r.since_time + ")";
        out += "\n";
        out += "  " + std::to_string(c.allowed) + " allowed, " + std::to_string(c.denied) + " denied, " +
               std::to_string(c.would_deny) + " would be denied (audit mode: logged, not enforced)\n";
    }
    if (r.scan.skipped) {
        out += plural(r.scan.skipped, "line", "lines") + " skipped (torn, or not a decision):\n";
        for (const auto &s : r.scan.skipped_examples)
            out += "  " + s.file + ":" + std::to_string(s.line) + ": " + s.problem + "\n";
        if (r.scan.skipped > r.scan.skipped_examples.size()) out += "  ...\n";
    }
    if (c.total() == 0) return out;

    auto limit = [&](std::size_t n) { return top == 0 ? n : std::min(n, top); };
    auto more = [&](std::size_t n) {
        return n > limit(n) ? "  ... and " + std::to_string(n - limit(n)) + " more (--top 0 or --json for all)\n"
                            : std::string();
    };
    auto counts_table = [&](const std::string &title, const std::vector<Breakdown> &rows, std::string_view none) {
        TextTable table({title, ">TOTAL", ">ALLOWED", ">DENIED", ">WOULD DENY"});
        for (std::size_t i = 0; i < limit(rows.size()); ++i) {
            const Breakdown &b = rows[i];
            table.add({b.name.empty() ? std::string(none) : b.name, std::to_string(b.counts.total()),
                       std::to_string(b.counts.allowed), std::to_string(b.counts.denied),
                       std::to_string(b.counts.would_deny)});
        }
        out += "\n" + table.str() + more(rows.size());
    };
    counts_table("CATEGORY", r.by_category, "(none)");
    counts_table("REGISTRY", r.by_registry, "(none)");
    counts_table("USER", r.by_user, "(no user)");

    out += "\nReferences most often denied";
    if (r.references.empty()) {
        out += ": none.\n";
    } else {
        out += " (" + std::to_string(r.references.size()) + "):\n";
        TextTable table({"REFERENCE", "DECISION", ">COUNT", "USERS", "LAST SEEN", "CATEGORY"});
        for (std::size_t i = 0; i < limit(r.references.size()); ++i) {
            const DenialRow &d = r.references[i];
            table.add({d.subject, decision_word(d.audit), std::to_string(d.count), user_list(d.users), d.last_seen,
                       d.category});
        }
        out += table.str() + more(r.references.size());
    }
    if (!r.other_denials.empty()) {
        out += "\nDenials that name no image (hardening, protocol, sign-in) (" +
               std::to_string(r.other_denials.size()) + "):\n";
        TextTable table({">COUNT", "DECISION", "USERS", "LAST SEEN", "REASON"});
        for (std::size_t i = 0; i < limit(r.other_denials.size()); ++i) {
            const DenialRow &d = r.other_denials[i];
            table.add({std::to_string(d.count), decision_word(d.audit), user_list(d.users), d.last_seen, d.subject});
        }
        out += table.str() + more(r.other_denials.size());
    }
    if (c.would_deny) out += "\nwould deny: the policy denied it in audit mode; it was logged, not enforced.\n";
    return out;
}

std::string report_json(const Report &r) {
    auto counts = [](json::object &o, const DecisionCounts &c) {
        o["total"] = c.total();
        o["allowed"] = c.allowed;
        o["denied"] = c.denied;
        o["wouldDeny"] = c.would_deny;
    };
    auto strings = [](const std::vector<std::string> &v) {
        json::array a;
        for (const auto &s : v) a.emplace_back(s);
        return a;
    };
    auto breakdowns = [&](const std::vector<Breakdown> &rows, std::string_view key) {
        json::array a;
        for (const auto &b : rows) {
            json::object o;
            o[key] = b.name;
            counts(o, b.counts);
            a.push_back(std::move(o));
        }
        return a;
    };
    auto denials = [&](const std::vector<DenialRow> &rows, std::string_view key) {
        json::array a;
        for (const auto &d : rows) {
            json::object o;
            o[key] = d.subject;
            o["decision"] = d.audit ? "wouldDeny" : "deny";
            o["count"] = d.count;
            o["users"] = strings(d.users);
            o["lastSeen"] = d.last_seen;
            o["actions"] = strings(d.actions);
            if (key != "reason") {
                o["category"] = d.category;
                o["reason"] = d.reason;
            }
            a.push_back(std::move(o));
        }
        return a;
    };
    json::object o;
    counts(o, r.totals);
    o["references"] = denials(r.references, "reference");
    o["otherDenials"] = denials(r.other_denials, "reason");
    o["byCategory"] = breakdowns(r.by_category, "category");
    o["byRegistry"] = breakdowns(r.by_registry, "registry");
    o["byUser"] = breakdowns(r.by_user, "user");
    o["from"] = r.totals.total() ? json::value(r.scan.first_time) : json::value(nullptr);
    o["to"] = r.totals.total() ? json::value(r.scan.last_time) : json::value(nullptr);
    o["since"] = r.since_time.empty() ? json::value(nullptr) : json::value(r.since_time);
    o["files"] = strings(r.scan.files);
    o["skippedLines"] = r.scan.skipped;
    return json::serialize(o) + "\n";
}

int run_report(const Args &args) {
    LogQuery query;
    std::size_t top = 20;
    try {
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (is_help(args[i])) {
                std::cout << kReportUsage;
                return 0;
            }
            if (take_log_option(args, i, query)) continue;
            if (auto v = take_option(args, i, "--top")) {
                auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), top);
                if (ec != std::errc() || end != v->data() + v->size()) throw UsageError("--top takes a number, not \"" + *v + "\"");
                continue;
            }
            throw UsageError(args[i].starts_with("-") ? "unknown option " + args[i] : "unexpected argument \"" + args[i] + "\"");
        }
    } catch (const UsageError &e) {
        std::cerr << "imagegate report: " << e.what() << "\n" << kReportUsage;
        return 2;
    }
    auto log = select_log(query, now_ms());
    if (!log) {
        std::cerr << "imagegate report: " << log.error() << "\n";
        return 2;
    }
    auto report = build_report(log->files, log->since_ms, scan_threads());
    if (!report) {
        std::cerr << "imagegate report: " << report.error() << "\n";
        return 2;
    }
    report.value().since_text = query.since_text;
    if (query.json) std::cout << report_json(*report);
    else std::cout << report_table(*report, log->path, top);
    return 0;
}

} // namespace imagegate
