// `imagegate policy impact NEW_POLICY [--config FILE] [--log FILE] [--since DURATION] [--json]`.
#include "cli/impact_cmd.hpp"

#include "cli/commands.hpp"
#include "cli/text_table.hpp"
#include "common/args.hpp"
#include "distribution/policy_source.hpp"
#include "policy/decide.hpp"
#include "policy/reference.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <thread>
#include <unordered_map>

namespace imagegate {
namespace json = boost::json;

namespace {

const char *kImpactUsage =
    R"(usage: imagegate policy impact NEW_POLICY [--config FILE] [--log FILE] [--since DURATION] [--json] [--top N]

Replays the image decisions of the decision log (and its rotated files) against NEW_POLICY,
with the decision code `serve` uses, and lists those whose outcome would change: allow → deny
(what the new policy would break) and deny → allow, with counts and users. NEW_POLICY is
linted first; with errors nothing is replayed.
  --log FILE        the decision log (default: decisionLog of the configuration)
  --config FILE     the configuration (default /etc/imagegate/imagegate.json)
  --since DURATION  only decisions of the last DURATION: 30m, 24h, 7d (s, m, h, d, w)
  --json            one JSON document, every row (for scripts)
  --top N           rows per list in the table (default 20; 0: all)
Denials that name no image (hardening, protocol, sign-in) are not replayed, nor decisions on
image IDs. Exit status: 0 nothing changes, 1 something does, 2 bad usage, a policy with
errors or an unreadable log.
)";

// What the log says about one (action, tag target, reference, user).
struct Logged {
    std::uint64_t allowed = 0, denied = 0;
    std::int64_t last_allowed_ms = std::numeric_limits<std::int64_t>::min();
    std::int64_t last_denied_ms = std::numeric_limits<std::int64_t>::min();
    std::vector<std::string> key_ids; // keys whose signatures verified for it (docs/trust.md)
    void add_key(std::string_view id) {
        if (!id.empty() && key_ids.size() < 8 &&
            std::find(key_ids.begin(), key_ids.end(), id) == key_ids.end())
            key_ids.emplace_back(id);
    }
};

// A request as one number: action (4 bits), tag target (1), reference (27), user (32).
constexpr std::uint32_t kMaxReferences = 1u << 27;
std::uint64_t pack(Action action, bool tag_target, std::uint32_t reference, std::uint32_t user) {
    return std::uint64_t(action) << 60 | std::uint64_t(tag_target) << 59 |
           std::uint64_t(reference) << 32 | user;
}
struct Request {
    Action action;
    bool tag_target;
    std::uint32_t reference, user;
};
Request unpack(std::uint64_t key) {
    return {Action(key >> 60), bool(key >> 59 & 1), std::uint32_t(key >> 32 & (kMaxReferences - 1)),
            std::uint32_t(key)};
}

// One thread's tallies.
struct Tally {
    Interner references, users;
    NumberTable<Logged> logged;
    std::uint64_t no_image = 0, not_replayable = 0;

    void add(const LogRecord &r) {
        if (r.reference.empty()) {
            ++no_image;
            return;
        }
        // No registry: an invalid reference or an image ID, which only dockerd can resolve.
        auto action = parse_action(r.action);
        if (r.registry.empty() || !action || references.size() >= kMaxReferences) {
            ++not_replayable;
            return;
        }
        Logged &l =
            logged[pack(*action, r.tag_target, references.id(r.reference), users.id(r.user))];
        l.add_key(r.key_id);
        if (r.allow) {
            ++l.allowed;
            l.last_allowed_ms = std::max(l.last_allowed_ms, r.time_ms);
        } else {
            ++l.denied;
            l.last_denied_ms = std::max(l.last_denied_ms, r.time_ms);
        }
    }

