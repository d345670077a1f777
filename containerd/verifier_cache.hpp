// The compact, pre-validated policy that `containerd-verify` reads (docs/containerd.md, issue 10).
//
// containerd starts one verifier process per pull, and loading a 10,000-namespace policy
// (parse, validate, expand every subject's grants) costs far more than the ≤ 5 ms a verifier
// may take. So the first verifier after a policy change loads it fully, keeps only what a
// pull decision for the configured containerdUser reads (policy_for_user), and writes that to
// `cacheDir/containerd-verify.cache`; later ones (imagegate-containerd-verify, which loads none
// of the libraries a full load needs) read it back while the files it came from are
// unchanged. Like ccache's direct mode, "unchanged" means the same path, inode, size, mtime
// and ctime, and nothing is stored from a file changed in the last seconds, which the
// filesystem's timestamp granularity could not tell apart from a later change.
#pragma once
#include "common/config.hpp"
#include "common/result.hpp"
#include "policy/active_policy.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

inline constexpr const char *kVerifierCacheFile = "containerd-verify.cache";
inline constexpr std::size_t kMaxVerifierCacheBytes = 64 * 1024 * 1024;
// A source file changed more recently than this is not cached (timestamp granularity).
inline constexpr std::chrono::seconds kVerifierCacheSettle{2};

// The part of `policy` that decide_image(Action::Pull, REF, user, ...) and the verifier read:
// everything but other subjects' grants, teams, service IDs and hardening.
std::shared_ptr<const Policy> policy_for_user(const Policy &policy, std::string_view user);

// The compact form as text ("" when a member is not storable), and back. `key` says which
// sources it was made from; parsing fails unless the text is complete and carries the same key.
// With `only_for`, parsing keeps only the entries a decision on that one reference can look up (its
// namespace, registry, and the resources that match its name): one verifier decides one pull, and
// building hash sets of every namespace would cost it more than the rest of its work.
std::string serialize_verifier_policy(const ActivePolicy &active, std::string_view user,
                                      std::string_view key);
Result<ActivePolicy> parse_verifier_policy(std::string_view text, std::string_view user,
                                           std::string_view key,
                                           std::optional<std::string_view> only_for = std::nullopt);

struct VerifierCacheKey {
    std::string key; // empty: this configuration is not cached (--policy, no configuration file)
    bool storable = false; // false while a source changed in the last kVerifierCacheSettle
};

// The identity of everything the loaded policy depends on: the configuration's policy
// settings and containerdUser, the policy file (or the cached bundle, its sync state and the
// public key), and the imagegate executable (`imagegate_binary`) that stores it.
VerifierCacheKey verifier_cache_key(const Config &config, std::chrono::system_clock::time_point now,
                                    const std::string &imagegate_binary);

// The compact form in cacheDir, sliced for `reference`, if one is there for this key and
// trusted (owned by this user, writable by nobody else, in a directory alike).
std::optional<ActivePolicy> read_verifier_cache(const Config &config, const VerifierCacheKey &key,
                                                std::string_view reference);

// Writes the compact form of `full` for the next verifier, when the key allows it (failing
// to only costs the next verifier time).
void store_verifier_cache(const Config &config, const VerifierCacheKey &key,
                          const ActivePolicy &full);

} // namespace imagegate
