#include "containerd/verifier_cache.hpp"

#include "common/config.hpp"
#include "common/files.hpp"
#include "policy/reference.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string.h> // memmem

namespace imagegate {

namespace {

constexpr std::string_view kMagic = "imagegate-verifier-policy 1";

// Values are one line each: backslash, newline and carriage return escaped.
std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else
            out.push_back(c);
    }
    return out;
}

std::optional<std::string> unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out.push_back(s[i]);
            continue;
        }
        if (++i == s.size())
            return std::nullopt;
        if (s[i] == '\\')
            out.push_back('\\');
        else if (s[i] == 'n')
            out.push_back('\n');
        else if (s[i] == 'r')
            out.push_back('\r');
        else
            return std::nullopt;
    }
    return out;
}

const char *setting_text(Setting s) {
    return s == Setting::Allowed ? "allowed" : "restricted";
}

void put(std::string &out, std::string_view tag, std::string_view value) {
    out.append(tag);
    out.push_back(' ');
    out.append(escape(value));
    out.push_back('\n');
}

// A set is one line, "TAG<TAB>member<TAB>member...": a reader that needs one member finds it
// with memmem over the line instead of hashing ten thousand strings. Members are validated
// names and patterns; one with a tab, newline or backslash makes the policy not cacheable.
bool member_ok(std::string_view s) {
    return !s.empty() && s.find_first_of("\t\n\r\\") == std::string_view::npos;
}

bool put_members(std::string &out, std::string_view tag,
                 const std::vector<std::string_view> &members) {
    out.append(tag);
    out.push_back('\t');
    for (std::size_t i = 0; i < members.size(); ++i) {
        if (!member_ok(members[i]))
            return false;
        if (i)
            out.push_back('\t');
        out.append(members[i]);
    }
    out.push_back('\n');
    return true;
}

bool put_set(std::string &out, std::string_view tag, const StringSet &set) {
    return put_members(out, tag, std::vector<std::string_view>(set.begin(), set.end()));
}

// A resource set's members: "*", "=NAME" (exact), "/PREFIX" (for "PREFIX/*").
bool put_resources(std::string &out, std::string_view tag, const ResourceSet &set) {
    std::vector<std::string> owned;
    owned.reserve(set.exact.size() + set.prefixes.size() + 1);
    if (set.everything)
        owned.emplace_back("*");
    for (const auto &s : set.exact)
        owned.push_back("=" + s);
    for (const auto &s : set.prefixes)
        owned.push_back("/" + s);
    return put_members(out, tag, std::vector<std::string_view>(owned.begin(), owned.end()));
}

// Whether `token` is one whole member of a set line's members.
bool has_member(std::string_view members, std::string_view token) {
    if (token.empty())
        return false;
    const char *begin = members.data(), *end = begin + members.size();
    for (const char *at = begin; at < end;) {
        auto *hit = static_cast<const char *>(
            ::memmem(at, static_cast<std::size_t>(end - at), token.data(), token.size()));
        if (!hit)
            return false;
        const char *after = hit + token.size();
        if ((hit == begin || hit[-1] == '\t') && (after == end || *after == '\t'))
            return true;
        at = hit + 1;
    }
    return false;
}

template <class F> void each_member(std::string_view members, F &&f) {
    while (!members.empty()) {
        std::size_t tab = members.find('\t');
        f(members.substr(0, tab));
        if (tab == std::string_view::npos)
            break;
        members.remove_prefix(tab + 1);
    }
}

// What one reference can look up (decide_image): its Docker Hub namespace, its registry, and
// its match name in resource sets (ResourceSet::matches: equal, or under a prefix at a '/').
// A field added to Policy changes its size: put it in a field list of policy/policy.hpp if a
// pull decision reads it (or say there that pulls do not), then update this number.
static_assert(sizeof(Policy) == 1232, "Policy changed: does a pull decision read the new field? "
                                      "See the field lists in policy/policy.hpp");

// The entry of a field list (policy/policy.hpp) with this name, or null.
template <class Field, std::size_t N>
const Field *find_field(const Field (&fields)[N], std::string_view name) {
    for (const Field &f : fields)
        if (f.name == name)
            return &f;
    return nullptr;
}

struct Slice {
    bool keep_all = true;
    std::string namespace_, registry, name;
};

void read_set(std::string_view members, const std::string &wanted, const Slice &slice,
              StringSet &set) {
    if (slice.keep_all)
        each_member(members, [&](std::string_view m) { set.emplace(m); });
    else if (has_member(members, wanted))
        set.emplace(wanted);
}

