#include "policy/policy.hpp"

#include "policy/paths.hpp"
#include "policy/reference.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace imagegate {
namespace json = boost::json;

std::string_view role_name(Role role) {
    switch (role) {
    case Role::Reader:
        return "Reader";
    case Role::Writer:
        return "Writer";
    case Role::Manager:
        return "Manager";
    }
    return "?";
}

bool ResourceSet::matches(std::string_view name) const {
    if (everything)
        return true;
    if (exact.find(name) != exact.end())
        return true;
    if (prefixes.empty())
        return false;
    // "docker.io/acme/team/app" is under the prefixes "docker.io/acme/team", "docker.io/acme" and
    // "docker.io": one lookup per path component, whatever the number of patterns.
    for (std::size_t slash = name.rfind('/'); slash != std::string_view::npos && slash > 0;
         slash = name.rfind('/', slash - 1)) {
        if (prefixes.find(name.substr(0, slash)) != prefixes.end())
            return true;
    }
    return false;
}

void ResourceSet::add(const ResourceSet &other) {
    everything = everything || other.everything;
    exact.insert(other.exact.begin(), other.exact.end());
    prefixes.insert(other.prefixes.begin(), other.prefixes.end());
}

namespace {
std::uint32_t intern(StringMap<std::uint32_t> &numbers, std::vector<const std::string *> &names,
                     std::string_view name) {
    auto it = numbers.find(name);
    if (it != numbers.end())
        return it->second;
    auto id = static_cast<std::uint32_t>(names.size());
    names.push_back(&numbers.emplace(std::string(name), id).first->first);
    return id;
}
} // namespace

std::uint32_t PatternTable::exact_id(std::string_view name) {
    return intern(exact, exact_names, name);
}
std::uint32_t PatternTable::prefix_id(std::string_view name) {
    return intern(prefixes, prefix_names, name);
}

void RoleGrant::add(const RoleGrant &other) {
    everything = everything || other.everything;
    exact.insert(exact.end(), other.exact.begin(), other.exact.end());
    prefixes.insert(prefixes.end(), other.prefixes.begin(), other.prefixes.end());
}

void RoleGrant::normalize() {
    for (auto *ids : {&exact, &prefixes}) {
        std::sort(ids->begin(), ids->end());
        ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
        ids->shrink_to_fit();
    }
}

bool Grants::matches(const Role *roles, std::size_t count, std::string_view name) const {
    bool any_patterns = false;
    for (std::size_t i = 0; i < count; ++i) {
        const RoleGrant &g = by_role[static_cast<int>(roles[i])];
        if (g.everything)
            return true;
        any_patterns = any_patterns || !g.exact.empty() || !g.prefixes.empty();
    }
    if (!any_patterns || !patterns)
        return false;
    auto granted = [&](std::uint32_t id, bool prefix) {
        for (std::size_t i = 0; i < count; ++i) {
            const RoleGrant &g = by_role[static_cast<int>(roles[i])];
            const auto &ids = prefix ? g.prefixes : g.exact;
            if (std::binary_search(ids.begin(), ids.end(), id))
                return true;
        }
        return false;
    };
    if (auto it = patterns->exact.find(name);
        it != patterns->exact.end() && granted(it->second, false))
        return true;
    if (patterns->prefixes.empty())
        return false;
    // "docker.io/acme/team/app" is under the prefixes "docker.io/acme/team", "docker.io/acme" and
    // "docker.io": one lookup per path component.
    for (std::size_t slash = name.rfind('/'); slash != std::string_view::npos && slash > 0;
         slash = name.rfind('/', slash - 1))
        if (auto it = patterns->prefixes.find(name.substr(0, slash));
            it != patterns->prefixes.end() && granted(it->second, true))
            return true;
    return false;
}

ResourceSet Grants::resources(Role role) const {
    const RoleGrant &g = by_role[static_cast<int>(role)];
    ResourceSet out;
    out.everything = g.everything;
    if (patterns) {
        for (auto id : g.exact)
            out.exact.insert(*patterns->exact_names[id]);
        for (auto id : g.prefixes)
            out.prefixes.insert(*patterns->prefix_names[id]);
    }
    return out;
}

