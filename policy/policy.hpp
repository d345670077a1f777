// The organization policy (docs/policy.md): parsed once into an immutable, prepared value.
#pragma once
#include "common/result.hpp"
#include "policy/paths.hpp"
#include "policy/trust_key.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace imagegate {

inline constexpr std::size_t kMaxPolicyBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxJsonDepth = 64;

// Hash sets and maps looked up with a string_view, without building a std::string per request.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

enum class Mode { Enforce, Audit };
enum class Setting { Allowed, Restricted };
enum class Role { Reader = 0, Writer = 1, Manager = 2 };
inline constexpr std::size_t kRoleCount = 3;
std::string_view role_name(Role role);
// "cap_sys_admin" → "SYS_ADMIN", as dockerd normalises --cap-add.
std::string canonical_capability(std::string_view cap);

// A set of resources a role is granted on: `*`, exact names and `REGISTRY/PATH/*` prefixes.
// Matching costs a few hash lookups whatever the number of patterns.
struct ResourceSet {
    bool everything = false;
    StringSet exact;    // "docker.io/acme/app"
    StringSet prefixes; // "docker.io/acme" for "docker.io/acme/*"
    bool matches(std::string_view name) const;
    void add(const ResourceSet &other);
    bool empty() const { return !everything && exact.empty() && prefixes.empty(); }
};

// The resource patterns of all of a policy's grants, each stored and numbered once at load.
struct PatternTable {
    StringMap<std::uint32_t> exact;    // "docker.io/acme/app" → number
    StringMap<std::uint32_t> prefixes; // "docker.io/acme" (for "docker.io/acme/*") → number
    std::vector<const std::string *> exact_names, prefix_names; // by number
    std::uint32_t exact_id(std::string_view name);
    std::uint32_t prefix_id(std::string_view name);
};

// What one role is granted on: everything, or patterns by their numbers in a PatternTable
// (sorted, unique). Thousands of subjects sharing access policies cost integers, not copies
// of the patterns.
struct RoleGrant {
    bool everything = false;
    std::vector<std::uint32_t> exact, prefixes;
    bool empty() const { return !everything && exact.empty() && prefixes.empty(); }
    void add(const RoleGrant &other);
    void normalize(); // sort and deduplicate after adds
};

struct Grants {
    std::shared_ptr<const PatternTable> patterns; // null: only `everything` grants
    std::array<RoleGrant, kRoleCount> by_role;
    bool any_role_on_everything(Role role) const {
        return by_role[static_cast<int>(role)].everything;
    }
    bool has_role(Role role) const { return !by_role[static_cast<int>(role)].empty(); }
    // Whether any of `roles` is granted on `name`: the name and each of its prefixes are
    // looked up once, then a binary search per role; whatever the number of patterns.
    bool matches(const Role *roles, std::size_t count, std::string_view name) const;
    // A role's grants written out as patterns (for the containerd verifier's cache).
    ResourceSet resources(Role role) const;
    // Grants from patterns (the containerd verifier's cache, tests).
    static Grants from(const std::array<ResourceSet, kRoleCount> &sets);
};

struct Hardening {
    std::vector<std::string> protected_paths; // hardening.protectedPaths, normalised
    PathIndex protected_index;                // the same, prepared (built at load)
    Setting privileged = Setting::Restricted;
    Setting host_namespaces = Setting::Restricted;
    Setting host_network = Setting::Restricted; // defaults to hostNamespaces
    Setting cap_add = Setting::Restricted;
    // Upper case, no CAP_ prefix. Re-adding one of Docker's default capabilities gains nothing.
    StringSet allowed_capabilities{
        "CHOWN",   "DAC_OVERRIDE", "FSETID",           "FOWNER",    "MKNOD",
        "NET_RAW", "SETGID",       "SETUID",           "SETFCAP",   "SETPCAP",
        "KILL",    "AUDIT_WRITE",  "NET_BIND_SERVICE", "SYS_CHROOT"};
    Setting devices = Setting::Restricted;
    Setting security_options = Setting::Restricted; // seccomp/apparmor/label/systempaths unconfined
    Setting sysctls = Setting::Restricted;          // non-namespaced sysctls
    Setting image_import = Setting::Allowed;
    Setting image_build = Setting::Allowed;
    bool user_namespaces_required = false;
    bool root_in_container_restricted = false;
};

// A `trust` rule (docs/trust.md): images of these repositories run only with a cosign signature
// by one of these keys. Matching and the check itself: policy/trust.hpp, trust/.
struct TrustRule {
    std::string name;         // the rule's "name", else its JSON path "$.trust[N]"
    ResourceSet repositories; // patterns as in grants, matched against REGISTRY/PATH
    std::vector<std::shared_ptr<const PublicKey>> keys;
    std::optional<Mode> mode; // absent: the policy's mode
    bool require_digest = false;
    std::string key_set; // the keys' ids, sorted and joined: part of the verdict cache key
    Mode effective_mode(Mode policy_mode) const { return mode.value_or(policy_mode); }
};

