// The signature check (docs/trust.md): reads REPO:sha256-HEX.sig (else the OCI 1.1 referrers of
// the digest) from the registry with imagegate's own credentials, within a time bound, verifies
// it (trust/cosign) and caches the verdict by repository, digest and key set.
#pragma once
#include "common/config.hpp"
#include "common/result.hpp"
#include "policy/trust.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace imagegate {

// registryCredentials: a docker config.json's "auths", REGISTRY → "Basic …" header value.
// The file must be owned by root and have no group or other permission bits.
Result<std::map<std::string, std::string>> load_registry_credentials(const std::string &path);

class SignatureVerifier {
  public:
    explicit SignatureVerifier(TrustConfig config);
    // Never throws; Unavailable when the signatures cannot be read (fail closed).
    TrustVerdict verify(const TrustCheck &check);

    // How long a verdict is kept: a verified one, a rejected one (an Unavailable one is not).
    static constexpr std::chrono::seconds kVerifiedTtl{600};
    static constexpr std::chrono::seconds kRejectedTtl{30};
    static constexpr std::size_t kMaxCachedVerdicts = 10000;

    std::uint64_t cache_hits() const { return hits_; }
    std::uint64_t cache_misses() const { return misses_; }

  private:
    TrustVerdict fetch_and_verify(const TrustCheck &check);
    std::string endpoint_for(const std::string &registry) const;

    TrustConfig config_;
    std::map<std::string, std::string> credentials_;
    std::string credentials_problem_;
    struct Cached {
        TrustVerdict verdict;
        std::chrono::steady_clock::time_point expires;
    };
    std::mutex mutex_;
    std::unordered_map<std::string, Cached> cache_;
    std::uint64_t hits_ = 0, misses_ = 0;
};

} // namespace imagegate