Grants Grants::from(const std::array<ResourceSet, kRoleCount> &sets) {
    auto table = std::make_shared<PatternTable>();
    Grants g;
    for (std::size_t r = 0; r < kRoleCount; ++r) {
        RoleGrant &rg = g.by_role[r];
        rg.everything = sets[r].everything;
        for (const auto &e : sets[r].exact)
            rg.exact.push_back(table->exact_id(e));
        for (const auto &p : sets[r].prefixes)
            rg.prefixes.push_back(table->prefix_id(p));
        rg.normalize();
    }
    g.patterns = std::move(table);
    return g;
}

const Grants *Policy::grants_for(std::string_view user) const {
    auto it = grants_by_user.find(user);
    return it == grants_by_user.end() ? nullptr : &it->second;
}

std::string Diagnostic::str() const {
    return std::string(severity == Severity::Error ? "error" : "warning") + ": " + path + ": " +
           message;
}

bool PolicyLoad::has_errors() const {
    return std::any_of(diagnostics.begin(), diagnostics.end(), [](const Diagnostic &d) {
        return d.severity == Diagnostic::Severity::Error;
    });
}

namespace {

std::string quoted(std::string_view s) {
    return json::serialize(json::string(s));
}

class Loader {
  public:
    explicit Loader(bool strict) : strict_(strict) {}

    PolicyLoad run(std::string_view text) {
        auto policy = std::make_shared<Policy>();
        p_ = policy.get();
        if (text.size() > kMaxPolicyBytes) {
            error("$", "policy is larger than " + std::to_string(kMaxPolicyBytes) + " bytes");
            return finish(nullptr);
        }
        json::parse_options options;
        options.max_depth = kMaxJsonDepth;
        std::error_code ec;
        json::value root = json::parse(text, ec, {}, options);
        if (ec) {
            error("$", "not valid JSON: " + ec.message());
            return finish(nullptr);
        }
        if (!root.is_object()) {
            error("$", "the policy must be a JSON object");
            return finish(nullptr);
        }
        policy->source_text = std::string(text);
        top(root.as_object());
        p_->hardening.protected_index = PathIndex(p_->hardening.protected_paths);
        // Every subject's grants: sorted, deduplicated, sharing the policy's one pattern table.
        for (auto &[user, grants] : p_->grants_by_user) {
            grants.patterns = patterns_;
            for (auto &g : grants.by_role)
                g.normalize();
        }
        p_->default_grants.patterns = patterns_;
        return finish(has_errors_ ? nullptr : std::move(policy));
    }

  private:
    bool strict_;
    bool has_errors_ = false;
    Policy *p_ = nullptr;
    std::vector<Diagnostic> diagnostics_;
    StringSet team_members_;
    StringMap<RoleGrant> groups_;
    std::shared_ptr<PatternTable> patterns_ = std::make_shared<PatternTable>();

    PolicyLoad finish(std::shared_ptr<const Policy> policy) {
        return PolicyLoad{std::move(policy), std::move(diagnostics_)};
    }
    void error(std::string path, std::string message) {
        has_errors_ = true;
        diagnostics_.push_back({Diagnostic::Severity::Error, std::move(path), std::move(message)});
    }
    void warning(std::string path, std::string message) {
        diagnostics_.push_back(
            {Diagnostic::Severity::Warning, std::move(path), std::move(message)});
    }

