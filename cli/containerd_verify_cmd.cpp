// `imagegate containerd-verify`: the verifier with the full policy load behind it.
#include "containerd/verifier_cache.hpp"
#include "containerd/verify.hpp"
#include "distribution/policy_source.hpp"
#include "trust/verifier.hpp"

namespace imagegate {

Result<std::shared_ptr<const ActivePolicy>>
load_verifier_policy(const Config &config, std::string_view reference,
                     std::vector<std::string> *warnings, bool *from_cache,
                     std::chrono::system_clock::time_point now) {
    if (from_cache)
        *from_cache = false;
    // The key first: a source that changes while it loads then never matches what is stored.
    VerifierCacheKey key = verifier_cache_key(config, now, "/proc/self/exe");
    if (auto compact = read_verifier_cache(config, key, reference)) {
        if (from_cache)
            *from_cache = true;
        return std::make_shared<const ActivePolicy>(std::move(*compact));
    }
    auto active = load_configured_policy(config, warnings);
    if (active)
        store_verifier_cache(config, key, *active.value());
    return active;
}

int run_containerd_verify(const Args &args) {
    return run_verification(
        args,
        [](const Config &config, std::string_view reference, std::vector<std::string> *warnings) {
            return load_verifier_policy(config, reference, warnings);
        },
        [](const TrustConfig &trust) -> SignatureCheck {
            // Made at the first check: a pull no trust rule covers reads no credentials file.
            auto verifier = std::make_shared<std::unique_ptr<SignatureVerifier>>();
            return [verifier, trust](const TrustCheck &check) {
                if (!*verifier)
                    *verifier = std::make_unique<SignatureVerifier>(trust);
                return (*verifier)->verify(check);
            };
        });
}

} // namespace imagegate
