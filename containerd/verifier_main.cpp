// imagegate-containerd-verify: containerd's image verifier, exec'd once per pull
// (docs/containerd.md).
//
// Takes containerd's flags (those of `imagegate containerd-verify`) and decides from the
// compact policy in cacheDir (verifier_cache.hpp) when it matches. It links neither
// cpp-httplib nor libssl (libcrypto only, for trust rules' keys), whose loading and
// initialisation are about two thirds of an `imagegate` process start. A pull a trust rule
// covers goes to `imagegate containerd-verify`, which checks signatures (docs/trust.md). Anything
// else goes unchanged to `imagegate containerd-verify`: no compact form yet, flags it rejects, or
// --help. That includes the first pull after a policy change, which also stores the compact form.
// Standard input is not read before the hand-over.
#include "common/config.hpp"
#include "containerd/verifier_cache.hpp"
#include "containerd/verify.hpp"
#include "policy/reference.hpp"
#include "policy/trust.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#ifndef IMAGEGATE_INSTALLED_BINARY
#define IMAGEGATE_INSTALLED_BINARY "/usr/bin/imagegate"
#endif

namespace {

using namespace imagegate;

// The imagegate next to this executable (the build tree, or both in /usr/bin), else the
// installed one.
std::string imagegate_binary() {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string path(self, static_cast<std::size_t>(n));
        auto slash = path.rfind('/');
        if (slash != std::string::npos) {
            std::string sibling = path.substr(0, slash + 1) + "imagegate";
            if (::access(sibling.c_str(), X_OK) == 0)
                return sibling;
        }
    }
    return IMAGEGATE_INSTALLED_BINARY;
}

} // namespace

int main(int argc, char **argv) {
    Args args(argv + 1, argv + argc);
    std::string imagegate = imagegate_binary();

    auto parsed = parse_verify_args(args);
    if (parsed && !parsed->help) {
        if (auto config = resolve_config(parsed->config_flag, parsed->policy_flag)) {
            VerifierCacheKey key =
                verifier_cache_key(config.value(), std::chrono::system_clock::now(), imagegate);
            auto compact = read_verifier_cache(config.value(), key, parsed->name);
            // A pull a trust rule covers needs the signature check (docs/trust.md), which
            // only `imagegate containerd-verify` links: hand it over.
            if (compact && compact->policy && !compact->policy->trust.empty())
                if (auto ref = parse_reference(parsed->name);
                    !ref || trust_rule_for(compact->policy->trust, ref->match_name()))
                    compact.reset();
            if (compact) {
                auto active = std::make_shared<const ActivePolicy>(std::move(*compact));
                return run_verification(
                    args, [&](const Config &, std::string_view, std::vector<std::string> *) {
                        return Result<std::shared_ptr<const ActivePolicy>>(active);
                    });
            }
        }
    }

    std::vector<char *> handed{const_cast<char *>("imagegate"),
                               const_cast<char *>("containerd-verify")};
    for (int i = 1; i < argc; ++i)
        handed.push_back(argv[i]);
    handed.push_back(nullptr);
    ::execv(imagegate.c_str(), handed.data());
    std::string why = "cannot run " + imagegate + ": " + std::strerror(errno);
    std::cout << verdict_line("imagegate: pull denied: " + why) << std::endl;
    std::cerr << "imagegate-containerd-verify: " << why << "\n";
    return kVerifyNoPolicy;
}