    using Handler = std::function<void(const json::value &, const std::string &)>;
    // Walks an object's keys in document order; an unknown key is never silently ignored.
    void fields(const json::object &obj, const std::string &path,
                const std::vector<std::pair<std::string_view, Handler>> &handlers) {
        for (const auto &kv : obj) {
            std::string child = path + "." + std::string(kv.key());
            auto it = std::find_if(handlers.begin(), handlers.end(),
                                   [&](const auto &h) { return h.first == kv.key(); });
            if (it == handlers.end()) {
                if (strict_)
                    error(child, "unknown key");
                else
                    warning(child, "unknown key (ignored)");
                continue;
            }
            it->second(kv.value(), child);
        }
    }
    const json::object *object(const json::value &v, const std::string &path) {
        if (!v.is_object()) {
            error(path, "must be an object");
            return nullptr;
        }
        return &v.as_object();
    }
    std::optional<bool> boolean(const json::value &v, const std::string &path) {
        if (!v.is_bool()) {
            error(path, "must be true or false");
            return std::nullopt;
        }
        return v.as_bool();
    }
    std::optional<std::string> string(const json::value &v, const std::string &path) {
        if (!v.is_string()) {
            error(path, "must be a string");
            return std::nullopt;
        }
        return std::string(v.as_string());
    }
    std::vector<std::pair<std::string, std::string>> strings(const json::value &v,
                                                             const std::string &path) {
        std::vector<std::pair<std::string, std::string>> out; // value, path
        if (!v.is_array()) {
            error(path, "must be an array of strings");
            return out;
        }
        std::size_t i = 0;
        for (const auto &item : v.as_array()) {
            std::string child = path + "[" + std::to_string(i++) + "]";
            if (auto s = string(item, child))
                out.emplace_back(*s, child);
        }
        return out;
    }
    // "enforce" or "audit": the policy's mode, and a trust rule's.
    std::optional<Mode> mode(const json::value &v, const std::string &path) {
        auto s = string(v, path);
        if (!s)
            return std::nullopt;
        if (*s == "enforce")
            return Mode::Enforce;
        if (*s == "audit")
            return Mode::Audit;
        error(path, "unknown mode " + quoted(*s) + " (expected \"enforce\" or \"audit\")");
        return std::nullopt;
    }
    void setting(const json::value &v, const std::string &path, Setting &out,
                 std::string_view a = "allowed", std::string_view r = "restricted") {
        auto s = string(v, path);
        if (!s)
            return;
        if (*s == a)
            out = Setting::Allowed;
        else if (*s == r)
            out = Setting::Restricted;
        else
            error(path, "unknown value " + quoted(*s) + " (expected \"" + std::string(a) +
                            "\" or \"" + std::string(r) + "\")");
    }
    void namespaces(const json::value &v, const std::string &path, StringSet &out) {
        for (auto &[ns, child] : strings(v, path)) {
            auto ref = parse_reference("docker.io/" + ns + "/x");
            if (ns.empty() || ns.find('/') != std::string::npos || !ref)
                error(child, "invalid Docker Hub namespace " + quoted(ns));
            else
                out.insert(ns);
        }
    }

    // `*`, `group:NAME` (when groups are allowed), `REGISTRY/PATH` or `REGISTRY/PATH/*`.
    void resource(const std::string &pattern, const std::string &path, RoleGrant &out,
                  bool allow_groups) {
        if (pattern == "*") {
            out.everything = true;
            return;
        }
        if (pattern.starts_with("group:")) {
            if (!allow_groups) {
                error(path, "a resource group cannot contain another group");
                return;
            }
            auto it = groups_.find(std::string_view(pattern).substr(6));
            if (it == groups_.end())
                error(path, "resource group " + quoted(pattern.substr(6)) + " is not defined");
            else
                out.add(it->second);
            return;
        }
        std::string body = pattern;
        bool wildcard = false;
        if (body.ends_with("/*")) {
            body.resize(body.size() - 2);
            wildcard = true;
        }
        if (body.find('*') != std::string::npos) {
            error(path, "resource pattern " + quoted(pattern) +
                            " has a wildcard that is not a trailing /*");
            return;
        }
        auto slash = body.find('/');
        std::string_view first = std::string_view(body).substr(0, slash);
        bool has_registry = first == "localhost" || first.find('.') != std::string_view::npos ||
                            first.find(':') != std::string_view::npos;
        if (!has_registry) {
            error(path, "resource pattern " + quoted(pattern) +
                            " must start with a registry (e.g. docker.io/" + body + ")");
            return;
        }
        std::string registry = canonical_registry(first);
        if (slash == std::string::npos) {
            if (!wildcard)
                error(path, "resource pattern " + quoted(pattern) +
                                " names a registry alone: write " + pattern + "/*");
            else
                out.prefixes.push_back(patterns_->prefix_id(registry));
            return;
        }
        auto ref = parse_reference(registry + body.substr(slash));
        if (!ref || !ref->digest.empty() || body.find(':', slash) != std::string::npos) {
            error(path, "invalid resource pattern " + quoted(pattern));
            return;
        }
        // Docker Hub's one-component names mean library/NAME, but a pattern names a path as
        // written.
        std::string name = registry + body.substr(slash);
        if (wildcard)
            out.prefixes.push_back(patterns_->prefix_id(name));
        else
            out.exact.push_back(patterns_->exact_id(name));
    }

