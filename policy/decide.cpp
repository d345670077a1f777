#include "policy/decide.hpp"

#include "policy/paths.hpp"
#include "policy/reference.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <vector>

namespace imagegate {
namespace {

using Need = ImageUse::Need;

// One allocation for a message of many parts.
std::string concat(std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (auto part : parts)
        size += part.size();
    std::string out;
    out.reserve(size);
    for (auto part : parts)
        out += part;
    return out;
}

std::string policy_suffix(const Policy &p) {
    return "(" + p.organization + " policy " + std::to_string(p.serial) + ")";
}
std::string policy_serial(const Policy &p) {
    return "(policy " + std::to_string(p.serial) + ")";
}

// A policy serial as text, without a heap allocation.
struct SerialText {
    char digits[24];
    std::size_t size;
    explicit SerialText(long long serial) {
        size = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, serial).ptr -
                                        digits);
    }
    std::string_view view() const { return {digits, size}; }
};

std::string_view who_view(std::string_view user) {
    return user.empty() ? std::string_view("the local socket (no signed-in user)") : user;
}

std::string who(std::string_view user) {
    return std::string(who_view(user));
}

const Grants *grants_of(std::string_view user, const Policy &p) {
    return user.empty() ? &p.default_grants : p.grants_for(user);
}

Action action_of(Need need) {
    switch (need) {
    case Need::Pull:
        return Action::Pull;
    case Need::Run:
        return Action::Run;
    case Need::Push:
        return Action::Push;
    case Need::Delete:
        return Action::Delete;
    case Need::Inspect:
        return Action::Inspect;
    case Need::Import:
        return Action::Import;
    case Need::Build:
        return Action::Build;
    case Need::TagSource:
    case Need::TagTarget:
        return Action::Tag;
    }
    return Action::Other;
}

// A few roles, without a heap allocation per decision.
struct RoleList {
    std::array<Role, kRoleCount> items{};
    std::size_t count = 0;
    RoleList(std::initializer_list<Role> roles) {
        for (Role r : roles)
            items[count++] = r;
    }
    const Role *begin() const { return items.data(); }
    const Role *end() const { return items.data() + count; }
    std::size_t size() const { return count; }
    Role operator[](std::size_t i) const { return items[i]; }
};

// docs/policy.md's role table: which roles allow an action.
RoleList roles_for(Action action, bool tag_target) {
    switch (action) {
    case Action::Pull:
    case Action::Run:
        return {Role::Reader, Role::Writer, Role::Manager};
    case Action::Inspect:
    case Action::List:
        return {Role::Reader, Role::Manager};
    case Action::Tag:
        return tag_target ? RoleList{Role::Writer, Role::Manager}
                          : RoleList{Role::Reader, Role::Writer, Role::Manager};
    case Action::Push:
    case Action::Delete:
    case Action::Import:
    case Action::Build:
        return {Role::Writer, Role::Manager};
    case Action::Other:
        return {};
    }
    return {};
}

// "Reader, Writer or Manager": one of a few texts made once, or (roles out of order) made here.
// Only denials ask for it.
std::string role_list(const RoleList &roles) {
    static const auto texts = [] {
        std::array<std::string, 1u << kRoleCount> t;
        for (unsigned mask = 0; mask < t.size(); ++mask) {
            std::vector<Role> in;
            for (std::size_t r = 0; r < kRoleCount; ++r)
                if (mask & (1u << r))
                    in.push_back(static_cast<Role>(r));
            for (std::size_t i = 0; i < in.size(); ++i) {
                if (i)
                    t[mask] += i + 1 == in.size() ? " or " : ", ";
                t[mask] += role_name(in[i]);
            }
        }
        return t;
    }();
    unsigned mask = 0;
    bool ascending = true;
    for (std::size_t i = 0; i < roles.size(); ++i) {
        if (i && static_cast<std::size_t>(roles[i]) <= static_cast<std::size_t>(roles[i - 1]))
            ascending = false;
        mask |= 1u << static_cast<std::size_t>(roles[i]);
    }
    if (ascending)
        return texts[mask];
    std::string out;
    for (std::size_t i = 0; i < roles.size(); ++i) {
        if (i)
            out += i + 1 == roles.size() ? " or " : ", ";
        out += role_name(roles[i]);
    }
    return out;
}

bool has_role_on(const Grants *g, const RoleList &roles, std::string_view name) {
    if (!g)
        return false;
    return g->matches(roles.begin(), roles.size(), name);
}
bool has_role_anywhere(const Grants *g, const RoleList &roles) {
    if (!g)
        return false;
    return std::any_of(roles.begin(), roles.end(), [&](Role r) { return g->has_role(r); });
}

Category categorize(const Reference &ref, const Policy &p) {
    if (!ref.is_docker_hub())
        return Category::OtherRegistry;
    std::string_view ns = ref.first_component();
    if (p.organization_namespaces.find(ns) != p.organization_namespaces.end())
        return Category::Organization;
    if (ns == "library")
        return Category::DockerOfficial;
    if (p.verified_publisher_namespaces.find(ns) != p.verified_publisher_namespaces.end())
        return Category::VerifiedPublisher;
    if (p.sponsored_open_source_namespaces.find(ns) != p.sponsored_open_source_namespaces.end())
        return Category::SponsoredOpenSource;
    return Category::Community;
}

bool category_allowed(Category c, const Policy &p) {
    switch (c) {
    case Category::Organization:
        return true;
    case Category::DockerOfficial:
        return p.docker_official == Setting::Allowed;
    case Category::VerifiedPublisher:
        return p.verified_publisher == Setting::Allowed;
    case Category::SponsoredOpenSource:
        return p.sponsored_open_source == Setting::Allowed;
    case Category::Community:
        return false;
    default:
        return true;
    }
}