    void merge(const Tally &other) {
        no_image += other.no_image;
        not_replayable += other.not_replayable;
        other.logged.for_each([&](std::uint64_t key, const Logged &o) {
            Request q = unpack(key);
            Logged &l = logged[pack(q.action, q.tag_target,
                                    references.id(other.references.name(q.reference)),
                                    users.id(other.users.name(q.user)))];
            l.allowed += o.allowed;
            l.denied += o.denied;
            l.last_allowed_ms = std::max(l.last_allowed_ms, o.last_allowed_ms);
            l.last_denied_ms = std::max(l.last_denied_ms, o.last_denied_ms);
            for (const auto &id : o.key_ids)
                l.add_key(id);
        });
    }
};

// The decision `serve` takes for one image of a request (decide_request): requireSignIn
// refuses a request without a user before any image is looked at; then decide_image.
// A run, or a tag's source, under a trust rule (docs/trust.md) is replayed from the log: it
// stays allowed when a signature by one of the rule's keys verified for it then (impact reads
// no registry).
ImageDecision replay(const Request &q, const Tally &t, const Policy &policy, const Logged &l) {
    std::string_view user = t.users.name(q.user);
    std::string_view reference = t.references.name(q.reference);
    ImageDecision d = decide_image(q.action, reference, user, policy, q.tag_target);
    if (policy.require_sign_in && user.empty() && d.allow) {
        d.allow = false;
        d.reason = policy.organization +
                   "'s policy requires signing in: the local socket has no user (policy " +
                   std::to_string(policy.serial) + ")";
    }
    auto ref = parse_reference(reference);
    bool trusted_use = q.action == Action::Run || (q.action == Action::Tag && !q.tag_target);
    const TrustRule *rule =
        ref && trusted_use && d.allow ? trust_rule_for(policy.trust, ref->match_name()) : nullptr;
    if (rule && rule->effective_mode(policy.mode) == Mode::Enforce) {
        bool seen = std::any_of(l.key_ids.begin(), l.key_ids.end(), [&](const std::string &id) {
            return std::any_of(rule->keys.begin(), rule->keys.end(),
                               [&](const auto &k) { return k->id() == id; });
        });
        if (rule->require_digest && ref->digest.empty() && q.action == Action::Run) {
            d.allow = false;
            d.reason = "trust rule " + rule->name + ": it requires a digest";
        } else if (!seen) {
            d.allow = false;
            d.reason = "trust rule " + rule->name +
                       ": no signature by its keys verified for this image in the log";
        }
        d.trust_rule = rule->name;
    }
    return d;
}

// What a replay keeps of a decision: the reason only where the outcome changes.
struct Outcome {
    bool allow = false;
    Category category = Category::None;
    std::string reason;
};

// Rows of one direction, grouped by (action, tag target, reference).
struct ChangeGroup {
    ImpactChange change;
    std::uint64_t biggest = 0; // decisions of the user whose reason the row shows
    std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
};

std::vector<ImpactChange> rows_of(std::unordered_map<std::uint64_t, ChangeGroup> &groups) {
    std::vector<ImpactChange> rows;
    rows.reserve(groups.size());
    for (auto &[key, g] : groups) {
        std::sort(g.change.users.begin(), g.change.users.end());
        g.change.last_seen = format_rfc3339_ms(g.last_ms);
        rows.push_back(std::move(g.change));
    }
    // Most decisions first; then by reference and action, so the order is stable.
    std::sort(rows.begin(), rows.end(), [](const ImpactChange &a, const ImpactChange &b) {
        if (a.count != b.count)
            return a.count > b.count;
        if (a.reference != b.reference)
            return a.reference < b.reference;
        if (a.action != b.action)
            return a.action < b.action;
        return a.tag_target < b.tag_target;
    });
    return rows;
}

std::string action_label(const ImpactChange &c) {
    return c.action + (c.tag_target ? " (target)" : "");
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

} // namespace

Result<Impact> replay_decision_log(const std::vector<std::string> &files,
                                   std::optional<std::int64_t> since_ms, const Policy &policy,
                                   unsigned threads, std::size_t block_bytes) {
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

    Impact impact;
    impact.scan = std::move(scan).value();
    if (since_ms)
        impact.since_time = format_rfc3339_ms(*since_ms);
    impact.no_image = t.no_image;
    impact.not_replayable = t.not_replayable;
    impact.distinct = t.logged.size();

    // Each distinct request once, split over the threads: the policy is immutable.
    std::vector<std::pair<std::uint64_t, const Logged *>> entries;
    entries.reserve(t.logged.size());
    t.logged.for_each(
        [&](std::uint64_t key, const Logged &logged) { entries.emplace_back(key, &logged); });
    std::vector<Outcome> outcomes(entries.size());
    auto decide_range = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            ImageDecision d = replay(unpack(entries[i].first), t, policy, *entries[i].second);
            const Logged &logged = *entries[i].second;
            Outcome &o = outcomes[i];
            o.allow = d.allow;
            o.category = d.category;
            if (d.allow ? logged.denied : logged.allowed)
                o.reason = std::move(d.reason);
        }
    };
    {
        std::vector<std::thread> workers;
        for (std::size_t part = 1; part < threads; ++part)
            workers.emplace_back(decide_range, entries.size() * part / threads,
                                 entries.size() * (part + 1) / threads);
        decide_range(0, entries.size() / threads);
        for (auto &w : workers)
            w.join();
    }

    // Changes grouped by (action, tag target, reference): the request without its user.
    std::unordered_map<std::uint64_t, ChangeGroup> to_deny, to_allow;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        std::uint64_t key = entries[i].first;
        const Logged &logged = *entries[i].second;
        Outcome &now = outcomes[i];
        impact.replayed += logged.allowed + logged.denied;
        std::uint64_t changed = now.allow ? logged.denied : logged.allowed;
        impact.unchanged += now.allow ? logged.allowed : logged.denied;
        if (changed == 0)
            continue;
        Request q = unpack(key);
        ChangeGroup &g =
            (now.allow ? to_allow : to_deny)[pack(q.action, q.tag_target, q.reference, 0)];
        if (g.change.count == 0) {
            g.change.action = std::string(action_name(q.action));
            g.change.tag_target = q.tag_target;
            g.change.reference = std::string(t.references.name(q.reference));
            g.change.category = std::string(category_name(now.category));
        }
        g.change.count += changed;
        g.change.users.emplace_back(t.users.name(q.user));
        g.last_ms = std::max(g.last_ms, now.allow ? logged.last_denied_ms : logged.last_allowed_ms);
        if (changed > g.biggest || (changed == g.biggest && now.reason < g.change.reason)) {
            g.biggest = changed;
            g.change.reason = std::move(now.reason);
        }
        (now.allow ? impact.deny_to_allow_count : impact.allow_to_deny_count) += changed;
    }
    impact.allow_to_deny = rows_of(to_deny);
    impact.deny_to_allow = rows_of(to_allow);
    return impact;
}