    // `trust` (docs/trust.md): rules of repository patterns, PEM keys, mode, requireDigest.
    void trust(const json::value &v, const std::string &path) {
        if (!v.is_array()) {
            error(path, "must be an array of trust rules");
            return;
        }
        p_->trust_source = json::serialize(v);
        std::size_t i = 0;
        for (const auto &item : v.as_array()) {
            std::string rp = path + "[" + std::to_string(i++) + "]";
            auto *o = object(item, rp);
            if (!o)
                continue;
            TrustRule rule;
            rule.name = rp;
            RoleGrant patterns;
            bool has_repositories = false, has_keys = false;
            fields(*o, rp,
                   {{"name",
                     [&](const json::value &e, const std::string &ep) {
                         if (auto s = string(e, ep)) {
                             if (s->empty())
                                 error(ep, "must not be empty");
                             else
                                 rule.name = *s;
                         }
                     }},
                    {"repositories",
                     [&](const json::value &e, const std::string &ep) {
                         has_repositories = true;
                         auto list = strings(e, ep);
                         if (e.is_array() && e.as_array().empty())
                             error(ep, "must name at least one repository pattern");
                         for (auto &[pattern, pp] : list)
                             resource(pattern, pp, patterns, false);
                     }},
                    {"keys",
                     [&](const json::value &e, const std::string &ep) {
                         has_keys = true;
                         auto list = strings(e, ep);
                         if (e.is_array() && e.as_array().empty())
                             error(ep, "must hold at least one PEM public key");
                         for (auto &[pem, kp] : list) {
                             auto key = PublicKey::from_pem(pem);
                             if (!key) {
                                 error(kp, key.error());
                                 continue;
                             }
                             for (const auto &k : rule.keys)
                                 if (k->id() == key.value()->id())
                                     warning(kp,
                                             "the same key as an earlier one (" + k->id() + ")");
                             rule.keys.push_back(std::move(key).value());
                         }
                     }},
                    {"mode",
                     [&](const json::value &e, const std::string &ep) {
                         if (auto m = mode(e, ep))
                             rule.mode = *m;
                     }},
                    {"requireDigest", [&](const json::value &e, const std::string &ep) {
                         if (auto b = boolean(e, ep))
                             rule.require_digest = *b;
                     }}});
            if (!has_repositories)
                error(rp + ".repositories", "missing: the repository patterns the rule covers");
            if (!has_keys)
                error(rp + ".keys", "missing: the PEM public keys whose signatures it accepts");
            rule.repositories.everything = patterns.everything;
            for (auto id : patterns.exact)
                rule.repositories.exact.insert(*patterns_->exact_names[id]);
            for (auto id : patterns.prefixes)
                rule.repositories.prefixes.insert(*patterns_->prefix_names[id]);
            std::vector<std::string> ids;
            for (const auto &k : rule.keys)
                ids.push_back(k->id());
            std::sort(ids.begin(), ids.end());
            for (const auto &id : ids)
                rule.key_set += (rule.key_set.empty() ? "" : ",") + id;
            p_->trust.push_back(std::move(rule));
        }
    }

    std::optional<Role> role(const json::value &v, const std::string &path) {
        auto s = string(v, path);
        if (!s)
            return std::nullopt;
        if (*s == "Reader")
            return Role::Reader;
        if (*s == "Writer")
            return Role::Writer;
        if (*s == "Manager")
            return Role::Manager;
        error(path, "unknown role " + quoted(*s) + " (expected Reader, Writer or Manager)");
        return std::nullopt;
    }