std::string_view verb_of(Action action, bool tag_target) {
    if (action == Action::Tag)
        return tag_target ? "tag to" : "tag of";
    return action_verb(action);
}

std::string deny_line(std::string_view what, std::string_view reason) {
    return "imagegate: " + std::string(what) + " denied: " + std::string(reason);
}

bool is_root_user(std::string_view user) {
    std::string_view uid = user.substr(0, user.find(':'));
    if (uid == "root")
        return true;
    // runc reads the uid with Go's strconv.Atoi, which takes a sign: "+0" and "-0" are root.
    if (uid.starts_with('+') || uid.starts_with('-'))
        uid.remove_prefix(1);
    if (uid.empty())
        return false;
    return std::all_of(uid.begin(), uid.end(), [](char c) { return c == '0'; });
}

} // namespace

// Image Access Management for one image that a pull, run or tag brings in: true with
// `d.reason` saying why it may come in, or false with the reason in `denial`.
static bool image_access(const Reference &ref, const std::string &name, Action action,
                         bool tag_target, std::string_view user, const Policy &policy,
                         ImageDecision &d, std::string &denial) {
    bool brings_image =
        action == Action::Pull || action == Action::Run || (action == Action::Tag && !tag_target);
    auto iam = [&] { return policy.organization + "'s Image Access Management"; };
    if (!brings_image) {
        d.reason = "granted by " + policy.organization + "'s access policies";
    } else if (!policy.image_access_enabled) {
        d.reason = "Image Access Management is off";
    } else if (!ref.is_docker_hub()) {
        d.reason = "Image Access Management applies to Docker Hub only";
    } else if (!user.empty() && policy.owners.contains(user)) {
        d.reason = "owners are not restricted by " + iam();
    } else if (policy.repository_allowlist.matches(name) ||
               (!ref.digest.empty() &&
                policy.repository_allowlist_pinned.contains(name + "@" + ref.digest))) {
        d.reason = "on " + iam() + "'s repository allowlist";
    } else if (!category_allowed(d.category, policy)) {
        denial =
            concat({category_title(d.category), " images are restricted by ", policy.organization,
                    "'s Image Access Management ", policy_serial(policy)});
        return false;
    } else if (d.category == Category::Organization) {
        d.reason = "an organization namespace of " + policy.organization;
    } else {
        d.reason = std::string(category_title(d.category)) + " images are allowed by " + iam();
    }

    return true;
}

const TrustRule *digest_required(const Reference &ref, const Policy &policy) {
    if (!ref.digest.empty() || policy.trust.empty())
        return nullptr;
    const TrustRule *rule = trust_rule_for(policy.trust, ref.match_name());
    return rule && rule->require_digest ? rule : nullptr;
}

ImageDecision decide_image(Action action, std::string_view reference, std::string_view user,
                           const Policy &policy, bool tag_target, Roles roles_check) {
    ImageDecision d;
    d.action = action;
    d.tag_target = tag_target;
    d.reference = std::string(reference);
    auto deny = [&](std::string reason, Cause cause = Cause::Image) {
        std::string_view verb = verb_of(action, tag_target);
        d.allow = false;
        d.cause = cause;
        d.message = concat({"imagegate: ", verb, action == Action::Tag ? " " : " of ", d.normalized,
                            " denied: ", reason});
        d.reason = std::move(reason);
        return d;
    };
    if (reference.starts_with("sha256:") && action != Action::Pull && action != Action::Build &&
        action != Action::Import) {
        // dockerd reads "sha256:..." as an image ID: only dockerd can say which image it is.
        d.normalized = std::string(reference);
        d.reason = "\"" + std::string(reference) +
                   "\" is an image ID: imagegate decides it against the names dockerd gives it";
        d.message =
            deny_line(std::string(verb_of(action, tag_target)) + " of " + d.normalized, d.reason);
        d.cause = Cause::Image;
        return d;
    }
    auto ref = parse_reference(reference);
    if (!ref) {
        d.normalized = std::string(reference);
        d.allow = false;
        d.reason = ref.error();
        d.cause = Cause::Image;
        d.message = deny_line(verb_of(action, tag_target), ref.error());
        return d;
    }
    d.normalized = ref->str();
    d.registry = ref->registry;
    d.category = categorize(*ref, policy);
    // registry_key/path, built once: what allowlists, registries and grants match against.
    std::string name = ref->registry_key();
    const std::size_t key_size = name.size();
    name += '/';
    name += ref->path;

    // Registry Access Management: whatever the category, whoever asks.
    if (policy.registry_access_enabled &&
        !policy.allowed_registries.contains(std::string_view(name).substr(0, key_size)))
        return deny("registry " + ref->registry + " is not allowed by " + policy.organization +
                        "'s Registry Access Management " + policy_serial(policy),
                    Cause::Registry);

    auto roles = roles_for(action, tag_target);
    if (roles_check == Roles::Check && !has_role_on(grants_of(user, policy), roles, name))
        return deny(
            concat({who_view(user), " has no ", role_list(roles), " grant on it (",
                    policy.organization, " policy ", SerialText(policy.serial).view(), ")"}));

    if (std::string denial; !image_access(*ref, name, action, tag_target, user, policy, d, denial))
        return deny(std::move(denial));

    if (action == Action::Pull)
        if (const TrustRule *rule = digest_required(*ref, policy)) {
            std::string why = "trust rule " + rule->name +
                              " requires a digest: pull REPOSITORY@sha256:… instead of a tag " +
                              policy_serial(policy);
            d.trust_rule = rule->name;
            if (rule->effective_mode(policy.mode) == Mode::Enforce)
                return deny(std::move(why), Cause::Trust);
            d.trust_audit = true;
            d.trust_denial = std::move(why);
        }

    bool publishes = action == Action::Push || (action == Action::Tag && tag_target);
    if (publishes && policy.namespace_access_enabled && ref->is_docker_hub() &&
        !policy.organization_namespaces.contains(ref->first_component()))
        return deny("docker.io/" + std::string(ref->first_component()) + " is not one of " +
                    policy.organization +
                    "'s namespaces: namespace access control forbids publishing to it " +
                    policy_serial(policy));

    d.allow = true;
    return d;
}

