// `imagegate policy keygen|sign|verify|sync`.
#include "cli/policy_bundle_cmd.hpp"
#include "common/files.hpp"

#include "common/config.hpp"
#include "distribution/bundle.hpp"
#include "distribution/policy_store.hpp"
#include "distribution/sync.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace imagegate {
namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

// --name VALUE / --name=VALUE options, bare flags, and positional arguments.
struct ParsedArgs {
    std::map<std::string, std::string> options;
    std::vector<std::string> positional;
    std::string error;
};

ParsedArgs parse_args(const Args &args, std::initializer_list<std::string_view> with_value) {
    ParsedArgs parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string &arg = args[i];
        if (!arg.starts_with("--") || arg == "-") {
            parsed.positional.push_back(arg);
            continue;
        }
        std::string name = arg.substr(2), value;
        std::size_t equals = name.find('=');
        bool has_value = equals != std::string::npos;
        if (has_value) {
            value = name.substr(equals + 1);
            name.resize(equals);
        }
        bool wants_value =
            std::find(with_value.begin(), with_value.end(), name) != with_value.end();
        if (!wants_value) {
            parsed.error = "unknown option " + arg;
            return parsed;
        }
        if (!has_value) {
            if (i + 1 >= args.size()) {
                parsed.error = "--" + name + " needs a value";
                return parsed;
            }
            value = args[++i];
        }
        parsed.options[name] = value;
    }
    return parsed;
}

int usage(std::string_view command, std::string_view message, std::string_view synopsis) {
    std::cerr << "imagegate policy " << command << ": " << message << "\nusage: imagegate policy "
              << command << " " << synopsis << "\n";
    return kExitUsage;
}

// Creates PATH with MODE and writes BYTES; `exclusive` refuses to replace an existing file.
std::optional<std::string> write_new_file(const std::string &path, std::string_view bytes,
                                          mode_t mode, bool exclusive) {
    AtomicWrite how;
    how.mode = mode;
    how.exclusive = exclusive;
    if (auto written = write_file_atomically(path, bytes, how); !written)
        return written.error();
    return std::nullopt;
}

} // namespace

int run_policy_keygen(const Args &args) {
    constexpr std::string_view synopsis = "--out DIR";
    ParsedArgs parsed = parse_args(args, {"out"});
    if (!parsed.error.empty())
        return usage("keygen", parsed.error, synopsis);
    if (!parsed.positional.empty())
        return usage("keygen", "unexpected argument " + parsed.positional[0], synopsis);
    if (!parsed.options.contains("out"))
        return usage("keygen", "--out DIR is required", synopsis);
    std::string dir = parsed.options["out"];
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        std::cerr << "imagegate policy keygen: cannot create " << dir << ": "
                  << std::strerror(errno) << "\n";
        return kExitRefused;
    }
    auto key = SigningKey::generate();
    if (!key) {
        std::cerr << "imagegate policy keygen: " << key.error() << "\n";
        return kExitRefused;
    }
    std::string private_path = dir + "/imagegate.key";
    std::string public_path = dir + "/imagegate.pub";
    if (auto problem = write_new_file(private_path, key->private_pem(), 0600, true)) {
        std::cerr << "imagegate policy keygen: " << *problem
                  << " (not replaced: remove it first)\n";
        return kExitRefused;
    }
    if (auto problem = write_new_file(public_path, key->public_pem(), 0644, true)) {
        ::unlink(private_path.c_str());
        std::cerr << "imagegate policy keygen: " << *problem
                  << " (not replaced: remove it first)\n";
        return kExitRefused;
    }
    std::cout << "private key " << private_path << " (keep it off the hosts)\n"
              << "public key  " << public_path << " (publicKey on every host)\n"
              << "key id      " << key->key_id() << "\n";
    return 0;
}

