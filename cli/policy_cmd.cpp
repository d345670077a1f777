// `imagegate policy ...`: lint here; keys, bundles, sync and impact in their own files.
#include "cli/commands.hpp"
#include "cli/policy_bundle_cmd.hpp"
#include "common/args.hpp"
#include "distribution/policy_source.hpp"
#include "policy/policy.hpp"

#include <iostream>

namespace imagegate {

int run_policy_impact(const Args &args);

static const char *kPolicyUsage = R"(usage: imagegate policy COMMAND ...

  lint FILE                 check a policy: every error and warning with its JSON path; exit 0 ok, 1 errors
  default                   print the shipped default policy
  keygen --out DIR          make an Ed25519 key pair (DIR/imagegate.key, DIR/imagegate.pub)
  sign --key KEY POLICY.json --out BUNDLE
  verify --public-key PUB BUNDLE
  sync [--config FILE]      fetch the policy once into the cache
  impact NEW_POLICY [--config FILE] [--log FILE] [--since DURATION] [--json]
)";

static int run_lint(const Args &args) {
    if (args.size() == 1 && is_help(args[0])) {
        std::cout << "usage: imagegate policy lint FILE\n";
        return 0;
    }
    if (args.size() != 1 || args[0].starts_with("--")) {
        std::cerr << "usage: imagegate policy lint FILE\n";
        return 2;
    }
    auto text = read_file(args[0], kMaxPolicyFileBytes);
    if (!text) {
        std::cerr << "imagegate policy lint: " << text.error() << "\n";
        return 1;
    }
    PolicyLoad load = load_policy(text.value(), true);
    std::size_t errors = 0, warnings = 0;
    for (const auto &d : load.diagnostics) {
        (d.severity == Diagnostic::Severity::Error ? errors : warnings) += 1;
        std::cout << args[0] << ": " << d.str() << "\n";
    }
    if (errors == 0) {
        // Trust rules (docs/trust.md): the key ids the decision log will name.
        for (const TrustRule &rule : load.policy->trust) {
            std::cout << args[0] << ": trust rule " << rule.name << ":";
            for (const auto &key : rule.keys)
                std::cout << " " << key->id() << " (" << key->algorithm() << ")";
            std::cout << (rule.require_digest ? ", requireDigest" : "")
                      << (rule.mode == Mode::Audit ? ", audit" : "") << "\n";
        }
        std::cout << args[0] << ": ok (" << load.policy->organization << " policy "
                  << load.policy->serial << ", " << warnings << " warning"
                  << (warnings == 1 ? "" : "s") << ")\n";
        return 0;
    }
    std::cout << args[0] << ": " << errors << " error" << (errors == 1 ? "" : "s") << "\n";
    return 1;
}

int run_policy(const Args &args) {
    if (args.empty() || is_help(args[0])) {
        (args.empty() ? std::cerr : std::cout) << kPolicyUsage;
        return args.empty() ? 2 : 0;
    }
    Args rest(args.begin() + 1, args.end());
    const std::string &sub = args[0];
    if (sub == "lint")
        return run_lint(rest);
    if (sub == "default") {
        std::cout << default_policy_json();
        return 0;
    }
    if (sub == "keygen")
        return run_policy_keygen(rest);
    if (sub == "sign")
        return run_policy_sign(rest);
    if (sub == "verify")
        return run_policy_verify(rest);
    if (sub == "sync")
        return run_policy_sync(rest);
    if (sub == "impact")
        return run_policy_impact(rest);
    std::cerr << "imagegate policy: unknown command \"" << sub << "\"\n" << kPolicyUsage;
    return 2;
}

} // namespace imagegate