std::string impact_table(const Impact &r, const Policy &policy, const std::string &policy_file,
                         const std::string &log_path, std::size_t top) {
    std::string out;
    std::size_t rotated = r.scan.files.size() - (std::find(r.scan.files.begin(), r.scan.files.end(),
                                                           log_path) != r.scan.files.end());
    out += "Policy: " + policy_file + " (" + policy.organization + " policy " +
           std::to_string(policy.serial) +
           (policy.mode == Mode::Audit ? ", audit mode: its denials would be logged, not enforced"
                                       : "") +
           ")\n";
    out += "Decision log: " + log_path;
    if (rotated)
        out += " and " + plural(rotated, "rotated file", "rotated files");
    out += "\n";
    if (r.replayed == 0) {
        out += "No image decisions to replay";
        out += r.since_text.empty() ? "."
                                    : " since " + r.since_time + " (--since " + r.since_text + ").";
        out += "\n";
    } else {
        out += "Replayed " + plural(r.replayed, "image decision", "image decisions") + " from " +
               r.scan.first_time + " to " + r.scan.last_time;
        if (!r.since_text.empty())
            out += " (--since " + r.since_text + ": from " + r.since_time + ")";
        out += " (" +
               plural(r.distinct, "distinct user, action and reference",
                      "distinct users, actions and references") +
               "):\n";
        out += "  " + std::to_string(r.allow_to_deny_count) + " allow → deny, " +
               std::to_string(r.deny_to_allow_count) + " deny → allow, " +
               std::to_string(r.unchanged) + " unchanged\n";
    }
    if (r.no_image)
        out += "Not replayed: " + plural(r.no_image, "denial", "denials") +
               " that name no image (hardening, protocol, sign-in)\n";
    if (r.not_replayable)
        out += "Not replayed: " + plural(r.not_replayable, "decision", "decisions") +
               " on image IDs or invalid references\n";
    if (r.scan.skipped) {
        out += plural(r.scan.skipped, "line", "lines") + " skipped (torn, or not a decision):\n";
        for (const auto &s : r.scan.skipped_examples)
            out += "  " + s.file + ":" + std::to_string(s.line) + ": " + s.problem + "\n";
        if (r.scan.skipped > r.scan.skipped_examples.size())
            out += "  ...\n";
    }
    auto limit = [&](std::size_t n) { return top == 0 ? n : std::min(n, top); };
    auto list = [&](std::string_view title, std::uint64_t count,
                    const std::vector<ImpactChange> &rows) {
        out += "\n" + std::string(title) + ": ";
        if (rows.empty()) {
            out += "none.\n";
            return;
        }
        out += plural(count, "decision", "decisions") + ", " +
               plural(rows.size(), "reference", "references") + "\n";
        TextTable table(
            {"ACTION", "REFERENCE", ">COUNT", "USERS", "LAST SEEN", "WHY (NEW POLICY)"});
        for (std::size_t i = 0; i < limit(rows.size()); ++i) {
            const ImpactChange &c = rows[i];
            table.add({action_label(c), c.reference, std::to_string(c.count), user_list(c.users),
                       c.last_seen, c.reason.empty() ? "-" : c.reason});
        }
        out += table.str();
        if (rows.size() > limit(rows.size()))
            out += "  ... and " + std::to_string(rows.size() - limit(rows.size())) +
                   " more (--top 0 or --json for all)\n";
    };
    list("allow → deny (the new policy would break these)", r.allow_to_deny_count, r.allow_to_deny);
    list("deny → allow", r.deny_to_allow_count, r.deny_to_allow);
    out += r.changed()
               ? "\n" + plural(r.changed(), "logged decision changes", "logged decisions change") +
                     ".\n"
               : "\nNo logged decision changes.\n";
    return out;
}

