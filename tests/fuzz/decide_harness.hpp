// What fuzz_authz_request and fuzz_decide do with a decoded AuthZ request: decide it under
// several policies and host facts, and check the properties every decision must have.
#pragma once
#include "fuzz_support.hpp"
#include "policy/decide.hpp"
#include "policy/policy.hpp"

#include <memory>

namespace imagegate::fuzz {

// The example policy (acme, serial 42), made stricter so that more branches run: roles for named
// users, root in containers and user namespaces restricted.
inline constexpr std::string_view kStrictPolicy = R"({
  "organization": "acme", "serial": 42, "mode": "enforce",
  "imageAccess": { "enabled": true, "organizationNamespaces": ["acme", "acme-ci"],
    "verifiedPublisherNamespaces": ["bitnami"], "sponsoredOpenSourceNamespaces": ["curlimages"],
    "repositoryAllowlist": ["docker.io/someone/approved-tool", "docker.io/trusted/*"] },
  "namespaceAccess": { "enabled": true },
  "registryAccess": { "enabled": true, "allowedRegistries": ["docker.io", "ghcr.io", "localhost:5000"] },
  "teams": { "owners": ["alice"], "developers": ["bob"] },
  "serviceIds": ["ci"],
  "resourceGroups": { "internal": ["localhost:5000/acme/*", "ghcr.io/acme/app"] },
  "accessPolicies": [
    { "subjects": ["team:developers"], "roles": ["Reader"], "resources": ["*"] },
    { "subjects": ["serviceId:ci"], "roles": ["Writer"], "resources": ["group:internal", "docker.io/acme/*"] },
    { "subjects": ["team:owners"], "roles": ["Manager"], "resources": ["*"] }
  ],
  "defaultRoles": ["Reader"],
  "hardening": { "protectedPaths": ["/etc/imagegate", "/srv/secret"], "imageImport": "restricted",
    "imageBuild": "restricted", "userNamespaces": "required", "rootInContainer": "restricted" }
})";

inline std::shared_ptr<const Policy> must_load(std::string_view text) {
    auto load = load_policy(text, false);
    if (!load.policy) {
        for (const auto &d : load.diagnostics)
            std::fprintf(stderr, "%s\n", d.str().c_str());
        std::abort();
    }
    return load.policy;
}

inline std::shared_ptr<const Policy> audit_copy(const Policy &p) {
    auto copy = std::make_shared<Policy>(p);
    copy->mode = Mode::Audit;
    return copy;
}

inline void check_decision(const Decision &d, const Policy *policy, const std::string &what) {
    bool audit = policy && policy->mode == Mode::Audit;
    if (audit)
        FUZZ_PROPERTY(d.allow, what);
    else
        FUZZ_PROPERTY(d.allow == !d.policy_denied, what);
    if (d.policy_denied)
        FUZZ_PROPERTY(d.message.starts_with("imagegate: "), what + "\n  " + d.message);
    for (const auto &image : d.images)
        if (!image.allow)
            FUZZ_PROPERTY(!image.message.empty(), what + " image " + image.reference);
    // An allowed request allowed each of its images.
    if (!d.policy_denied)
        for (const auto &image : d.images)
            FUZZ_PROPERTY(image.allow, what + " image " + image.reference);
}

// Decides `request` with no policy, the shipped default, the strict policy (enforce and audit),
// with and without host facts.
inline void decide_everywhere(const AuthzRequest &request, const std::string &what) {
    static const auto default_policy = must_load(default_policy_json());
    static const auto strict = must_load(kStrictPolicy);
    static const auto strict_audit = audit_copy(*strict);

    DecisionContext bare;
    bare.protected_paths = {"/var/run/docker.sock", "/run/docker.sock",
                            "/run/docker/plugins/imagegate.sock", "/etc/imagegate",
                            "/var/lib/imagegate"};
    // No policy ever loaded: image actions, container settings and plugin changes are denied.
    {
        Decision d = decide_request(request, bare);
        check_decision(d, nullptr, what + " [no policy]");
        if (d.allow)
            FUZZ_PROPERTY(d.action == Action::Other, what + " [no policy]");
    }
    DecisionContext facts = bare;
    facts.facts.userns_remapped = request.uri.size() % 2 == 0;
    facts.facts.image_names = [](std::string_view id) {
        ImageLookup lookup;
        switch (id.size() % 4) {
        case 0:
            lookup.state = ImageLookup::State::Unknown;
            break;
        case 1:
            lookup.state = ImageLookup::State::NotFound;
            break;
        case 2:
            lookup.state = ImageLookup::State::Found;
            break; // a local image with no name
        default:
            lookup.state = ImageLookup::State::Found;
            lookup.names = {"someone/tool:latest", "alpine:3", "bad name"};
        }
        return lookup;
    };
    facts.facts.image_user = [](std::string_view image) -> std::optional<std::string> {
        if (image.empty())
            return std::nullopt;
        return image.size() % 2 ? std::string("0:0") : std::string("nobody");
    };
    facts.facts.resolve_path = [](std::string_view path) -> std::optional<std::string> {
        if (path.starts_with("/tmp/link"))
            return "/etc" + std::string(path.substr(9));
        return std::nullopt;
    };
    facts.facts.volume_devices =
        [](const std::vector<std::string> &volumes) -> std::optional<VolumeDevices> {
        VolumeDevices found;
        for (const auto &v : volumes) {
            if (v.starts_with("down"))
                return std::nullopt;
            if (v.starts_with("bind"))
                found.emplace(v, "/etc/imagegate");
        }
        return found;
    };
    for (const DecisionContext *base : {&bare, &facts}) {
        for (const Policy *policy : {default_policy.get(), strict.get(), strict_audit.get()}) {
            DecisionContext ctx = *base;
            ctx.policy = policy;
            check_decision(decide_request(request, ctx), policy,
                           what + " [" + policy->organization + "]");
            ctx.policy_problem = "the cached policy is stale";
            Decision stale = decide_request(request, ctx);
            check_decision(stale, policy, what + " [stale]");
            // A stale policy decides no image action.
            if (!stale.policy_denied && stale.action != Action::Other)
                FUZZ_PROPERTY(false,
                              what + " [stale] allowed " + std::string(action_name(stale.action)));
        }
    }
}

} // namespace imagegate::fuzz