bool read_resources(std::string_view members, const Slice &slice, ResourceSet &set) {
    if (slice.keep_all) {
        bool ok = true;
        each_member(members, [&](std::string_view m) {
            if (m == "*")
                set.everything = true;
            else if (m.size() > 1 && m.front() == '=')
                set.exact.emplace(m.substr(1));
            else if (m.size() > 1 && m.front() == '/')
                set.prefixes.emplace(m.substr(1));
            else
                ok = false;
        });
        return ok;
    }
    if (has_member(members, "*"))
        set.everything = true;
    if (slice.name.empty())
        return true;
    if (has_member(members, "=" + slice.name))
        set.exact.emplace(slice.name);
    std::string_view name = slice.name;
    for (std::size_t slash = name.rfind('/'); slash != std::string_view::npos && slash > 0;
         slash = name.rfind('/', slash - 1)) {
        std::string prefix(name.substr(0, slash));
        if (has_member(members, "/" + prefix))
            set.prefixes.emplace(std::move(prefix));
    }
    return true;
}

std::string stat_identity(const std::string &path) {
    struct stat st {};
    if (path.empty())
        return "-";
    if (::stat(path.c_str(), &st) != 0)
        return "missing(" + std::to_string(errno) + ")";
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
           std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ctim.tv_sec) + "." +
           std::to_string(st.st_ctim.tv_nsec) + ":" + std::to_string(st.st_mode) + ":" +
           std::to_string(st.st_uid);
}

bool changed_since(const std::string &path, std::chrono::system_clock::time_point since) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return false;
    auto ns = [](const timespec &t) { return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; };
    return std::max(ns(st.st_mtim), ns(st.st_ctim)) >=
           std::chrono::duration_cast<std::chrono::nanoseconds>(since.time_since_epoch()).count();
}

std::string join(const std::string &dir, std::string_view name) {
    return dir.empty() || dir.back() == '/' ? dir + std::string(name)
                                            : dir + "/" + std::string(name);
}

// Only a file this user owns, that nobody else can write, in a directory alike: whoever could
// write the compact form could widen what containerd pulls.
bool trusted(const struct stat &st) {
    return st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

std::optional<std::string> read_trusted(const std::string &dir, const std::string &path) {
    struct stat dst {};
    if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode) || !trusted(dst))
        return std::nullopt;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return std::nullopt;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !trusted(st) ||
        static_cast<std::size_t>(st.st_size) > kMaxVerifierCacheBytes) {
        ::close(fd);
        return std::nullopt;
    }
    auto data = read_fd(fd, path, kMaxVerifierCacheBytes);
    ::close(fd);
    if (!data)
        return std::nullopt;
    return std::move(data).value();
}

// Temporary file and rename: readers see the old compact form or the new one. No fsync: a
// form lost or cut short by a crash fails its end check and is rebuilt.
void write_compact(const std::string &dir, const std::string &path, std::string_view bytes) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return;
    struct stat dst {};
    if (::stat(dir.c_str(), &dst) != 0 || !trusted(dst))
        return;
    // Its temporary file is named like policy sync's, so that its clean-up removes one a crash
    // left. Failing to write only costs the next verifier time.
    AtomicWrite how;
    how.sync = false;
    (void)write_file_atomically(path, bytes, how);
}

} // namespace

std::shared_ptr<const Policy> policy_for_user(const Policy &p, std::string_view user) {
    auto c = std::make_shared<Policy>();
    c->organization = p.organization;
    c->serial = p.serial;
    c->mode = p.mode;
    c->image_access_enabled = p.image_access_enabled;
    c->organization_namespaces = p.organization_namespaces;
    c->docker_official = p.docker_official;
    c->verified_publisher = p.verified_publisher;
    c->sponsored_open_source = p.sponsored_open_source;
    c->verified_publisher_namespaces = p.verified_publisher_namespaces;
    c->sponsored_open_source_namespaces = p.sponsored_open_source_namespaces;
    c->repository_allowlist = p.repository_allowlist;
    c->repository_allowlist_pinned = p.repository_allowlist_pinned;
    c->trust = p.trust;
    c->trust_source = p.trust_source;
    c->namespace_access_enabled = p.namespace_access_enabled;
    c->registry_access_enabled = p.registry_access_enabled;
    c->allowed_registries = p.allowed_registries;
    c->require_sign_in = p.require_sign_in;
    if (user.empty()) {
        c->default_grants = p.default_grants;
    } else {
        if (const Grants *g = p.grants_for(user))
            c->grants_by_user.emplace(std::string(user), *g);
        if (p.owners.contains(user))
            c->owners.emplace(user);
    }
    return c;
}