    void top(const json::object &root) {
        // Teams, service IDs and groups are read first: access policies refer to them.
        auto find = [&](std::string_view key) { return root.if_contains(key); };
        if (auto *v = find("teams"))
            teams(*v, "$.teams");
        if (auto *v = find("serviceIds"))
            service_ids(*v, "$.serviceIds");
        if (auto *v = find("resourceGroups"))
            resource_groups(*v, "$.resourceGroups");
        bool has_org = false;
        fields(root, "$",
               {{"organization",
                 [&](const json::value &v, const std::string &path) {
                     if (auto s = string(v, path)) {
                         if (s->empty())
                             error(path, "must not be empty");
                         p_->organization = *s;
                         has_org = true;
                     }
                 }},
                {"serial",
                 [&](const json::value &v, const std::string &path) {
                     if (v.is_int64() && v.as_int64() >= 0)
                         p_->serial = v.as_int64();
                     else if (v.is_uint64() && v.as_uint64() <= INT64_MAX)
                         p_->serial = static_cast<std::int64_t>(v.as_uint64());
                     else
                         error(path, "must be a non-negative integer");
                 }},
                {"mode",
                 [&](const json::value &v, const std::string &path) {
                     if (auto m = mode(v, path))
                         p_->mode = *m;
                 }},
                {"imageAccess",
                 [&](const json::value &v, const std::string &path) { image_access(v, path); }},
                {"namespaceAccess",
                 [&](const json::value &v, const std::string &path) {
                     if (auto *o = object(v, path))
                         fields(*o, path,
                                {{"enabled", [&](const json::value &e, const std::string &ep) {
                                      if (auto b = boolean(e, ep))
                                          p_->namespace_access_enabled = *b;
                                  }}});
                 }},
                {"registryAccess",
                 [&](const json::value &v, const std::string &path) { registry_access(v, path); }},
                {"teams", [](const json::value &, const std::string &) {}},
                {"serviceIds", [](const json::value &, const std::string &) {}},
                {"resourceGroups", [](const json::value &, const std::string &) {}},
                {"accessPolicies",
                 [&](const json::value &v, const std::string &path) { access_policies(v, path); }},
                {"defaultRoles",
                 [&](const json::value &v, const std::string &path) {
                     if (!v.is_array()) {
                         error(path, "must be an array of roles");
                         return;
                     }
                     std::size_t i = 0;
                     for (const auto &r : v.as_array())
                         if (auto role_value = role(r, path + "[" + std::to_string(i++) + "]"))
                             p_->default_grants.by_role[static_cast<int>(*role_value)].everything =
                                 true;
                 }},
                {"requireSignIn",
                 [&](const json::value &v, const std::string &path) {
                     if (auto b = boolean(v, path))
                         p_->require_sign_in = *b;
                 }},
                {"hardening",
                 [&](const json::value &v, const std::string &path) { hardening(v, path); }},
                {"trust", [&](const json::value &v, const std::string &path) { trust(v, path); }}});
        if (!has_org)
            error("$.organization", "missing: the policy must name its organization");
        if (p_->image_access_enabled && strict_) {
            auto owners = p_->teams.find("owners");
            if (owners == p_->teams.end() || owners->second.empty())
                warning("$.teams.owners", "the owners team is empty while Image Access Management "
                                          "is on: nobody is exempt from it");
        }
    }

    void teams(const json::value &v, const std::string &path) {
        auto *o = object(v, path);
        if (!o)
            return;
        for (const auto &kv : *o) {
            std::string child = path + "." + std::string(kv.key());
            std::vector<std::string> members;
            for (auto &[m, mp] : strings(kv.value(), child)) {
                if (m.empty())
                    error(mp, "must not be empty");
                members.push_back(m);
                team_members_.insert(m);
            }
            if (kv.key() == "owners")
                p_->owners.insert(members.begin(), members.end());
            p_->teams[std::string(kv.key())] = std::move(members);
        }
    }

