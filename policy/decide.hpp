// The decision (docs/policy.md, docs/hardening.md): values in, a Decision out. No I/O, no clock.
#pragma once
#include "policy/action.hpp"
#include "policy/cause.hpp"
#include "policy/classify.hpp"
#include "policy/policy.hpp"
#include "policy/reference.hpp"
#include "policy/trust.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace imagegate {

struct ImageDecision {
    Action action = Action::Other;
    bool tag_target = false; // the target of image.tag (checked as a push)
    std::string reference;   // as given
    std::string normalized;  // "docker.io/library/alpine:latest", or the input when invalid
    std::string registry;    // "docker.io", empty when invalid
    Category category = Category::None;
    bool allow = false;
    Cause cause = Cause::None; // Image or Registry when denied
    std::string reason;        // why, in words; empty when allowed for no particular reason
    std::string message;       // the one line a user sees on deny
    // Trust (docs/trust.md): the rule that covered the image, the key whose signature verified
    // and the digest it was checked at. trust_audit: a rule in audit mode would deny it (allow
    // stays true), for the reason in trust_denial.
    std::string trust_rule, key_id, digest;
    bool trust_audit = false;
    std::string trust_denial;
};

struct Decision {
    bool allow = false;         // what dockerd is told (audit mode: always true)
    bool policy_denied = false; // what the policy decided (audit mode logs it as a would-be denial)
    Action action = Action::Other;
    std::string message;       // the deny line, "imagegate: ..."
    Cause cause = Cause::None; // why the policy denied (None when it did not)
    std::vector<ImageDecision> images;
};

// What dockerd says about a local image named by ID (or by a string that may be an ID prefix).
struct ImageLookup {
    enum class State {
        Found,
        NotFound,
        Unknown
    } state = State::Unknown;       // Unknown: dockerd not asked/answering
    std::vector<std::string> names; // RepoTags and RepoDigests when Found
};

// What dockerd says about an existing container (GET /containers/{id}/json).
struct ContainerLookup {
    enum class State {
        Found,
        NotFound,
        Unknown
    } state = State::Unknown;   // Unknown: dockerd not asked/answering
    ContainerSettings settings; // its HostConfig and Config.User when Found
};

using VolumeDevices = std::map<std::string, std::string, std::less<>>;

// Facts about the host that the decision needs and that plugin/ learns from dockerd.
struct HostFacts {
    std::optional<bool> userns_remapped; // from GET /info; nullopt: unknown
    // Names (RepoTags/RepoDigests) of the local image dockerd resolves a name or ID to.
    std::function<ImageLookup(std::string_view id)> image_names;
    // The image's configured user ("" = root); nullopt: unknown.
    std::function<std::optional<std::string>(std::string_view image)> image_user;
    // The host path a symlink resolves to, or nullopt when it does not exist.
    std::function<std::optional<std::string>(std::string_view path)> resolve_path;
    // The bind devices (the local driver's "device" option) of the named volumes asked about,
    // by name; a volume that does not exist or binds nothing is absent. nullopt: dockerd did
    // not answer. One call per request, whatever the number of volumes.
    std::function<std::optional<VolumeDevices>(const std::vector<std::string> &volumes)>
        volume_devices;
    // Which of these network names, IDs or ID prefixes may name a host-driver network (dockerd
    // and swarm resolve an exact ID, an exact name, then a unique ID prefix; any of the three
    // counts). nullopt: dockerd did not answer.
    std::function<std::optional<std::vector<std::string>>(const std::vector<std::string> &networks)>
        host_networks;
    // An existing container's settings: what --volumes-from and container:X lend, what exec,
    // attach and docker cp enter.
    std::function<ContainerLookup(std::string_view container)> container;
    // Whether a digest carries a signature a trust rule accepts (trust/verifier). Absent: the
    // check cannot be made here, and a rule that needs it denies.
    std::function<TrustVerdict(const TrustCheck &check)> verify_signature;
};

struct DecisionContext {
    const Policy *policy = nullptr;           // null: no valid policy was ever loaded
    std::string policy_problem;               // non-empty: deny image actions with this (stale ...)
    std::vector<std::string> protected_paths; // sockets, config, cache, log paths + policy's own
    std::string plugin_names_self = "imagegate"; // imagegate's own plugin name(s), comma separated
    std::string
        own_lookup_token; // X-Imagegate-Lookup of imagegate's own GETs to dockerd (empty: none)
    HostFacts facts;
};

// One image under one action, for `check`, containerd-verify, `policy impact` and serve.
// ROLES: Skip for the registry gateway (docs/gateway.md), where no request names a user: roles
// and grants are not checked, only what holds for everyone (registries, categories,
// allowlists, namespace access).
enum class Roles { Check, Skip };
ImageDecision decide_image(Action action, std::string_view reference, std::string_view user,
                           const Policy &policy, bool tag_target = false,
                           Roles roles_check = Roles::Check);

// The one way a request is denied: the message a user sees and its cause, together. In audit
// mode dockerd is still told to allow (the policy's denial is logged as a would-be denial).
Decision deny_decision(Decision decision, Cause cause, std::string message, const Policy *policy);

// requireDigest (docs/trust.md): the rule that refuses REF for naming a tag, or null.
const TrustRule *digest_required(const Reference &ref, const Policy &policy);

// A whole AuthZ request.
Decision decide_request(const AuthzRequest &request, const DecisionContext &context);

} // namespace imagegate