std::string serialize_verifier_policy(const ActivePolicy &active, std::string_view user,
                                      std::string_view key) {
    const Policy &p = *active.policy;
    std::string out;
    out.reserve(24 * (p.organization_namespaces.size() + p.verified_publisher_namespaces.size() +
                      p.sponsored_open_source_namespaces.size()) +
                4096);
    out.append(kMagic);
    out.push_back('\n');
    put(out, "key", key);
    put(out, "user", user);
    put(out, "source", active.source);
    put(out, "syncedAt",
        std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           active.synced_at.time_since_epoch())
                           .count()));
    put(out, "organization", p.organization);
    put(out, "serial", std::to_string(p.serial));
    put(out, "mode", p.mode == Mode::Audit ? "audit" : "enforce");
    for (const auto &f : kPullFlags)
        put(out, f.name, p.*f.member ? "1" : "0");
    for (const auto &f : kPullSettings)
        put(out, f.name, setting_text(p.*f.member));
    put(out, "owner", !user.empty() && p.owners.contains(user) ? "1" : "0");
    const Grants *grants = user.empty() ? &p.default_grants : p.grants_for(user);
    put(out, "hasGrants", grants ? "1" : "0");
    static const Grants kNone;
    const Grants &g = grants ? *grants : kNone;
    bool ok = put_resources(out, "grantReader", g.resources(Role::Reader)) &&
              put_resources(out, "grantWriter", g.resources(Role::Writer)) &&
              put_resources(out, "grantManager", g.resources(Role::Manager)) &&
              put_resources(out, "allowlist", p.repository_allowlist);
    for (const auto &f : kPullSets)
        ok = ok && put_set(out, f.name, p.*f.member);
    ok = ok && put_set(out, "allowlistPinned", p.repository_allowlist_pinned);
    if (!p.trust_source.empty())
        put(out, "trust", p.trust_source);
    if (!ok)
        return {};
    put(out, "end", std::to_string(out.size()));
    return out;
}

Result<ActivePolicy> parse_verifier_policy(std::string_view text, std::string_view user,
                                           std::string_view key,
                                           std::optional<std::string_view> only_for) {
    Slice slice;
    if (only_for) {
        slice.keep_all = false;
        // An invalid reference is denied before any lookup: nothing to keep.
        if (auto ref = parse_reference(*only_for)) {
            slice.namespace_ = std::string(ref->first_component());
            slice.registry = ref->registry_key();
            slice.name = ref->match_name();
        }
    }
    auto bad = [](std::string why) { return Error{"compact policy: " + why}; };
    if (!text.starts_with(kMagic) || text.size() <= kMagic.size() || text[kMagic.size()] != '\n')
        return bad("not one (or another version)");
    auto p = std::make_shared<Policy>();
    ActivePolicy active;
    std::array<ResourceSet, kRoleCount> grant_sets;
    bool has_grants = false, owner = false, ended = false, user_seen = false, key_seen = false;
    auto flag = [](std::string_view v, bool &out) {
        if (v != "0" && v != "1")
            return false;
        out = v == "1";
        return true;
    };
    auto setting = [](std::string_view v, Setting &out) {
        if (v == "allowed")
            out = Setting::Allowed;
        else if (v == "restricted")
            out = Setting::Restricted;
        else
            return false;
        return true;
    };
    auto integer = [](std::string_view v, std::int64_t &out) {
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        return ec == std::errc() && end == v.data() + v.size();
    };
    std::size_t pos = kMagic.size() + 1;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos)
            return bad("cut short");
        std::string_view line = text.substr(pos, eol - pos);
        std::size_t line_start = pos;
        pos = eol + 1;
        std::size_t separator = line.find_first_of(" \t");
        if (separator == std::string_view::npos)
            return bad("malformed line");
        std::string_view tag = line.substr(0, separator), raw = line.substr(separator + 1);
        bool ok = true;
        if (line[separator] == '\t') { // a set
            if (const PolicySetField *f = find_field(kPullSets, tag))
                read_set(raw, f->slice == SliceBy::Namespace ? slice.namespace_ : slice.registry,
                         slice, (*p).*f->member);
            else if (tag == "allowlist")
                ok = read_resources(raw, slice, p->repository_allowlist);
            else if (tag == "allowlistPinned")
                each_member(raw,
                            [&](std::string_view m) { p->repository_allowlist_pinned.emplace(m); });
            else if (tag == "grantReader")
                ok = read_resources(raw, slice, grant_sets[static_cast<int>(Role::Reader)]);
            else if (tag == "grantWriter")
                ok = read_resources(raw, slice, grant_sets[static_cast<int>(Role::Writer)]);
            else if (tag == "grantManager")
                ok = read_resources(raw, slice, grant_sets[static_cast<int>(Role::Manager)]);
            else
                ok = false;
            if (!ok)
                return bad("bad line \"" + std::string(tag) + "\"");
            continue;
        }
        std::string owned;
        std::string_view value = raw;
        if (raw.find('\\') != std::string_view::npos) {
            auto u = unescape(raw);
            if (!u)
                return bad("malformed escape");
            owned = std::move(*u);
            value = owned;
        }
        if (tag == "key")
            ok = (key_seen = value == key);
        else if (tag == "user")
            ok = (user_seen = value == user);
        else if (tag == "source")
            active.source = std::string(value);
        else if (tag == "syncedAt") {
            std::int64_t ns = 0;
            ok = integer(value, ns);
            active.synced_at = Clock::time_point(
                std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
        } else if (tag == "organization")
            p->organization = std::string(value);
        else if (tag == "trust") {
            auto rules = load_trust_rules(value);
            ok = rules.ok();
            if (ok) {
                p->trust = std::move(rules).value();
                p->trust_source = std::string(value);
            }
        } else if (tag == "serial")
            ok = integer(value, p->serial);
        else if (tag == "mode") {
            ok = value == "audit" || value == "enforce";
            p->mode = value == "audit" ? Mode::Audit : Mode::Enforce;
        } else if (const PolicyFlagField *f = find_field(kPullFlags, tag))
            ok = flag(value, (*p).*f->member);
        else if (const PolicySettingField *f = find_field(kPullSettings, tag))
            ok = setting(value, (*p).*f->member);
        else if (tag == "owner")
            ok = flag(value, owner);
        else if (tag == "hasGrants")
            ok = flag(value, has_grants);
        else if (tag == "end") {
            std::int64_t size = 0;
            ok = integer(value, size) && static_cast<std::size_t>(size) == line_start &&
                 pos == text.size();
            ended = ok;
        } else
            ok = false;
        if (!ok) {
            if (tag == "key")
                return bad("made from other sources");
            if (tag == "user")
                return bad("made for another containerdUser");
            return bad("bad line \"" + std::string(tag) + "\"");
        }
    }
    if (!ended)
        return bad("cut short");
    if (!key_seen || !user_seen)
        return bad("no key");
    Grants grants = Grants::from(grant_sets);
    if (user.empty()) {
        p->default_grants = grants;
    } else {
        if (has_grants)
            p->grants_by_user.emplace(std::string(user), grants);
        if (owner)
            p->owners.emplace(user);
    }
    active.policy = std::move(p);
    return active;
}