    void service_ids(const json::value &v, const std::string &path) {
        for (auto &[id, child] : strings(v, path)) {
            if (id.empty())
                error(child, "must not be empty");
            if (team_members_.contains(id))
                error(child, "service ID " + quoted(id) + " is also a team member");
            p_->service_ids.insert(id);
        }
    }

    void resource_groups(const json::value &v, const std::string &path) {
        auto *o = object(v, path);
        if (!o)
            return;
        for (const auto &kv : *o) {
            std::string child = path + "." + std::string(kv.key());
            RoleGrant set;
            for (auto &[pattern, pp] : strings(kv.value(), child))
                resource(pattern, pp, set, false);
            set.normalize();
            groups_[std::string(kv.key())] = std::move(set);
        }
    }

    void access_policies(const json::value &v, const std::string &path) {
        if (!v.is_array()) {
            error(path, "must be an array of access policies");
            return;
        }
        std::size_t index = 0;
        for (const auto &item : v.as_array()) {
            std::string ip = path + "[" + std::to_string(index++) + "]";
            auto *o = object(item, ip);
            if (!o)
                continue;
            std::vector<std::string> users;
            std::vector<Role> roles;
            RoleGrant resources;
            bool has_subjects = false, has_roles = false, has_resources = false;
            fields(*o, ip,
                   {{"subjects",
                     [&](const json::value &sv, const std::string &sp) {
                         has_subjects = true;
                         for (auto &[subject, sub_path] : strings(sv, sp))
                             subject_users(subject, sub_path, users);
                     }},
                    {"roles",
                     [&](const json::value &rv, const std::string &rp) {
                         has_roles = true;
                         if (!rv.is_array()) {
                             error(rp, "must be an array of roles");
                             return;
                         }
                         std::size_t i = 0;
                         for (const auto &r : rv.as_array())
                             if (auto role_value = role(r, rp + "[" + std::to_string(i++) + "]"))
                                 roles.push_back(*role_value);
                     }},
                    {"resources", [&](const json::value &rv, const std::string &rp) {
                         has_resources = true;
                         for (auto &[pattern, pp] : strings(rv, rp))
                             resource(pattern, pp, resources, true);
                     }}});
            if (!has_subjects)
                error(ip + ".subjects", "missing");
            if (!has_roles)
                error(ip + ".roles", "missing");
            if (!has_resources)
                error(ip + ".resources", "missing");
            resources.normalize();
            for (const auto &user : users)
                for (Role r : roles)
                    p_->grants_by_user[user].by_role[static_cast<int>(r)].add(resources);
        }
    }

    void subject_users(const std::string &subject, const std::string &path,
                       std::vector<std::string> &users) {
        auto colon = subject.find(':');
        std::string kind = subject.substr(0, colon == std::string::npos ? 0 : colon);
        std::string name = colon == std::string::npos ? "" : subject.substr(colon + 1);
        if (kind == "user") {
            if (!team_members_.contains(name))
                error(path, "subject " + quoted(subject) + " names no declared team member");
            users.push_back(name);
        } else if (kind == "serviceId") {
            if (!p_->service_ids.contains(name))
                error(path, "subject " + quoted(subject) + " names no declared service ID");
            users.push_back(name);
        } else if (kind == "team") {
            auto it = p_->teams.find(name);
            if (it == p_->teams.end())
                error(path, "subject " + quoted(subject) + " names no declared team");
            else
                users.insert(users.end(), it->second.begin(), it->second.end());
        } else {
            error(path, "unknown subject " + quoted(subject) +
                            " (expected user:NAME, team:NAME or serviceId:NAME)");
        }
    }

