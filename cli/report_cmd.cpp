// `imagegate report [--config FILE] [--log FILE] [--since DURATION] [--json] [--top N]`.
#include "cli/report_cmd.hpp"

#include "cli/commands.hpp"
#include "cli/text_table.hpp"
#include "common/args.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <iostream>

namespace imagegate {
namespace json = boost::json;

namespace {

const char *kReportUsage =
    R"(usage: imagegate report [--config FILE] [--log FILE] [--since DURATION] [--json] [--top N]

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

// Decisions counted by name (a category, registry or user), by number.
struct CountsByName {
    Interner names;
    std::vector<DecisionCounts> counts;

    DecisionCounts &at(std::string_view name) {
        std::uint32_t id = names.id(name);
        if (id >= counts.size())
            counts.resize(id + 1);
        return counts[id];
    }
    void merge(const CountsByName &other) {
        for (std::uint32_t id = 0; id < other.names.size(); ++id) {
            DecisionCounts &to = at(other.names.name(id));
            const DecisionCounts &from = other.counts[id];
            to.allowed += from.allowed;
            to.denied += from.denied;
            to.would_deny += from.would_deny;
        }
    }
    std::vector<Breakdown> rows(bool denials_first) const {
        std::vector<Breakdown> out;
        for (std::uint32_t id = 0; id < names.size(); ++id)
            out.push_back({std::string(names.name(id)), counts[id]});
        std::sort(out.begin(), out.end(), [&](const Breakdown &a, const Breakdown &b) {
            if (denials_first && a.counts.denials() != b.counts.denials())
                return a.counts.denials() > b.counts.denials();
            if (a.counts.total() != b.counts.total())
                return a.counts.total() > b.counts.total();
            return a.name < b.name;
        });
        return out;
    }
};

std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) {
    return std::uint64_t(a) << 32 | b;
}

// Denials in one mode (enforced, or audit's would-deny), by subject: the reference, or the
// reason of a denial that names no image. Users and actions are (subject, id) pairs.
struct Denials {
    struct Denial {
        std::uint64_t count = 0;
        std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
        std::string category, reason; // of the last one
    };
    Interner subjects;
    std::vector<Denial> by_subject;
    NumberTable<bool> users, actions; // keys: pair_key(subject, user or action id)

    void add(std::string_view subject, std::uint32_t user, std::uint32_t action,
             const LogRecord &r) {
        std::uint32_t id = subjects.id(subject);
        if (id >= by_subject.size())
            by_subject.resize(id + 1);
        Denial &d = by_subject[id];
        ++d.count;
        users[pair_key(id, user)] = true;
        actions[pair_key(id, action)] = true;
        if (r.time_ms >= d.last_ms) {
            d.last_ms = r.time_ms;
            d.category.assign(r.category);
            d.reason.assign(r.reason);
        }
    }
};

// One thread's tallies; merged when every thread is done.
struct Tally {
    DecisionCounts totals;
    CountsByName by_category, by_registry, by_cause, by_trust_rule, by_key;
    Interner users, actions; // numbered here; by_user counts by the same numbers
    std::vector<DecisionCounts> by_user;
    Denials denied, would_deny;             // by reference
    Denials other_denied, other_would_deny; // by reason, for denials that name no image

    static void count(DecisionCounts &c, const LogRecord &r) {
        if (r.allow)
            ++c.allowed;
        else if (r.audit)
            ++c.would_deny;
        else
            ++c.denied;
    }

    void add(const LogRecord &r) {
        count(totals, r);
        count(by_category.at(r.category), r);
        count(by_registry.at(r.registry), r);
        count(by_cause.at(r.cause), r);
        if (!r.trust_rule.empty())
            count(by_trust_rule.at(r.trust_rule), r);
        if (!r.key_id.empty())
            count(by_key.at(r.key_id), r);
        std::uint32_t user = users.id(r.user);
        if (user >= by_user.size())
            by_user.resize(user + 1);
        count(by_user[user], r);
        if (r.allow)
            return;
        bool image = !r.reference.empty();
        Denials &d =
            image ? (r.audit ? would_deny : denied) : (r.audit ? other_would_deny : other_denied);
        d.add(image ? r.reference : r.reason, user, actions.id(r.action), r);
    }

    void merge_denials(Denials &into, const Denials &from, const Tally &other) {
        std::vector<std::uint32_t> subject_ids(from.subjects.size());
        for (std::uint32_t id = 0; id < from.subjects.size(); ++id) {
            std::uint32_t to_id = subject_ids[id] = into.subjects.id(from.subjects.name(id));
            if (to_id >= into.by_subject.size())
                into.by_subject.resize(to_id + 1);
            Denials::Denial &to = into.by_subject[to_id];
            const Denials::Denial &d = from.by_subject[id];
            to.count += d.count;
            if (d.last_ms >= to.last_ms) {
                to.last_ms = d.last_ms;
                to.category = d.category;
                to.reason = d.reason;
            }
        }
        from.users.for_each([&](std::uint64_t key, bool) {
            into.users[pair_key(subject_ids[key >> 32],
                                users.id(other.users.name(std::uint32_t(key))))] = true;
        });
        from.actions.for_each([&](std::uint64_t key, bool) {
            into.actions[pair_key(subject_ids[key >> 32],
                                  actions.id(other.actions.name(std::uint32_t(key))))] = true;
        });
    }

