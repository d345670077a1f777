// `imagegate check`: the decision of `serve`, without dockerd (README).
#include "cli/commands.hpp"
#include "common/args.hpp"
#include "common/config.hpp"
#include "distribution/policy_source.hpp"
#include "policy/decide.hpp"
#include "policy/reference.hpp"
#include "server/authz_service.hpp"

#include <iostream>

namespace imagegate {

static const char *kCheckUsage =
    R"(usage: imagegate check [--config FILE | --policy FILE] [--user NAME] [--action ACTION] REF...

Prints, for each image reference, the decision imagegate would take:
  allow|deny  REFERENCE  CATEGORY  REASON
with the reference normalised. Without --user, decides as for the local socket (no user).
ACTION is one of pull (default), run, push, tag, delete, inspect, list, import, build,
with or without the "image." prefix.
Exit status: 0 all allowed, 1 any denied, 2 bad usage or an unreadable policy.
)";

int run_check(const Args &args) {
    std::string config_flag, policy_flag, user, action_text = "image.pull";
    std::vector<std::string> refs;
    try {
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (is_help(args[i])) {
                std::cout << kCheckUsage;
                return 0;
            }
            if (auto v = take_option(args, i, "--config"))
                config_flag = *v;
            else if (auto v = take_option(args, i, "--policy"))
                policy_flag = *v;
            else if (auto v = take_option(args, i, "--user"))
                user = *v;
            else if (auto v = take_option(args, i, "--action"))
                action_text = *v;
            else if (args[i] == "--")
                refs.insert(refs.end(), args.begin() + static_cast<long>(i) + 1, args.end()),
                    i = args.size();
            else if (args[i].starts_with("--"))
                throw UsageError("unknown option " + args[i]);
            else
                refs.push_back(args[i]);
        }
    } catch (const UsageError &e) {
        std::cerr << "imagegate check: " << e.what() << "\n" << kCheckUsage;
        return 2;
    }
    auto action = parse_action(action_text);
    if (!action) {
        std::cerr << "imagegate check: unknown action \"" << action_text << "\"\n" << kCheckUsage;
        return 2;
    }
    if (refs.empty()) {
        std::cerr << "imagegate check: give at least one image reference\n" << kCheckUsage;
        return 2;
    }
    auto config = resolve_config(config_flag, policy_flag);
    if (!config) {
        std::cerr << "imagegate check: " << config.error() << "\n";
        return 2;
    }
    std::vector<std::string> warnings;
    auto active = load_configured_policy(config.value(), &warnings);
    for (const auto &w : warnings)
        std::cerr << "imagegate check: " << w << "\n";
    if (!active) {
        std::cerr << "imagegate check: " << active.error() << "\n";
        return 2;
    }
    const Policy &policy = *active.value()->policy;
    std::string problem =
        policy_problem(active.value().get(), config.value().max_age_seconds, Clock::now());
    bool any_denied = false;
    for (const auto &ref : refs) {
        ImageDecision d;
        if (!problem.empty()) {
            d = decide_image(*action, ref, user, policy);
            d.allow = false;
            d.reason = problem;
        } else if (policy.require_sign_in && user.empty()) {
            d = decide_image(*action, ref, user, policy);
            d.allow = false;
            d.reason =
                policy.organization + "'s policy requires signing in: the local socket has no user";
        } else {
            d = decide_image(*action, ref, user, policy);
        }
        // Trust rules (docs/trust.md): a run by tag under requireDigest is refused; otherwise
        // the signature is checked by serve and containerd-verify, not here.
        std::string trust_note;
        if (auto parsed = parse_reference(ref); parsed && d.allow && *action == Action::Run)
            if (const TrustRule *rule = trust_rule_for(policy.trust, parsed->match_name())) {
                if (rule->require_digest && parsed->digest.empty()) {
                    d.allow = false;
                    d.reason = "trust rule " + rule->name + ": it requires a digest";
                } else {
                    trust_note = "; trust rule " + rule->name +
                                 ": it runs only with a cosign signature by one of its keys "
                                 "(checked by serve, not here)";
                }
            }
        any_denied = any_denied || !d.allow;
        std::cout << (d.allow ? "allow" : "deny") << "  " << d.normalized << "  "
                  << category_name(d.category) << "  " << (d.reason.empty() ? "-" : d.reason)
                  << trust_note << "\n";
    }
    return any_denied ? 1 : 0;
}

} // namespace imagegate