struct Policy {
    std::string organization;
    std::int64_t serial = 0;
    Mode mode = Mode::Enforce;

    bool image_access_enabled = false;
    StringSet organization_namespaces;
    Setting docker_official = Setting::Allowed;
    Setting verified_publisher = Setting::Allowed;
    Setting sponsored_open_source = Setting::Restricted;
    StringSet verified_publisher_namespaces;
    StringSet sponsored_open_source_namespaces;
    ResourceSet repository_allowlist;
    StringSet repository_allowlist_pinned; // "docker.io/acme/app@sha256:…": that digest only

    bool namespace_access_enabled = false;

    bool registry_access_enabled = false;
    StringSet allowed_registries; // canonical (lower case, docker.io)

    StringMap<std::vector<std::string>> teams;
    StringSet owners; // members of team "owners"
    StringSet service_ids;

    // Prepared at load: every subject's grants, resolved once (teams and groups expanded).
    StringMap<Grants> grants_by_user;
    Grants default_grants; // requests with no authenticated user
    bool require_sign_in = false;

    Hardening hardening;

    std::vector<TrustRule> trust; // docs/trust.md
    std::string trust_source; // the `trust` array as JSON text (the containerd verifier's cache)

    std::string source_text; // the exact bytes it was parsed from (for `status`, impact replays)

    const Grants *grants_for(std::string_view user) const;
};

// The fields of Policy that a pull decision reads (decide_image) besides the organization,
// serial, mode, owners and grants, with their names in the containerd verifier's compact
// policy, which is written and read from these lists alone (containerd/verifier_cache.cpp). A
// field a pull decision reads goes in one of them; tests/containerd/verifier_cache_test.cpp
// checks every listed field survives the round trip, and the size check below makes a new
// Policy field a compile error until it is placed (here, or as not read by pulls).
struct PolicyFlagField {
    std::string_view name;
    bool Policy::*member;
};
struct PolicySettingField {
    std::string_view name;
    Setting Policy::*member;
};
enum class SliceBy { Namespace, Registry }; // what a verifier keeps of a set for one reference
struct PolicySetField {
    std::string_view name;
    StringSet Policy::*member;
    SliceBy slice;
};
inline constexpr PolicyFlagField kPullFlags[] = {
    {"requireSignIn", &Policy::require_sign_in},
    {"imageAccess", &Policy::image_access_enabled},
    {"namespaceAccess", &Policy::namespace_access_enabled},
    {"registryAccess", &Policy::registry_access_enabled},
};
inline constexpr PolicySettingField kPullSettings[] = {
    {"dockerOfficial", &Policy::docker_official},
    {"verifiedPublisher", &Policy::verified_publisher},
    {"sponsoredOpenSource", &Policy::sponsored_open_source},
};
inline constexpr PolicySetField kPullSets[] = {
    {"orgNamespaces", &Policy::organization_namespaces, SliceBy::Namespace},
    {"verifiedNamespaces", &Policy::verified_publisher_namespaces, SliceBy::Namespace},
    {"sponsoredNamespaces", &Policy::sponsored_open_source_namespaces, SliceBy::Namespace},
    {"registries", &Policy::allowed_registries, SliceBy::Registry},
};
// Also carried, by hand: organization, serial, mode, the owners flag, the user's grants,
// repositoryAllowlist (a ResourceSet) with its pinned entries, and the trust rules (as their
// JSON, trust_source, read again by load_trust_rules). Not read by pulls: teams, service IDs,
// hardening, source_text, other users' grants.

struct Diagnostic {
    enum class Severity { Error, Warning } severity;
    std::string path; // JSON path, "$.accessPolicies[2].roles[0]"
    std::string message;
    std::string str() const;
};

struct PolicyLoad {
    std::shared_ptr<const Policy> policy; // null when there is any error
    std::vector<Diagnostic> diagnostics;  // every error and warning, in document order
    bool has_errors() const;
};

// Parses, validates and prepares a policy. Never throws on bad input.
// Unknown keys are errors when `strict` (policy lint) and warnings otherwise (load,
// docs/policy.md).
PolicyLoad load_policy(std::string_view json_text, bool strict);

// The shipped default policy (docs/policy.md): Image Access Management on with Docker Official and
// Verified Publisher images allowed, Registry Access Management off, defaultRoles Manager,
// hardening on.
std::string_view default_policy_json();

// The trust rules of a `trust` array given as JSON text (Policy::trust_source), read exactly as
// load_policy reads them.
Result<std::vector<TrustRule>> load_trust_rules(std::string_view trust_json);

} // namespace imagegate