    void merge(const Tally &other) {
        totals.allowed += other.totals.allowed;
        totals.denied += other.totals.denied;
        totals.would_deny += other.totals.would_deny;
        by_category.merge(other.by_category);
        by_registry.merge(other.by_registry);
        by_cause.merge(other.by_cause);
        by_trust_rule.merge(other.by_trust_rule);
        by_key.merge(other.by_key);
        for (std::uint32_t id = 0; id < other.users.size(); ++id) {
            std::uint32_t to = users.id(other.users.name(id));
            if (to >= by_user.size())
                by_user.resize(to + 1);
            by_user[to].allowed += other.by_user[id].allowed;
            by_user[to].denied += other.by_user[id].denied;
            by_user[to].would_deny += other.by_user[id].would_deny;
        }
        merge_denials(denied, other.denied, other);
        merge_denials(would_deny, other.would_deny, other);
        merge_denials(other_denied, other.other_denied, other);
        merge_denials(other_would_deny, other.other_would_deny, other);
    }

    std::vector<Breakdown> user_rows() const {
        CountsByName named;
        for (std::uint32_t id = 0; id < users.size(); ++id)
            named.at(users.name(id)) = by_user[id];
        return named.rows(true);
    }

    std::vector<DenialRow> denial_rows(const Denials &deny, const Denials &would) const {
        std::vector<DenialRow> rows;
        for (bool audit : {false, true}) {
            const Denials &d = audit ? would : deny;
            std::vector<std::vector<std::string>> users_of(d.subjects.size()),
                actions_of(d.subjects.size());
            d.users.for_each([&](std::uint64_t key, bool) {
                users_of[key >> 32].emplace_back(users.name(std::uint32_t(key)));
            });
            d.actions.for_each([&](std::uint64_t key, bool) {
                actions_of[key >> 32].emplace_back(actions.name(std::uint32_t(key)));
            });
            for (std::uint32_t id = 0; id < d.subjects.size(); ++id) {
                std::sort(users_of[id].begin(), users_of[id].end());
                std::sort(actions_of[id].begin(), actions_of[id].end());
                const Denials::Denial &x = d.by_subject[id];
                rows.push_back({std::string(d.subjects.name(id)), audit, x.count,
                                std::move(users_of[id]), std::move(actions_of[id]), x.category,
                                x.reason, format_rfc3339_ms(x.last_ms)});
            }
        }
        // Most often first; then the most recent; then by name, so the order is stable.
        std::sort(rows.begin(), rows.end(), [](const DenialRow &a, const DenialRow &b) {
            if (a.count != b.count)
                return a.count > b.count;
            if (a.last_seen != b.last_seen)
                return a.last_seen > b.last_seen;
            if (a.subject != b.subject)
                return a.subject < b.subject;
            return a.audit < b.audit;
        });
        return rows;
    }
};

std::string decision_word(bool audit) {
    return audit ? "would deny" : "deny";
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

} // namespace

Result<Report> build_report(const std::vector<std::string> &files,
                            std::optional<std::int64_t> since_ms, unsigned threads,
                            std::size_t block_bytes) {
    threads = std::max(threads, 1u);
    std::vector<Tally> tallies(threads);
    std::vector<RecordVisitor> visitors;
    for (auto &t : tallies)
        visitors.push_back([&t](const LogRecord &r) { t.add(r); });
    ScanOptions options;
    options.since_ms = since_ms;
    options.block_bytes = block_bytes;
    auto scan = scan_decision_log(files, options, visitors);
    if (!scan)
        return Error{scan.error()};
    for (std::size_t i = 1; i < tallies.size(); ++i)
        tallies[0].merge(tallies[i]);
    Tally &t = tallies[0];
    Report report;
    report.scan = std::move(scan).value();
    if (since_ms)
        report.since_time = format_rfc3339_ms(*since_ms);
    report.totals = t.totals;
    report.by_category = t.by_category.rows(false);
    report.by_registry = t.by_registry.rows(false);
    report.by_cause = t.by_cause.rows(false);
    report.by_trust_rule = t.by_trust_rule.rows(false);
    report.by_key = t.by_key.rows(false);
    report.by_user = t.user_rows();
    report.references = t.denial_rows(t.denied, t.would_deny);
    report.other_denials = t.denial_rows(t.other_denied, t.other_would_deny);
    return report;
}

std::string report_table(const Report &r, const std::string &log_path, std::size_t top) {
    std::string out;
    std::size_t rotated = r.scan.files.size() - (std::find(r.scan.files.begin(), r.scan.files.end(),
                                                           log_path) != r.scan.files.end());
    out += "Decision log: " + log_path;
    if (rotated)
        out += " and " + plural(rotated, "rotated file", "rotated files");
    out += "\n";
    const DecisionCounts &c = r.totals;
    if (c.total() == 0) {
        out += r.since_text.empty()
                   ? "No decisions in the log.\n"
                   : "No decisions since " + r.since_time + " (--since " + r.since_text + ").\n";
    } else {
        out += plural(c.total(), "decision", "decisions") + " from " + r.scan.first_time + " to " +
               r.scan.last_time;
        if (!r.since_text.empty())
            out += " (--since " + r.since_text + ": from " + r.since_time + ")";
        out += "\n";
        out += "  " + std::to_string(c.allowed) + " allowed, " + std::to_string(c.denied) +
               " denied, " + std::to_string(c.would_deny) +
               " would be denied (audit mode: logged, not enforced)\n";
    }
    if (r.scan.skipped) {
        out += plural(r.scan.skipped, "line", "lines") + " skipped (torn, or not a decision):\n";
        for (const auto &s : r.scan.skipped_examples)
            out += "  " + s.file + ":" + std::to_string(s.line) + ": " + s.problem + "\n";
        if (r.scan.skipped > r.scan.skipped_examples.size())
            out += "  ...\n";
    }
    if (c.total() == 0)
        return out;

    auto limit = [&](std::size_t n) { return top == 0 ? n : std::min(n, top); };
    auto more = [&](std::size_t n) {
        return n > limit(n) ? "  ... and " + std::to_string(n - limit(n)) +
                                  " more (--top 0 or --json for all)\n"
                            : std::string();
    };
    auto counts_table = [&](const std::string &title, const std::vector<Breakdown> &rows,
                            std::string_view none) {
        TextTable table({title, ">TOTAL", ">ALLOWED", ">DENIED", ">WOULD DENY"});
        for (std::size_t i = 0; i < limit(rows.size()); ++i) {
            const Breakdown &b = rows[i];
            table.add({b.name.empty() ? std::string(none) : b.name,
                       std::to_string(b.counts.total()), std::to_string(b.counts.allowed),
                       std::to_string(b.counts.denied), std::to_string(b.counts.would_deny)});
        }
        out += "\n" + table.str() + more(rows.size());
    };
    counts_table("CATEGORY", r.by_category, "(none)");
    counts_table("REGISTRY", r.by_registry, "(none)");
    counts_table("CAUSE", r.by_cause, "unknown");
    if (!r.by_trust_rule.empty()) {
        // Trust rules (docs/trust.md): what each covered, and the keys whose signatures verified.
        counts_table("TRUST RULE", r.by_trust_rule, "(none)");
        if (!r.by_key.empty())
            counts_table("SIGNED BY KEY", r.by_key, "(none)");
    }
    counts_table("USER", r.by_user, "(no user)");

    out += "\nReferences most often denied";
    if (r.references.empty()) {
        out += ": none.\n";
    } else {
        out += " (" + std::to_string(r.references.size()) + "):\n";
        TextTable table({"REFERENCE", "DECISION", ">COUNT", "USERS", "LAST SEEN", "CATEGORY"});
        for (std::size_t i = 0; i < limit(r.references.size()); ++i) {
            const DenialRow &d = r.references[i];
            table.add({d.subject, decision_word(d.audit), std::to_string(d.count),
                       user_list(d.users), d.last_seen, d.category});
        }
        out += table.str() + more(r.references.size());
    }
    if (!r.other_denials.empty()) {
        out += "\nDenials that name no image (hardening, protocol, sign-in) (" +
               std::to_string(r.other_denials.size()) + "):\n";
        TextTable table({">COUNT", "DECISION", "USERS", "LAST SEEN", "REASON"});
        for (std::size_t i = 0; i < limit(r.other_denials.size()); ++i) {
            const DenialRow &d = r.other_denials[i];
            table.add({std::to_string(d.count), decision_word(d.audit), user_list(d.users),
                       d.last_seen, d.subject});
        }
        out += table.str() + more(r.other_denials.size());
    }
    if (c.would_deny)
        out += "\nwould deny: the policy denied it in audit mode; it was logged, not enforced.\n";
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
        for (const auto &s : v)
            a.emplace_back(s);
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
    o["byCause"] = breakdowns(r.by_cause, "cause");
    o["byTrustRule"] = breakdowns(r.by_trust_rule, "trustRule");
    o["byKeyId"] = breakdowns(r.by_key, "keyId");
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
            if (take_log_option(args, i, query))
                continue;
            if (auto v = take_option(args, i, "--top")) {
                auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), top);
                if (ec != std::errc() || end != v->data() + v->size())
                    throw UsageError("--top takes a number, not \"" + *v + "\"");
                continue;
            }
            throw UsageError(args[i].starts_with("-") ? "unknown option " + args[i]
                                                      : "unexpected argument \"" + args[i] + "\"");
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
    if (query.json)
        std::cout << report_json(*report);
    else
        std::cout << report_table(*report, log->path, top);
    return 0;
}

} // namespace imagegate