VerifierCacheKey verifier_cache_key(const Config &config, std::chrono::system_clock::time_point now,
                                    const std::string &imagegate_binary) {
    VerifierCacheKey k;
    // A policy given without a configuration file (--policy) is for trying: nothing is written.
    if (config.path.empty())
        return k;
    std::vector<std::string> sources;
    if (!config.policy_url.empty()) {
        sources = {join(config.cache_dir, kCacheBundleFile),
                   join(config.cache_dir, kCacheStateFile), config.public_key};
    } else if (!config.policy_file.empty()) {
        sources = {config.policy_file};
    } // else the shipped default policy, which the imagegate binary's identity covers
    // The binary by its file alone (not its path): imagegate-containerd-verify and the
    // imagegate it hands over to must compute the same key.
    std::string identity = std::string(kMagic) + "\nversion " IMAGEGATE_VERSION "\nimagegate " +
                           stat_identity(imagegate_binary) + "\npolicyFile " + config.policy_file +
                           "\npolicyUrl " + config.policy_url + "\npublicKey " + config.public_key +
                           "\norganization " + config.organization + "\ncacheDir " +
                           config.cache_dir + "\ncontainerdUser " + config.containerd_user + "\n";
    k.storable = true;
    for (const auto &s : sources) {
        identity += "source " + s + " " + stat_identity(s) + "\n";
        if (changed_since(s, now - kVerifierCacheSettle))
            k.storable = false;
    }
    // Compared as text: hashing it would cost more (OpenSSL 3 fetches a digest provider).
    k.key = std::move(identity);
    return k;
}

std::optional<ActivePolicy> read_verifier_cache(const Config &config, const VerifierCacheKey &key,
                                                std::string_view reference) {
    if (key.key.empty() || config.cache_dir.empty())
        return std::nullopt;
    auto text = read_trusted(config.cache_dir, join(config.cache_dir, kVerifierCacheFile));
    if (!text)
        return std::nullopt;
    auto compact = parse_verifier_policy(*text, config.containerd_user, key.key, reference);
    if (!compact)
        return std::nullopt;
    return std::move(compact.value());
}

void store_verifier_cache(const Config &config, const VerifierCacheKey &key,
                          const ActivePolicy &full) {
    if (key.key.empty() || !key.storable || config.cache_dir.empty())
        return;
    ActivePolicy compact = full;
    compact.policy = policy_for_user(*full.policy, config.containerd_user);
    std::string text = serialize_verifier_policy(compact, config.containerd_user, key.key);
    if (!text.empty())
        write_compact(config.cache_dir, join(config.cache_dir, kVerifierCacheFile), text);
}

} // namespace imagegate