namespace {

// What check_container refuses: the reason in words and its cause (Hardening, or LookupFailed
// when dockerd could not answer what the check needed). An empty reason: nothing refused.
struct Problem {
    Cause cause = Cause::None;
    std::string reason;
    Problem() = default;
    Problem(std::string hardening) : cause(Cause::Hardening), reason(std::move(hardening)) {}
    Problem(Cause why, std::string text) : cause(why), reason(std::move(text)) {}
    bool empty() const { return reason.empty(); }
};

Problem lookup_failed(std::string reason) {
    return {Cause::LookupFailed, std::move(reason)};
}

Problem check_container(const ContainerSettings &s, const ClassifiedRequest &c,
                        const DecisionContext &ctx, const Policy &p, int depth = 0);

// --volumes-from X and --network/--pid/--ipc/--uts container:X take what X has: an agent that
// binds the Docker socket, or runs with --pid host, must not lend it to anyone. The settings
// with what the named containers lend, checked again as one.
Problem check_lent_settings(const ContainerSettings &s, const ClassifiedRequest &c,
                            const DecisionContext &ctx, const Policy &p, int depth,
                            const std::string &by) {
    const Hardening &h = p.hardening;
    auto look_up = [&](const std::string &name) -> std::optional<ContainerLookup> {
        if (!ctx.facts.container || depth > 4)
            return std::nullopt;
        ContainerLookup found = ctx.facts.container(name);
        if (found.state == ContainerLookup::State::Unknown)
            return std::nullopt;
        return found;
    };
    ContainerSettings merged = s;
    merged.volumes_from.clear();
    merged.joined_namespaces.clear();
    // Each container once: a name repeated (here or in what the containers lend) would
    // otherwise cost a lookup per repetition, N×N at the next level.
    StringSet looked_up, lent;
    for (const auto &from : s.volumes_from) {
        if (!looked_up.insert(from).second)
            continue;
        auto other = look_up(from);
        if (!other)
            return lookup_failed(
                "--volumes-from " + from +
                ": imagegate cannot look that container up, so it cannot check what it "
                "lends");
        for (auto m : other->settings.mounts) {
            m.described = "--volumes-from " + from + " (" + m.described + ")";
            merged.mounts.push_back(std::move(m));
        }
        for (const auto &v : other->settings.named_volumes)
            merged.named_volumes.push_back(v);
        for (const auto &v : other->settings.volumes_from)
            if (lent.insert(v).second)
                merged.volumes_from.push_back(v);
    }
    for (const auto &[kind, name] : s.joined_namespaces) {
        auto other = look_up(name);
        if (!other)
            return lookup_failed("the " + kind + " namespace of container " + name +
                                 ": imagegate cannot look that container up");
        const ContainerSettings &o = other->settings;
        bool host = kind == "network"
                        ? o.host_network
                        : std::find(o.host_namespaces.begin(), o.host_namespaces.end(), kind) !=
                              o.host_namespaces.end();
        bool restricted = kind == "network" ? h.host_network == Setting::Restricted
                                            : h.host_namespaces == Setting::Restricted;
        if (host && restricted)
            return "the host " + kind + " namespace (through container " + name + ")" + by;
        for (const auto &joined : o.joined_namespaces)
            if (joined.first == kind)
                merged.joined_namespaces.push_back(joined);
    }
    return check_container(merged, c, ctx, p, depth + 1);
}

// Whether a host path exposes a protected path (imagegate's own, then the policy's) or the host
// kernel's /proc, /sys and /dev, as given and as the host resolves it.
struct PathGuard {
    const DecisionContext &ctx;
    const Hardening &h;