std::string impact_json(const Impact &r, const Policy &policy, const std::string &policy_file) {
    auto rows = [](const std::vector<ImpactChange> &changes) {
        json::array a;
        for (const auto &c : changes) {
            json::array users;
            for (const auto &u : c.users)
                users.emplace_back(u);
            a.push_back(json::object{{"action", c.action},
                                     {"tagTarget", c.tag_target},
                                     {"reference", c.reference},
                                     {"count", c.count},
                                     {"users", std::move(users)},
                                     {"lastSeen", c.last_seen},
                                     {"category", c.category},
                                     {"reason", c.reason}});
        }
        return a;
    };
    json::array files;
    for (const auto &f : r.scan.files)
        files.emplace_back(f);
    json::object o{
        {"policy", json::object{{"file", policy_file},
                                {"organization", policy.organization},
                                {"serial", policy.serial},
                                {"mode", policy.mode == Mode::Audit ? "audit" : "enforce"}}},
        {"replayed", r.replayed},
        {"distinct", r.distinct},
        {"unchanged", r.unchanged},
        {"changed", r.changed()},
        {"allowToDeny",
         json::object{{"count", r.allow_to_deny_count}, {"references", rows(r.allow_to_deny)}}},
        {"denyToAllow",
         json::object{{"count", r.deny_to_allow_count}, {"references", rows(r.deny_to_allow)}}},
        {"notReplayed",
         json::object{{"noImage", r.no_image}, {"imageIdOrInvalid", r.not_replayable}}},
        {"from", r.replayed ? json::value(r.scan.first_time) : json::value(nullptr)},
        {"to", r.replayed ? json::value(r.scan.last_time) : json::value(nullptr)},
        {"since", r.since_time.empty() ? json::value(nullptr) : json::value(r.since_time)},
        {"files", std::move(files)},
        {"skippedLines", r.scan.skipped},
    };
    return json::serialize(o) + "\n";
}

int run_policy_impact(const Args &args) {
    LogQuery query;
    std::string policy_file;
    std::size_t top = 20;
    try {
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (is_help(args[i])) {
                std::cout << kImpactUsage;
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
            if (args[i].starts_with("-"))
                throw UsageError("unknown option " + args[i]);
            if (!policy_file.empty())
                throw UsageError("one NEW_POLICY only, not also \"" + args[i] + "\"");
            policy_file = args[i];
        }
        if (policy_file.empty())
            throw UsageError("give the NEW_POLICY file to replay the log against");
    } catch (const UsageError &e) {
        std::cerr << "imagegate policy impact: " << e.what() << "\n" << kImpactUsage;
        return 2;
    }

    // Lint first: a policy with errors is what to fix, not something to replay against.
    auto text = read_file(policy_file, kMaxPolicyFileBytes);
    if (!text) {
        std::cerr << "imagegate policy impact: " << text.error() << "\n";
        return 2;
    }
    PolicyLoad load = load_policy(*text, true);
    std::size_t errors = 0;
    for (const auto &d : load.diagnostics) {
        errors += d.severity == Diagnostic::Severity::Error;
        std::cerr << policy_file << ": " << d.str() << "\n";
    }
    if (errors || !load.policy) {
        std::cerr << "imagegate policy impact: " << policy_file << " has " << errors
                  << (errors == 1 ? " error" : " errors") << " (imagegate policy lint "
                  << policy_file << "): nothing replayed\n";
        return 2;
    }

    auto log = select_log(query, now_ms());
    if (!log) {
        std::cerr << "imagegate policy impact: " << log.error() << "\n";
        return 2;
    }
    auto impact = replay_decision_log(log->files, log->since_ms, *load.policy, scan_threads());
    if (!impact) {
        std::cerr << "imagegate policy impact: " << impact.error() << "\n";
        return 2;
    }
    impact.value().since_text = query.since_text;
    if (query.json)
        std::cout << impact_json(*impact, *load.policy, policy_file);
    else
        std::cout << impact_table(*impact, *load.policy, policy_file, log->path, top);
    return impact->changed() ? 1 : 0;
}

} // namespace imagegate