    void image_access(const json::value &v, const std::string &path) {
        auto *o = object(v, path);
        if (!o)
            return;
        fields(*o, path,
               {{"enabled",
                 [&](const json::value &e, const std::string &ep) {
                     if (auto b = boolean(e, ep))
                         p_->image_access_enabled = *b;
                 }},
                {"organizationNamespaces",
                 [&](const json::value &e, const std::string &ep) {
                     namespaces(e, ep, p_->organization_namespaces);
                 }},
                {"dockerOfficial",
                 [&](const json::value &e, const std::string &ep) {
                     setting(e, ep, p_->docker_official);
                 }},
                {"verifiedPublisher",
                 [&](const json::value &e, const std::string &ep) {
                     setting(e, ep, p_->verified_publisher);
                 }},
                {"sponsoredOpenSource",
                 [&](const json::value &e, const std::string &ep) {
                     setting(e, ep, p_->sponsored_open_source);
                 }},
                {"verifiedPublisherNamespaces",
                 [&](const json::value &e, const std::string &ep) {
                     namespaces(e, ep, p_->verified_publisher_namespaces);
                 }},
                {"sponsoredOpenSourceNamespaces",
                 [&](const json::value &e, const std::string &ep) {
                     namespaces(e, ep, p_->sponsored_open_source_namespaces);
                 }},
                {"repositoryAllowlist", [&](const json::value &e, const std::string &ep) {
                     for (auto &[entry, child] : strings(e, ep)) {
                         if (entry.ends_with("/*")) {
                             auto ref = parse_reference(entry.substr(0, entry.size() - 2) + "/x");
                             if (!ref || entry.find('*') != entry.size() - 1)
                                 error(child, "invalid repository pattern " + quoted(entry));
                             else
                                 p_->repository_allowlist.prefixes.insert(
                                     ref->match_name().substr(0, ref->match_name().size() - 2));
                             continue;
                         }
                         auto ref = parse_reference(entry);
                         std::string_view before_digest =
                             std::string_view(entry).substr(0, entry.find('@'));
                         bool has_tag =
                             before_digest.find(':', before_digest.find('/') == std::string::npos
                                                         ? 0
                                                         : before_digest.find('/')) !=
                             std::string_view::npos;
                         if (!ref)
                             error(child, ref.error());
                         else if (has_tag)
                             error(child, "a repository allowlist entry names a repository, "
                                          "without tag (a digest may pin it): " +
                                              quoted(entry));
                         else if (!ref->digest.empty())
                             p_->repository_allowlist_pinned.insert(ref->match_name() + "@" +
                                                                    ref->digest);
                         else
                             p_->repository_allowlist.exact.insert(ref->match_name());
                     }
                 }}});
    }

    void registry_access(const json::value &v, const std::string &path) {
        auto *o = object(v, path);
        if (!o)
            return;
        fields(*o, path,
               {{"enabled",
                 [&](const json::value &e, const std::string &ep) {
                     if (auto b = boolean(e, ep))
                         p_->registry_access_enabled = *b;
                 }},
                {"allowedRegistries", [&](const json::value &e, const std::string &ep) {
                     for (auto &[r, child] : strings(e, ep)) {
                         auto ref = parse_reference(r + "/x/y");
                         if (r.empty() || r.find('/') != std::string::npos || !ref)
                             error(child, "invalid registry name " + quoted(r));
                         else
                             p_->allowed_registries.insert(canonical_registry(r));
                     }
                 }}});
    }