    bool guarded(std::string_view path, std::string *which) const {
        return exposes_protected_path(path, ctx.protected_paths, which) ||
               h.protected_index.exposes(path, which);
    }
    bool exposes(const std::string &host_path, std::string *which) const {
        if (host_path.empty() || host_path.front() != '/')
            return false;
        if (guarded(host_path, which))
            return true;
        if (ctx.facts.resolve_path)
            if (auto real = ctx.facts.resolve_path(host_path))
                return guarded(*real, which);
        return false;
    }
    // The host's /proc, /sys and /dev are its kernel's: bound into a container, a writable
    // /proc/sys/kernel/core_pattern or cgroup v1 release_agent is host root.
    bool exposes_kernel(const std::string &host_path, std::string *which) const {
        static const std::vector<std::string> kernel_filesystems{"/proc", "/sys", "/dev"};
        if (h.devices != Setting::Restricted)
            return false;
        if (exposes_protected_path(host_path, kernel_filesystems, which))
            return true;
        if (ctx.facts.resolve_path)
            if (auto real = ctx.facts.resolve_path(host_path))
                return exposes_protected_path(*real, kernel_filesystems, which);
        return false;
    }
};

// Binds and named volumes: what of the host they put inside the container.
Problem check_mounts(const ContainerSettings &s, const DecisionContext &ctx, const Hardening &h,
                     const std::string &by) {
    PathGuard guard{ctx, h};
    for (const auto &m : s.mounts) {
        std::string which;
        if (m.host_path.empty() || m.host_path.front() != '/')
            return m.described + ": host path \"" + m.host_path + "\" is not absolute";
        if (guard.exposes(m.host_path, &which))
            return m.described + " would expose the protected path " + which +
                   " inside a container, which" + by;
        if (guard.exposes_kernel(m.host_path, &which))
            return m.described + " would expose the host kernel's " + which +
                   " inside a container, which" + by;
    }
    if (ctx.facts.volume_devices && !s.named_volumes.empty()) {
        auto devices = ctx.facts.volume_devices(s.named_volumes);
        if (!devices)
            return lookup_failed(
                "named volume " + s.named_volumes.front() +
                ": imagegate cannot ask dockerd what it binds, so it cannot check it");
        for (const auto &[v, device] : *devices) {
            std::string which;
            if (guard.exposes(device, &which))
                return "volume " + v + " binds " + device +
                       " and would expose the protected path " + which +
                       " inside a container, which" + by;
            if (guard.exposes_kernel(device, &which))
                return "volume " + v + " binds " + device + " and would expose the host kernel's " +
                       which + " inside a container, which" + by;
        }
    }
    return {};
}

// Privileges, host namespaces and networks, capabilities, devices, security options, sysctls.
Problem check_privileges(const ContainerSettings &s, const DecisionContext &ctx, const Hardening &h,
                         const std::string &by) {
    if (s.privileged && h.privileged == Setting::Restricted)
        return std::string(s.is_exec ? "privileged exec" : "a privileged container") + by;
    for (const auto &ns : s.host_namespaces)
        if (h.host_namespaces == Setting::Restricted ||
            (ns == "userns" && h.user_namespaces_required))
            return "the host " + ns + " namespace" + by;
    if (s.host_network && h.host_network == Setting::Restricted)
        return "the host network namespace" + by;
    if (!s.networks.empty() && h.host_network == Setting::Restricted) {
        auto host = ctx.facts.host_networks ? ctx.facts.host_networks(s.networks) : std::nullopt;
        if (!host)
            return lookup_failed(
                "network " + s.networks.front() +
                ": imagegate cannot ask dockerd which network that names, so it cannot check it "
                "is not the host's");
        if (!host->empty())
            return "network " + host->front() +
                   " names the host network, and the host network namespace" + by;
    }
    if (h.cap_add == Setting::Restricted)
        for (const auto &cap : s.cap_add)
            if (!h.allowed_capabilities.contains(canonical_capability(cap)))
                return "adding capability " + cap + by;
    if (!s.devices.empty() && h.devices == Setting::Restricted)
        return "host device " + s.devices.front() + by;
    if (!s.security_options.empty() && h.security_options == Setting::Restricted)
        return "security option " + s.security_options.front() + by;
    if (!s.sysctls.empty() && h.sysctls == Setting::Restricted)
        return "sysctl " + s.sysctls.front() + " (not namespaced)" + by;

    return {};
}

// User namespaces and root inside the container.
Problem check_user(const ContainerSettings &s, const ClassifiedRequest &c,
                   const DecisionContext &ctx, const Policy &p, const std::string &by) {
    const Hardening &h = p.hardening;
    bool creates_container = c.action == Action::Run && !s.is_exec;
    if (creates_container && h.user_namespaces_required && ctx.facts.userns_remapped != true)
        return std::string("containers may only be created when dockerd runs with --userns-remap "
                           "(or rootless): ") +
               (ctx.facts.userns_remapped ? "it does not"
                                          : "imagegate cannot tell whether it does") +
               ", and hardening.userNamespaces is required " + policy_serial(p);
    if (h.root_in_container_restricted && (creates_container || s.is_exec)) {
        if (s.user && is_root_user(*s.user))
            return std::string(s.is_exec ? "exec" : "a container") + " as root (user \"" + *s.user +
                   "\")" + by;
        if (creates_container && (!s.user || s.user->empty())) {
            std::string image = c.images.empty() ? "" : c.images.front().reference;
            std::optional<std::string> image_user;
            if (ctx.facts.image_user)
                image_user = ctx.facts.image_user(image);
            if (!image_user)
                return lookup_failed(
                    "a container with no --user whose image user imagegate cannot look up" + by);
            if (image_user->empty() || is_root_user(*image_user))
                return "a container as root (image " + image + " runs as root; give --user)" + by;
        }
    }
    return {};
}

// Hardening (docs/hardening.md) of container creates, updates, execs, services and volumes.
Problem check_container(const ContainerSettings &s, const ClassifiedRequest &c,
                        const DecisionContext &ctx, const Policy &p, int depth) {
    std::string by =
        " is restricted by " + p.organization + "'s hardening policy " + policy_serial(p);
    if (!s.volumes_from.empty() || !s.joined_namespaces.empty())
        return check_lent_settings(s, c, ctx, p, depth, by);
    const Hardening &h = p.hardening;
    if (Problem problem = check_mounts(s, ctx, h, by); !problem.empty())
        return problem;
    if (Problem problem = check_privileges(s, ctx, h, by); !problem.empty())
        return problem;
    return check_user(s, c, ctx, p, by);
}

bool is_self_plugin(std::string_view name, const DecisionContext &ctx) {
    // "imagegate", "imagegate:latest", "acme/imagegate:1.0" and configured names.
    std::string_view base = name.substr(0, name.find('@'));
    auto slash = base.rfind('/');
    std::string_view last = slash == std::string_view::npos ? base : base.substr(slash + 1);
    std::string_view repo = last.substr(0, last.find(':'));
    if (repo.starts_with("imagegate"))
        return true;
    // dockerd also finds a plugin by a prefix of its 64-hex ID ("docker plugin disable 3f2a"):
    // a name that could be one may be imagegate itself.
    if (!base.empty() && std::all_of(base.begin(), base.end(), [](char ch) {
            return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
        }))
        return true;
    std::string_view names = ctx.plugin_names_self;
    std::size_t start = 0;
    while (start < names.size()) {
        auto comma = names.find(',', start);
        std::string_view n = names.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!n.empty() && (n == repo || n == base))
            return true;
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return false;
}

} // namespace