int run_policy_sign(const Args &args) {
    constexpr std::string_view synopsis = "--key KEY POLICY.json --out BUNDLE";
    ParsedArgs parsed = parse_args(args, {"key", "out"});
    if (!parsed.error.empty())
        return usage("sign", parsed.error, synopsis);
    if (parsed.positional.size() != 1)
        return usage("sign", "one POLICY.json is needed", synopsis);
    if (!parsed.options.contains("key"))
        return usage("sign", "--key KEY is required", synopsis);
    if (!parsed.options.contains("out"))
        return usage("sign", "--out BUNDLE is required", synopsis);
    const std::string &policy_path = parsed.positional[0];
    const std::string &out = parsed.options["out"];

    auto key = SigningKey::load_private(parsed.options["key"]);
    if (!key) {
        std::cerr << "imagegate policy sign: " << key.error() << "\n";
        return kExitRefused;
    }
    auto policy_text = read_file(policy_path, kMaxPolicyBytes);
    if (!policy_text) {
        std::cerr << "imagegate policy sign: " << policy_text.error() << "\n";
        return kExitRefused;
    }
    // The same check as `policy lint`: what every host will enforce must be clean.
    PolicyLoad load = load_policy(policy_text.value(), true);
    for (const Diagnostic &d : load.diagnostics)
        std::cerr << policy_path << ": " << d.str() << "\n";
    if (load.has_errors() || !load.policy) {
        std::cerr << "imagegate policy sign: " << policy_path
                  << " has errors (see above): not signed\n";
        return kExitRefused;
    }
    std::string bundle = sign_bundle(policy_text.value(), key.value());
    if (bundle.size() > kMaxBundleBytes) {
        std::cerr << "imagegate policy sign: the bundle would be " << bundle.size()
                  << " bytes; hosts accept at most " << kMaxBundleBytes << "\n";
        return kExitRefused;
    }
    if (out == "-") {
        std::cout << bundle;
    } else if (auto problem = write_new_file(out, bundle, 0644, false)) {
        std::cerr << "imagegate policy sign: " << *problem << "\n";
        return kExitRefused;
    }
    std::cerr << "signed " << load.policy->organization << " policy serial " << load.policy->serial
              << " with key " << key->key_id() << (out == "-" ? std::string() : " into " + out)
              << "\n";
    return 0;
}

int run_policy_verify(const Args &args) {
    constexpr std::string_view synopsis = "--public-key PUB BUNDLE";
    ParsedArgs parsed = parse_args(args, {"public-key"});
    if (!parsed.error.empty())
        return usage("verify", parsed.error, synopsis);
    if (parsed.positional.size() != 1)
        return usage("verify", "one BUNDLE is needed", synopsis);
    if (!parsed.options.contains("public-key"))
        return usage("verify", "--public-key PUB is required", synopsis);
    const std::string &path = parsed.positional[0];

    auto key = SigningKey::load_public(parsed.options["public-key"]);
    if (!key) {
        std::cerr << "imagegate policy verify: " << key.error() << "\n";
        return kExitRefused;
    }
    auto bytes = read_file(path, kMaxBundleBytes);
    if (!bytes) {
        std::cerr << "imagegate policy verify: " << path << ": NOT VALID: " << bytes.error()
                  << "\n";
        return kExitRefused;
    }
    auto accepted = accept_bundle(bytes.value(), key.value(), {});
    if (!accepted) {
        std::cerr << "imagegate policy verify: " << path << ": NOT VALID: " << accepted.error()
                  << "\n";
        return kExitRefused;
    }
    for (const Diagnostic &d : accepted->warnings)
        std::cerr << path << ": " << d.str() << "\n";
    std::cout << path << ": valid\n"
              << "organization " << accepted->policy->organization << "\n"
              << "serial       " << accepted->policy->serial << "\n"
              << "key id       " << accepted->key_id << "\n";
    return 0;
}

int run_policy_sync(const Args &args) {
    constexpr std::string_view synopsis = "[--config FILE]";
    ParsedArgs parsed = parse_args(args, {"config"});
    if (!parsed.error.empty())
        return usage("sync", parsed.error, synopsis);
    if (!parsed.positional.empty())
        return usage("sync", "unexpected argument " + parsed.positional[0], synopsis);
    auto config =
        resolve_config(parsed.options.contains("config") ? parsed.options["config"] : "", "");
    if (!config) {
        std::cerr << "imagegate policy sync: " << config.error() << "\n";
        return kExitUsage;
    }
    if (config->policy_url.empty()) {
        std::cerr << "imagegate policy sync: "
                  << (config->path.empty() ? std::string("the configuration") : config->path)
                  << " sets no policyUrl: nothing to fetch\n";
        return kExitUsage;
    }
    // Log lines (a refused bundle, an unusable cache) on stderr, for the timer's journal.
    auto logger = spdlog::stderr_logger_mt("imagegate-policy-sync");
    logger->set_pattern("imagegate policy sync: %l: %v");
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    PolicyStore store;
    PolicySync sync(config.value(), store);
    SyncOutcome outcome = sync.sync_once();
    auto active = store.current();
    if (outcome.ok && active) {
        std::cout << "imagegate policy sync: " << outcome.result << " ("
                  << active->policy->organization << " policy serial " << active->policy->serial
                  << " from " << config->policy_url << ", cached in " << config->cache_dir << ")\n";
        return 0;
    }
    std::cerr << "imagegate policy sync: refused: " << outcome.result << "\n";
    if (active) {
        std::cerr << "imagegate policy sync: the cached policy (" << active->policy->organization
                  << " serial " << active->policy->serial << ") stays in force\n";
    }
    return kExitRefused;
}

} // namespace imagegate