    void hardening(const json::value &v, const std::string &path) {
        auto *o = object(v, path);
        if (!o)
            return;
        Hardening &h = p_->hardening;
        bool host_network_given = false;
        fields(
            *o, path,
            {{"protectedPaths",
              [&](const json::value &e, const std::string &ep) {
                  for (auto &[pp, child] : strings(e, ep)) {
                      if (pp.empty() || pp.front() != '/')
                          error(child, "must be an absolute path: " + quoted(pp));
                      else
                          h.protected_paths.push_back(normalize_path(pp));
                  }
              }},
             {"privileged",
              [&](const json::value &e, const std::string &ep) { setting(e, ep, h.privileged); }},
             {"hostNamespaces", [&](const json::value &e,
                                    const std::string &ep) { setting(e, ep, h.host_namespaces); }},
             {"hostNetwork",
              [&](const json::value &e, const std::string &ep) {
                  setting(e, ep, h.host_network);
                  host_network_given = true;
              }},
             {"capAdd",
              [&](const json::value &e, const std::string &ep) { setting(e, ep, h.cap_add); }},
             {"allowedCapabilities",
              [&](const json::value &e, const std::string &ep) {
                  h.allowed_capabilities.clear();
                  for (auto &[cap, child] : strings(e, ep))
                      h.allowed_capabilities.insert(canonical_capability(cap));
              }},
             {"devices",
              [&](const json::value &e, const std::string &ep) { setting(e, ep, h.devices); }},
             {"securityOptions",
              [&](const json::value &e, const std::string &ep) {
                  setting(e, ep, h.security_options);
              }},
             {"sysctls",
              [&](const json::value &e, const std::string &ep) { setting(e, ep, h.sysctls); }},
             {"imageImport",
              [&](const json::value &e, const std::string &ep) { setting(e, ep, h.image_import); }},
             {"imageBuild",
              [&](const json::value &e, const std::string &ep) { setting(e, ep, h.image_build); }},
             // Parsed by earlier versions, never read: a policy that has it still loads, in
             // strict mode too, with a warning (imagegate's own plugin always needs Manager).
             {"pluginSelfProtection",
              [&](const json::value &, const std::string &ep) {
                  warning(ep, "has no effect (ignored): changing imagegate's own plugin always "
                              "needs the Manager role");
              }},
             {"userNamespaces",
              [&](const json::value &e, const std::string &ep) {
                  Setting s = Setting::Allowed;
                  setting(e, ep, s, "optional", "required");
                  h.user_namespaces_required = s == Setting::Restricted;
              }},
             {"rootInContainer", [&](const json::value &e, const std::string &ep) {
                  Setting s = Setting::Allowed;
                  setting(e, ep, s);
                  h.root_in_container_restricted = s == Setting::Restricted;
              }}});
        if (!host_network_given)
            h.host_network = h.host_namespaces;
    }
};

} // namespace

std::string canonical_capability(std::string_view cap) {
    std::string out(cap);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (out.starts_with("CAP_"))
        out.erase(0, 4);
    return out;
}

PolicyLoad load_policy(std::string_view json_text, bool strict) {
    return Loader(strict).run(json_text);
}

Result<std::vector<TrustRule>> load_trust_rules(std::string_view trust_json) {
    std::string text = "{\"organization\":\"-\",\"trust\":";
    text += trust_json;
    text += "}";
    auto load = load_policy(text, false);
    if (!load.policy) {
        for (const auto &d : load.diagnostics)
            if (d.severity == Diagnostic::Severity::Error)
                return Error{"trust rules: " + d.str()};
        return Error{"trust rules: cannot be read"};
    }
    return load.policy->trust;
}

std::string_view default_policy_json() {
    return R"({
  "organization": "default",
  "serial": 0,
  "mode": "enforce",
  "imageAccess": {
    "enabled": true,
    "organizationNamespaces": [],
    "dockerOfficial": "allowed",
    "verifiedPublisher": "allowed",
    "sponsoredOpenSource": "restricted",
    "verifiedPublisherNamespaces": [
      "bitnami", "grafana", "hashicorp", "datadog", "elastic", "jetbrains", "mirantis",
      "circleci", "newrelic", "sonatype", "atlassian", "ubuntu", "rancher", "portainer",
      "paketobuildpacks", "gitlab", "jfrog", "cloudbees", "kasmweb", "snyk", "sysdig",
      "aquasec", "anchore", "localstack", "mongodb", "redis", "couchbase", "neo4j", "cockroachdb",
      "amazon", "microsoft", "google", "ibmcom", "oracle", "docker"
    ],
    "sponsoredOpenSourceNamespaces": [],
    "repositoryAllowlist": []
  },
  "namespaceAccess": { "enabled": false },
  "registryAccess": { "enabled": false, "allowedRegistries": [] },
  "defaultRoles": ["Manager"],
  "requireSignIn": false,
  "hardening": {
    "protectedPaths": [],
    "privileged": "restricted",
    "hostNamespaces": "restricted",
    "capAdd": "restricted",
    "imageImport": "allowed",
    "imageBuild": "allowed",
    "userNamespaces": "optional",
    "rootInContainer": "allowed"
  }
}
)";
}

} // namespace imagegate