namespace {

// Stage: plugin management and swarm membership need the Manager role on everything.
Problem check_manager_only(const AuthzRequest &request, const ClassifiedRequest &c,
                           const DecisionContext &ctx, const Policy &p) {
    if (c.special == Special::PluginManage) {
        const Grants *g = grants_of(request.user, p);
        bool manager = g && g->any_role_on_everything(Role::Manager);
        bool self = is_self_plugin(c.plugin_name, ctx);
        if (!manager && (c.plugin_install || self))
            return {Cause::PluginManagement,
                    self ? who(request.user) +
                               " may not change imagegate's own plugin: that needs the Manager "
                               "role " +
                               policy_suffix(p)
                         : who(request.user) +
                               " may not install, enable, upgrade or configure plugins (they run "
                               "with host privileges): that needs the Manager role " +
                               policy_suffix(p)};
    }
    if (c.special == Special::SwarmMembership) {
        const Grants *g = grants_of(request.user, p);
        if (!(g && g->any_role_on_everything(Role::Manager)))
            return {Cause::SwarmMembership,
                    who(request.user) +
                        " may not create, join or change a swarm (a swarm manager runs tasks on "
                        "this host that no request to dockerd shows): that needs the Manager "
                        "role " +
                        policy_suffix(p)};
    }
    return {};
}

// Stage: the hardening of the container (or exec, service, volume) the request creates.
Problem check_container_settings(const AuthzRequest &, const ClassifiedRequest &c,
                                 const DecisionContext &ctx, const Policy &p) {
    if (!c.container)
        return {};
    return check_container(*c.container, c, ctx, p);
}

// Stage: exec, attach and docker cp enter an existing container, with all it has, and start
// mounts its binds again: entering or starting one that could not be created under this policy
// (privileged, binding the Docker socket ...) is refused as its creation would be.
Problem check_entered_container(const AuthzRequest &, const ClassifiedRequest &c,
                                const DecisionContext &ctx, const Policy &p) {
    if (c.entered_container.empty() || !ctx.facts.container)
        return {};
    ContainerLookup entered = ctx.facts.container(c.entered_container);
    if (entered.state == ContainerLookup::State::Unknown)
        return lookup_failed("imagegate cannot look up container " + c.entered_container +
                             ", so it cannot check what entering it gives");
    if (entered.state != ContainerLookup::State::Found)
        return {};
    const ContainerSettings &settings = entered.settings;
    ClassifiedRequest existing;
    Problem problem = check_container(settings, existing, ctx, p);
    if (!problem.empty())
        return {problem.cause,
                "container " + c.entered_container +
                    " may not be entered or started (exec, attach, cp, start): " + problem.reason};
    // An exec with no --user runs as the container's user.
    bool exec_as_container_user =
        c.container && c.container->is_exec && (!c.container->user || c.container->user->empty());
    if (exec_as_container_user && p.hardening.root_in_container_restricted &&
        (!settings.user || settings.user->empty() || is_root_user(*settings.user)))
        return {Cause::Hardening, "exec as root (container " + c.entered_container +
                                      " runs as root; give --user) is restricted by " +
                                      p.organization + "'s hardening policy " + policy_serial(p)};
    return {};
}

} // namespace

Decision deny_decision(Decision decision, Cause cause, std::string message, const Policy *policy) {
    decision.policy_denied = true;
    decision.cause = cause;
    decision.message = std::move(message);
    decision.allow = policy && policy->mode == Mode::Audit;
    return decision;
}

namespace {

// One image use of a request: its decisions (one per name it has) appended to `d.images`.
// A use by image ID is decided by the names dockerd gives the image.
void decide_image_use(const ImageUse &use, const AuthzRequest &request, const DecisionContext &ctx,
                      const Policy &policy, Decision &d) {
    const Policy *p = &policy;
    Action action = action_of(use.need);
    bool tag_target = use.need == Need::TagTarget;
    std::vector<std::string> names{use.reference};
    bool by_id = false;
    bool resolvable = use.need == Need::Run || use.need == Need::TagSource ||
                      use.need == Need::Delete || use.need == Need::Push ||
                      use.need == Need::Inspect;
    if (resolvable && looks_like_image_id(use.reference)) {
        bool certainly_id = use.reference.starts_with("sha256:") || use.reference.size() == 64;
        if (use.need == Need::Inspect) {
            // Reading an image by ID needs the role, nothing more. (imagegate's own lookups
            // below are such reads: resolving them too would loop through dockerd.)
            names.clear();
            by_id = true;
        } else {
            ImageLookup lookup;
            if (ctx.facts.image_names)
                lookup = ctx.facts.image_names(use.reference);
            if (lookup.state == ImageLookup::State::Found) {
                names = lookup.names;
                by_id = true;
            } else if (certainly_id || lookup.state == ImageLookup::State::Unknown) {
                // dockerd reads this as an image ID; without knowing its names, fail closed.
                std::string why = lookup.state == ImageLookup::State::NotFound
                                      ? "no local image has the ID \"" + use.reference + "\""
                                      : "imagegate cannot ask dockerd which image \"" +
                                            use.reference + "\" names, so it cannot check it";
                ImageDecision id;
                id.action = action;
                id.tag_target = tag_target;
                id.reference = id.normalized = use.reference;
                id.reason = why;
                id.message = deny_line(
                    std::string(verb_of(action, tag_target)) + " of " + use.reference, why);
                id.cause = lookup.state == ImageLookup::State::NotFound ? Cause::Image
                                                                        : Cause::LookupFailed;
                d.images.push_back(std::move(id));
                return;
            }
            // NotFound for a short hex string: dockerd will read it as a name, and so do we.
        }
    }
    if (by_id && names.empty()) {
        // A local image with no name (built or loaded): roles still apply.
        ImageDecision id;
        id.action = action;
        id.reference = id.normalized = use.reference;
        id.allow = has_role_anywhere(grants_of(request.user, *p), roles_for(action, tag_target));
        if (!id.allow) {
            id.reason = who(request.user) + " has no " +
                        std::string(role_list(roles_for(action, tag_target))) + " grant " +
                        policy_suffix(*p);
            id.message = deny_line(
                std::string(verb_of(action, tag_target)) + " of " + use.reference, id.reason);
            id.cause = Cause::Image;
        }
        d.images.push_back(std::move(id));
        return;
    }
    for (const auto &n : names) {
        ImageDecision id = decide_image(action, n, request.user, *p, tag_target);
        if (by_id)
            id.reference = use.reference + " (" + n + ")";
        d.images.push_back(std::move(id));
    }
}

// Before anything else: a policy that may decide, a signed-in user where it is required.
std::optional<Problem> check_policy_state(const AuthzRequest &request, const ClassifiedRequest &c,
                                          const DecisionContext &ctx) {
    const Policy *p = ctx.policy;
    std::string what = std::string(action_verb(c.action)) + " (" + c.endpoint + ")";
    if (!p) {
        // Nothing valid was ever loaded: fail closed for everything imagegate would judge.
        if (c.action != Action::Other || c.container || c.special != Special::None)
            return Problem{Cause::NoPolicy,
                           deny_line(what, ctx.policy_problem.empty()
                                               ? "no valid imagegate policy has been loaded"
                                               : ctx.policy_problem)};
        return std::nullopt;
    }
    if (p->require_sign_in && request.user.empty())
        return Problem{Cause::SignIn,
                       deny_line(c.endpoint, p->organization +
                                                 "'s policy requires signing in: connect with a "
                                                 "TLS client certificate (this request has no "
                                                 "user) " +
                                                 policy_serial(*p))};
    if (!ctx.policy_problem.empty() && (c.action != Action::Other || c.special != Special::None))
        return Problem{Cause::StalePolicy, deny_line(what, ctx.policy_problem)};
    return std::nullopt;
}

// Actions that name no image still need their role somewhere; import and build may be
// restricted by hardening.
std::optional<Problem> check_action(const AuthzRequest &request, const ClassifiedRequest &c,
                                    const Policy &policy) {
    const Policy *p = &policy;
    if (c.images.empty() && c.action != Action::Other) {
        auto roles = roles_for(c.action, false);
        if (!has_role_anywhere(grants_of(request.user, *p), roles))
            return Problem{Cause::Image,
                           deny_line(std::string(action_verb(c.action)) + " (" + c.endpoint + ")",
                                     who(request.user) + " has no " +
                                         std::string(role_list(roles)) + " grant " +
                                         policy_suffix(*p))};
    }
    if (c.action == Action::Import && p->hardening.image_import == Setting::Restricted)
        return Problem{Cause::Hardening,
                       deny_line("image import (" + c.endpoint + ")",
                                 "docker load, import and commit are restricted by " +
                                     p->organization + "'s hardening policy " + policy_serial(*p))};
    if (c.action == Action::Build && p->hardening.image_build == Setting::Restricted)
        return Problem{Cause::Hardening,
                       deny_line("image build", "docker build is restricted by " + p->organization +
                                                    "'s hardening policy " + policy_serial(*p))};
    return std::nullopt;
}

// Trust (docs/trust.md) for the image a container is created from (TrustUse::Run) or that is
// given another name (TrustUse::Tag, the tag's source): every repository a trust rule covers
// among the name the request gives and the names of the image dockerd resolves it to (RepoTags
// and RepoDigests: a second name must not take an image past the rules of its first) needs a
// verified cosign signature on a digest the local image was pulled at from there; a name given
// with a digest is checked at that digest. A run by a tag is refused when a covered repository's
// rule requires a digest. Each covered repository's outcome goes on the image decisions of its
// names (d.images[FIRST, LAST) are this use's); one is added for a repository the request did not
// name, so that the decision log, `report` and `policy impact` see it.
enum class TrustUse { Run, Tag };

struct TrustRefusal {
    std::string reason; // rule, why, policy serial
    bool audit = false; // the refusing rule only logs
};

std::vector<TrustRefusal> check_trust_of_image(const ImageUse &use, TrustUse kind,
                                               const DecisionContext &ctx, const Policy &policy,
                                               Decision &d, std::size_t first, std::size_t last) {
    std::vector<TrustRefusal> refusals;
    ImageLookup lookup;
    if (ctx.facts.image_names)
        lookup = ctx.facts.image_names(use.reference);
    std::optional<Reference> named;
    if (!use.reference.starts_with("sha256:"))
        if (auto r = parse_reference(use.reference))
            named = std::move(r).value();
    // dockerd's GetImage reads the string as a name first, then as an ID prefix.
    bool by_name = false;
    if (named) {
        if (lookup.state != ImageLookup::State::Found)
            by_name = true;
        else
            for (const auto &n : lookup.names)
                if (auto r = parse_reference(n); r && r->match_name() == named->match_name())
                    by_name = true;
    }
    // By ID, or by a name with a digest, the content that runs is pinned.
    bool pinned = !by_name || !named->digest.empty();
    std::vector<std::string> repositories;
    auto add = [&](std::string repository) {
        if (std::find(repositories.begin(), repositories.end(), repository) == repositories.end())
            repositories.push_back(std::move(repository));
    };
    if (by_name)
        add(named->match_name());
    if (lookup.state == ImageLookup::State::Found)
        for (const auto &n : lookup.names)
            if (auto r = parse_reference(n))
                add(r->match_name());

    // Where an outcome is recorded: this use's decisions of the repository, or a new one.
    auto entries_of = [&](const std::string &repository, const std::string &shown) {
        std::vector<std::size_t> out;
        for (std::size_t i = first; i < last; ++i)
            if (auto r = parse_reference(d.images[i].normalized);
                r && r->match_name() == repository)
                out.push_back(i);
        if (out.empty()) {
            ImageDecision extra = decide_image(kind == TrustUse::Run ? Action::Run : Action::Tag,
                                               shown, "", policy, false, Roles::Skip);
            // Only the trust outcome is decided for it: roles and access were the request's
            // name's.
            extra.allow = true;
            extra.cause = Cause::None;
            extra.message.clear();
            extra.reason = "a name of the image " + use.reference + ", for its trust rule";
            extra.reference = use.reference + " (" + shown + ")";
            d.images.push_back(std::move(extra));
            out.push_back(d.images.size() - 1);
        }
        return out;
    };
    auto refuse = [&](const TrustRule *rule, const std::vector<std::size_t> &entries,
                      std::string why) {
        TrustRefusal r;
        r.reason =
            (rule ? "trust rule " + rule->name + ": " : "") + why + " " + policy_serial(policy);
        r.audit = rule && rule->effective_mode(policy.mode) == Mode::Audit;
        for (std::size_t i : entries) {
            ImageDecision &image = d.images[i];
            image.trust_rule = rule ? rule->name : "";
            if (r.audit) {
                image.trust_audit = true;
                image.trust_denial = r.reason;
            } else {
                image.allow = false;
                image.cause = Cause::Trust;
                image.reason = r.reason;
            }
        }
        refusals.push_back(std::move(r));
        return !refusals.back().audit; // an enforced refusal ends the check
    };
    std::vector<std::size_t> primary{first};

    if (lookup.state == ImageLookup::State::Unknown) {
        // Without the image's names, the rules of names it may have cannot be known: fail
        // closed while any rule is enforced (the name's own rule first).
        const TrustRule *rule = named ? trust_rule_for(policy.trust, named->match_name()) : nullptr;
        if (!rule || rule->effective_mode(policy.mode) == Mode::Audit)
            for (const TrustRule &r : policy.trust)
                if (r.effective_mode(policy.mode) == Mode::Enforce) {
                    rule = &r;
                    break;
                }
        if (!rule)
            rule = &policy.trust.front();
        if (named && kind == TrustUse::Run && !pinned)
            if (const TrustRule *own = trust_rule_for(policy.trust, named->match_name());
                own && own->require_digest &&
                refuse(own, primary,
                       "it requires a digest: run " + named->match_name() +
                           "@sha256:… instead of a tag"))
                return refusals;
        refuse(rule, primary,
               "imagegate cannot ask dockerd which image \"" + use.reference +
                   "\" is, so it cannot check the trust rules of its names");
        return refusals;
    }
    if (lookup.state == ImageLookup::State::NotFound && kind == TrustUse::Tag)
        return refusals; // dockerd answers "No such image"
    if (repositories.empty()) {
        // A local image with no name (imported, loaded, built untagged): only a rule on every
        // repository covers it, and no signature can name it.
        for (const TrustRule &rule : policy.trust)
            if (rule.repositories.everything) {
                refuse(&rule, primary, "the image has no name, so no signature can name it");
                break;
            }
        return refusals;
    }
    for (const std::string &repository : repositories) {
        const TrustRule *rule = trust_rule_for(policy.trust, repository);
        if (!rule)
            continue;
        bool given = by_name && repository == named->match_name();
        // A name the request did not give: the image's first name in REPOSITORY shows it.
        std::string also, first_name = given ? named->str() : "";
        for (const auto &n : lookup.names)
            if (auto r = parse_reference(n);
                r && r->match_name() == repository && first_name.empty())
                first_name = r->str();
        if (!given && by_name)
            also = "the image is also named " + first_name + ": ";
        std::vector<std::string> digests;
        if (given && !named->digest.empty()) {
            digests.push_back(named->digest);
        } else {
            if (kind == TrustUse::Run && !pinned && rule->require_digest) {
                std::string why =
                    given ? "it requires a digest: run " + repository + "@sha256:… instead of a tag"
                          : also + "its rule requires a digest: run " + repository +
                                "@sha256:… or the image's ID instead of a tag";
                if (refuse(rule, entries_of(repository, first_name), why))
                    return refusals;
                continue;
            }
            if (lookup.state == ImageLookup::State::NotFound)
                continue; // dockerd answers "No such image"; the CLI pulls and asks again
            for (const auto &n : lookup.names)
                if (auto r = parse_reference(n);
                    r && !r->digest.empty() && r->match_name() == repository)
                    digests.push_back(r->digest);
            if (digests.empty()) {
                if (refuse(rule, entries_of(repository, first_name),
                           also + "the local image was not pulled from " + repository +
                               " (built, loaded, imported or tagged here): it has no registry "
                               "digest there that a signature could name"))
                    return refusals;
                continue;
            }
        }
        auto repo = parse_reference(repository);
        TrustVerdict verdict;
        verdict.reason = "signatures are not checked here";
        std::string checked;
        for (const auto &digest : digests) {
            checked = digest;
            if (!ctx.facts.verify_signature)
                break;
            TrustCheck check{repo->registry_key(), repo->path, repository, digest, rule};
            verdict = ctx.facts.verify_signature(check);
            if (verdict.state == TrustVerdict::State::Verified)
                break;
        }
        auto entries = entries_of(repository, given ? named->str() : repository + "@" + checked);
        for (std::size_t i : entries) {
            d.images[i].trust_rule = rule->name;
            d.images[i].digest = checked;
        }
        if (verdict.state == TrustVerdict::State::Verified) {
            for (std::size_t i : entries)
                d.images[i].key_id = verdict.key_id;
            continue;
        }
        if (refuse(rule, entries,
                   also + repository + "@" + checked + ": " +
                       (verdict.state == TrustVerdict::State::Unavailable
                            ? "cannot check its signature: "
                            : "") +
                       verdict.reason))
            return refusals;
    }
    return refusals;
}

} // namespace

Decision decide_request(const AuthzRequest &request, const DecisionContext &ctx) {
    Decision d;
    const Policy *p = ctx.policy;
    auto finish_deny = [&](Cause cause, std::string message) {
        return deny_decision(std::move(d), cause, std::move(message), p);
    };

    // imagegate's own lookups (an image's user, a container's settings ...) come back through
    // dockerd's authorization chain: a read that carries the secret is imagegate asking.
    if (!ctx.own_lookup_token.empty() && request.method == "GET")
        if (const std::string *token = request.header("x-imagegate-lookup");
            token && *token == ctx.own_lookup_token) {
            d.allow = true;
            return d;
        }

    auto classified = classify_request(request);
    if (!classified) {
        std::string uri = request.uri.substr(0, 200);
        return finish_deny(Cause::UnreadableRequest,
                           deny_line(request.method + " " + uri, classified.error()));
    }
    const ClassifiedRequest &c = classified.value();
    d.action = c.action;
    if (auto problem = check_policy_state(request, c, ctx))
        return finish_deny(problem->cause, problem->reason);
    if (!p) {
        d.allow = true;
        return d;
    }

    // Images: each use decided on its own; the first denial answers.
    std::vector<std::pair<std::size_t, std::size_t>> spans; // each use's decisions in d.images
    for (const auto &use : c.images) {
        std::size_t begin = d.images.size();
        decide_image_use(use, request, ctx, *p, d);
        spans.emplace_back(begin, d.images.size());
    }
    for (const ImageDecision &id : d.images)
        if (!id.allow)
            return finish_deny(id.cause, id.message);
    if (auto problem = check_action(request, c, *p))
        return finish_deny(problem->cause, problem->reason);

    // The stages after the images, in order; the first that refuses answers.
    for (auto stage : {check_manager_only, check_container_settings, check_entered_container})
        if (Problem problem = stage(request, c, ctx, *p); !problem.empty())
            return finish_deny(problem.cause, deny_line(c.endpoint, problem.reason));

    // Trust last: it may read the registry, and only for what would otherwise run or be given
    // another name (a tag's source: docs/trust.md).
    std::string audit_denial;
    if (!p->trust.empty() && (c.action == Action::Run || c.action == Action::Tag))
        for (std::size_t u = 0; u < c.images.size(); ++u) {
            const ImageUse &use = c.images[u];
            auto [first, last] = spans[u];
            if ((use.need != ImageUse::Need::Run && use.need != ImageUse::Need::TagSource) ||
                first == last)
                continue;
            TrustUse kind = use.need == ImageUse::Need::Run ? TrustUse::Run : TrustUse::Tag;
            // An image given by ID is shown as it was given; by name, as the name normalized.
            std::string shown = d.images[first].reference == use.reference
                                    ? d.images[first].normalized
                                    : use.reference;
            std::string what = (kind == TrustUse::Run ? "run of " : "tag of ") + shown;
            for (TrustRefusal &r : check_trust_of_image(use, kind, ctx, *p, d, first, last)) {
                std::string message = deny_line(what, r.reason);
                if (!r.audit) {
                    for (ImageDecision &id : d.images)
                        if (!id.allow && id.message.empty())
                            id.message = message;
                    return finish_deny(Cause::Trust, message);
                }
                if (audit_denial.empty())
                    audit_denial = message;
            }
        }
    for (const ImageDecision &id : d.images)
        if (id.trust_audit && audit_denial.empty())
            audit_denial = deny_line("pull of " + id.normalized, id.trust_denial);
    if (!audit_denial.empty()) {
        // A trust rule in audit mode: logged as a would-be denial, allowed.
        d = deny_decision(std::move(d), Cause::Trust, audit_denial, p);
        d.allow = true;
        return d;
    }

    d.allow = true;
    return d;
}

} // namespace imagegate
