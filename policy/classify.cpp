#include "policy/classify.hpp"

#include "policy/go_http.hpp"
#include "policy/go_json.hpp"
#include "policy/paths.hpp"
#include "policy/reference.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace imagegate {
namespace json = boost::json;

namespace {

inline constexpr std::size_t kMaxQueryParameters = 256;
inline constexpr std::size_t kMaxBodyItems = 4096; // binds, mounts, caps ... per request
inline constexpr std::string_view kTooManyItems = "an array of at most 4096 items";

struct Query {
    std::vector<std::pair<std::string, std::string>> pairs;
    // Go's Form.Get returns the first value; a parameter repeated with different values is
    // refused so that imagegate and dockerd can never read different values.
    Result<std::string> get(std::string_view key) const {
        const std::string *first = nullptr;
        for (const auto &[k, v] : pairs) {
            if (k != key)
                continue;
            if (!first)
                first = &v;
            else if (*first != v)
                return Error{"query parameter \"" + std::string(key) +
                             "\" is repeated with different values"};
        }
        return first ? *first : std::string();
    }
    std::vector<std::string> all(std::string_view key) const {
        std::vector<std::string> out;
        for (const auto &[k, v] : pairs)
            if (k == key)
                out.push_back(v);
        return out;
    }
};

Result<Query> parse_query(std::string_view raw) {
    Query q;
    if (raw.find(';') != std::string_view::npos)
        return Error{"query contains ';'"};
    std::size_t start = 0;
    while (start <= raw.size() && !raw.empty()) {
        auto amp = raw.find('&', start);
        std::string_view pair =
            raw.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!pair.empty()) {
            if (q.pairs.size() >= kMaxQueryParameters)
                return Error{"too many query parameters"};
            auto eq = pair.find('=');
            auto key = go_percent_decode(pair.substr(0, eq), true);
            auto value =
                go_percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
            if (!key || !value)
                return Error{"query is not cleanly percent-encoded"};
            q.pairs.emplace_back(std::move(key).value(), std::move(value).value());
        }
        if (amp == std::string_view::npos)
            break;
        start = amp + 1;
    }
    return q;
}

// "/v1.41/images/json" → "/images/json"; dockerd routes "/v{version:[0-9.]+}/..." and unversioned.
std::string_view strip_version(std::string_view path, std::string *version) {
    if (path.size() > 2 && path[0] == '/' && path[1] == 'v') {
        std::size_t i = 2;
        while (i < path.size() && ((path[i] >= '0' && path[i] <= '9') || path[i] == '.'))
            ++i;
        if (i > 2 && i < path.size() && path[i] == '/') {
            *version = std::string(path.substr(2, i - 2));
            return path.substr(i);
        }
    }
    return path;
}

// A path pattern as dockerd's router writes it (gorilla/mux): literal text and variables
// `{id}` (Go's regexp `[^/]+`), `{name:.*}` and `{id:.+}` (`.` is any byte but '\n'). The
// route table's patterns (docs/reading-requests.md, "The route table") keep to a grammar this
// matcher reads exactly as mux's anchored regexp does: a variable is followed by '/' or ends
// the pattern, and at most one is `.*`/`.+`. Matched in linear time; the values of the first
// two variables go to `vars`.
struct PatternVars {
    std::string_view value[2];
    int count = 0;
    void add(std::string_view v) {
        if (count < 2)
            value[count] = v;
        ++count;
    }
};

enum class VarKind { Segment, Any, AnyNonEmpty };

// Reads the variable at pattern[at] == '{'; `at` moves past its '}'.
VarKind read_pattern_var(std::string_view pattern, std::size_t &at) {
    auto close = pattern.find('}', at);
    std::string_view spec = pattern.substr(at + 1, close - at - 1);
    at = close == std::string_view::npos ? pattern.size() : close + 1;
    auto colon = spec.find(':');
    if (colon == std::string_view::npos)
        return VarKind::Segment;
    return spec.substr(colon + 1) == ".+" ? VarKind::AnyNonEmpty : VarKind::Any;
}

bool match_pattern(std::string_view path, std::string_view pattern, PatternVars *vars) {
    std::size_t p = 0, s = 0;
    while (p < pattern.size()) {
        if (pattern[p] != '{') {
            if (s >= path.size() || path[s] != pattern[p])
                return false;
            ++p, ++s;
            continue;
        }
        VarKind kind = read_pattern_var(pattern, p);
        if (kind == VarKind::Segment) {
            std::size_t end = std::min(path.find('/', s), path.size());
            if (end == s)
                return false;
            vars->add(path.substr(s, end - s));
            s = end;
            continue;
        }
        // The one greedy variable: what follows it is matched from the end of the path
        // (literals and `[^/]+` variables, each bounded by '/'), the variable takes the rest.
        std::string_view tail = pattern.substr(p);
        std::size_t end = path.size(), t = tail.size();
        std::string_view tail_vars[2];
        int tail_count = 0;
        while (t > 0) {
            if (tail[t - 1] != '}') {
                if (end <= s || path[end - 1] != tail[t - 1])
                    return false;
                --t, --end;
                continue;
            }
            std::size_t begin = end;
            while (begin > s && path[begin - 1] != '/')
                --begin;
            if (begin == end)
                return false;
            if (tail_count < 2)
                tail_vars[tail_count++] = path.substr(begin, end - begin);
            end = begin;
            t = tail.rfind('{', t - 1);
            if (t == std::string_view::npos)
                return false;
        }
        std::string_view value = path.substr(s, end - s);
        if (value.find('\n') != std::string_view::npos ||
            (kind == VarKind::AnyNonEmpty && value.empty()))
            return false;
        vars->add(value);
        while (tail_count > 0)
            vars->add(tail_vars[--tail_count]);
        return true;
    }
    return s == path.size();
}

// --- JSON bodies -------------------------------------------------------------------------

using FieldResult = Result<const json::value *>;

// A JSON value read field by field. `mask` (go_key_mask of its keys, or all ones) lets a
// lookup skip a field whose first letter no key has; it is computed for this value when the
// view is made and travels with it, never looked up by the value's address (two objects may
// share an address within one request: a copy in a loop, a reused arena).
struct Obj {
    const json::value *value = nullptr;
    std::uint64_t mask = ~std::uint64_t{0};
    Obj(const json::value *v) : value(v) {} // NOLINT: a plain value converts, unindexed
    Obj(const json::value *v, std::uint64_t m) : value(v), mask(m) {}
};

// For an object read for many fields (a HostConfig: some fifty lookups, most absent).
Obj indexed(const json::value *v) {
    if (!v || !v->is_object() || v->as_object().size() < 8)
        return Obj(v);
    return Obj(v, go_key_mask(v->as_object()));
}

struct BodyReader {
    std::string error;
    const json::value *field(Obj o, std::string_view lower_name) {
        const json::value *obj = o.value;
        if (!obj || !obj->is_object())
            return nullptr;
        if (!go_mask_may_have(o.mask, lower_name))
            return nullptr;
        auto f = go_field(obj->as_object(), lower_name);
        if (!f) {
            if (error.empty())
                error = f.error();
            return nullptr;
        }
        const json::value *v = f.value();
        return v && v->is_null() ? nullptr : v;
    }
    std::optional<std::string> string(Obj obj, std::string_view name) {
        const json::value *v = field(obj, name);
        if (!v)
            return std::nullopt;
        if (!v->is_string()) {
            fail(name, "a string");
            return std::nullopt;
        }
        return std::string(v->as_string());
    }
    bool boolean(Obj obj, std::string_view name) {
        const json::value *v = field(obj, name);
        if (!v)
            return false;
        if (!v->is_bool()) {
            fail(name, "true or false");
            return true; // unreadable: assume the worst
        }
        return v->as_bool();
    }
    std::vector<std::string> strings(Obj obj, std::string_view name) {
        std::vector<std::string> out;
        const json::value *v = field(obj, name);
        if (!v)
            return out;
        if (!v->is_array() || v->as_array().size() > kMaxBodyItems) {
            fail(name, v->is_array() ? kTooManyItems : "an array of strings");
            return out;
        }
        for (const auto &item : v->as_array()) {
            if (!item.is_string()) {
                fail(name, "an array of strings");
                return out;
            }
            out.emplace_back(item.as_string());
        }
        return out;
    }
    const json::array *array(Obj obj, std::string_view name) {
        const json::value *v = field(obj, name);
        if (!v)
            return nullptr;
        if (!v->is_array() || v->as_array().size() > kMaxBodyItems) {
            fail(name, v->is_array() ? kTooManyItems : "an array");
            return nullptr;
        }
        return &v->as_array();
    }
    const json::object *object(Obj obj, std::string_view name) {
        const json::value *v = field(obj, name);
        if (!v)
            return nullptr;
        if (!v->is_object()) {
            fail(name, "an object");
            return nullptr;
        }
        return &v->as_object();
    }
    void fail(std::string_view name, std::string_view want) {
        if (error.empty())
            error = "request body field \"" + std::string(name) + "\" is not " + std::string(want);
    }
};

// A plugin named by a request (a volume, log, network or IPAM driver). dockerd looks a name
// that is no plugin reference up as a legacy plugin: a socket at /run/docker/plugins/NAME.sock,
// joined without a check, so "../../../tmp/x" dials a socket any local user may serve, a
// driver that can hand dockerd "/" to mount (docs/hardening.md). A name with ".." is refused.
void check_plugin_name(BodyReader &r, Obj holder, std::string_view field, std::string_view shown) {
    std::optional<std::string> name = r.string(holder, field);
    if (name && name->find("..") != std::string::npos && r.error.empty())
        r.error = "request body field \"" + std::string(shown) + "\" names the plugin \"" +
                  name->substr(0, 200) +
                  "\": a plugin name with \"..\" reaches a socket outside /run/docker/plugins";
}

bool is_host_mode(const std::optional<std::string> &mode) {
    if (!mode)
        return false;
    std::string m = *mode;
    std::transform(m.begin(), m.end(), m.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return m == "host";
}

// Sysctls that are namespaced per container (dockerd's validation list); anything else
// changes the host kernel.
bool namespaced_sysctl(std::string_view s) {
    static constexpr std::string_view exact[] = {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
        "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
    for (auto e : exact)
        if (s == e)
            return true;
    return s.starts_with("fs.mqueue.") || s.starts_with("net.");
}

bool harmless_security_option(std::string_view opt) {
    return opt == "no-new-privileges" || opt == "no-new-privileges=true" ||
           opt == "no-new-privileges:true" || opt == "apparmor=docker-default" ||
           opt == "apparmor:docker-default";
}

// Local-driver volume options (moby volume/local): "type", "o" and "device" go to mount(2) as
// they are, in dockerd's mount namespace, when a container first uses the volume. A bind ("o"
// holding bind/rbind, or type none) exposes "device" as a host path; tmpfs and network
// filesystems expose nothing of the host; any other type mounts a host block device or a kernel
// filesystem (type=ext4 device=/dev/vda is the host's disk, type=proc a writable host
// /proc/sys, type=overlay o=lowerdir=/etc): those count as host devices.
void bind_volume_options(BodyReader &r, Obj options_holder, std::string_view options_key,
                         const std::string &described, ContainerSettings &s) {
    const json::value *opts = r.field(options_holder, options_key);
    if (!opts)
        return;
    if (!opts->is_object()) {
        r.fail(options_key, "an object");
        return;
    }
    std::string type, flags;
    std::vector<std::string> devices;
    for (const auto &kv : opts->as_object()) {
        std::string key = go_fold(kv.key());
        if (key != "type" && key != "o" && key != "device")
            continue;
        if (!kv.value().is_string()) {
            r.fail(key, "a string");
            return;
        }
        std::string value(kv.value().as_string());
        if (key == "device")
            devices.push_back(value);
        else if (key == "o")
            flags += "," + value + ",";
        else
            type += value;
    }
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    bool bind =
        flags.find(",bind,") != std::string::npos || flags.find(",rbind,") != std::string::npos;
    if (bind || type.empty() || type == "none") {
        for (auto &device : devices)
            s.mounts.push_back({device, described});
    } else if (type != "tmpfs" && type != "nfs" && type != "nfs4" && type != "cifs" &&
               type != "smb3") {
        s.devices.push_back("filesystem type=" + type +
                            (devices.empty() ? "" : " device=" + devices.front()) + " of " +
                            described);
    }
}

// Sysctls outside the namespaced ones change the host kernel; net.* ones do too when the
// container shares the host's network namespace.
void read_sysctls(BodyReader &r, Obj holder, ContainerSettings &s) {
    const json::value *sysctls = r.field(holder, "sysctls");
    if (!sysctls)
        return;
    if (!sysctls->is_object()) {
        r.fail("Sysctls", "an object");
        return;
    }
    for (const auto &kv : sysctls->as_object())
        if (!namespaced_sysctl(kv.key()) ||
            (s.host_network && std::string_view(kv.key()).starts_with("net.")))
            s.sysctls.emplace_back(kv.key());
}

void read_mounts(BodyReader &r, Obj holder, ContainerSettings &s) {
    const json::array *mounts = r.array(holder, "mounts");
    if (!mounts)
        return;
    for (const auto &m : *mounts) {
        if (!m.is_object()) {
            r.fail("Mounts", "an array of objects");
            return;
        }
        std::string type = r.string(&m, "type").value_or("");
        std::transform(type.begin(), type.end(), type.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string source = r.string(&m, "source").value_or("");
        std::string target = r.string(&m, "target").value_or("");
        std::string described = "mount " + type + " " + source + " -> " + target;
        if (type == "bind" || (!source.empty() && source.front() == '/')) {
            s.mounts.push_back({source, described});
        } else if (type == "volume") {
            if (!source.empty())
                s.named_volumes.push_back(source);
        }
        // A volume's DriverConfig.Options are the local driver's mount(2) arguments; they are
        // read whatever the Type says (dockerd refuses VolumeOptions on other types, but
        // reading them costs nothing and leaves no type spelling to argue about). Each
        // mount's objects are read in place: nothing is copied, nothing remembered.
        const json::value *options = r.field(&m, "volumeoptions");
        if (!options)
            continue;
        if (!options->is_object()) {
            r.fail("VolumeOptions", "an object");
            return;
        }
        const json::value *driver = r.field(options, "driverconfig");
        if (!driver)
            continue;
        if (!driver->is_object()) {
            r.fail("DriverConfig", "an object");
            return;
        }
        check_plugin_name(r, driver, "name", "Mounts.VolumeOptions.DriverConfig.Name");
        bind_volume_options(r, driver, "options", described, s);
    }
}

// A network named by the client: "host" is the host's; a built-in mode or container:X is not a
// network; anything else is a name, ID or ID prefix that dockerd resolves
// (docs/reading-requests.md).
void note_network(const std::string &name, ContainerSettings &s) {
    if (is_host_mode(name)) {
        s.host_network = true;
        return;
    }
    if (name.empty() || name == "default" || name == "bridge" || name == "none" ||
        name.starts_with("container:"))
        return;
    if (std::find(s.networks.begin(), s.networks.end(), name) == s.networks.end())
        s.networks.push_back(name);
}

void read_binds(BodyReader &r, Obj host_config, ContainerSettings &s) {
    for (const auto &bind : r.strings(host_config, "binds")) {
        auto colon = bind.find(':');
        if (colon == std::string::npos)
            continue; // an anonymous volume: no host path
        std::string source = bind.substr(0, colon);
        if (!source.empty() && source.front() == '/')
            s.mounts.push_back({source, "bind " + bind});
        else
            s.named_volumes.push_back(source);
    }
}

void read_host_config(BodyReader &r, const json::value *host_config, ContainerSettings &s) {
    if (!host_config)
        return;
    const Obj hc = indexed(host_config);
    read_binds(r, hc, s);
    read_mounts(r, hc, s);
    check_plugin_name(r, hc, "volumedriver", "HostConfig.VolumeDriver");
    if (const json::value *log = r.field(hc, "logconfig"); log && log->is_object())
        check_plugin_name(r, log, "type", "HostConfig.LogConfig.Type");
    if (r.boolean(hc, "privileged"))
        s.privileged = true;
    static constexpr std::pair<std::string_view, std::string_view> modes[] = {
        {"pidmode", "pid"},
        {"ipcmode", "ipc"},
        {"utsmode", "uts"},
        {"usernsmode", "userns"},
        {"cgroupnsmode", "cgroupns"}};
    for (auto [key, name] : modes)
        if (is_host_mode(r.string(hc, key)))
            s.host_namespaces.emplace_back(name);
    std::optional<std::string> network_mode = r.string(hc, "networkmode");
    if (network_mode)
        note_network(*network_mode, s);
    static constexpr std::pair<std::string_view, std::string_view> joinable[] = {
        {"networkmode", "network"}, {"pidmode", "pid"}, {"ipcmode", "ipc"}, {"utsmode", "uts"}};
    for (auto [key, name] : joinable) {
        std::string mode = r.string(hc, key).value_or("");
        if (mode.starts_with("container:"))
            s.joined_namespaces.emplace_back(name, mode.substr(10));
    }
    for (auto &from : r.strings(hc, "volumesfrom"))
        s.volumes_from.push_back(from.substr(0, from.find(':')));
    for (auto &cap : r.strings(hc, "capadd"))
        s.cap_add.push_back(cap);
    for (auto &cap : r.strings(hc, "capabilities"))
        s.cap_add.push_back(cap);
    if (const json::array *devices = r.array(hc, "devices"))
        for (const auto &d : *devices) {
            std::string path = d.is_object() ? r.string(&d, "pathonhost").value_or("?") : "?";
            s.devices.push_back(path);
        }
    for (auto &rule : r.strings(hc, "devicecgrouprules"))
        s.devices.push_back("cgroup rule " + rule);
    for (auto &opt : r.strings(hc, "securityopt"))
        if (!harmless_security_option(opt))
            s.security_options.push_back(opt);
    // dockerd hands MaskedPaths/ReadonlyPaths to the runtime as given (daemon/oci_linux.go): a
    // list that leaves out one of Docker's defaults unmasks /proc as systempaths=unconfined
    // does, and a writable /proc/sys/kernel/core_pattern is host root.
    static constexpr std::string_view masked[] = {
        "/proc/asound",        "/proc/acpi",       "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",          "/sys/firmware"};
    static constexpr std::string_view read_only[] = {"/proc/bus", "/proc/fs", "/proc/irq",
                                                     "/proc/sys", "/proc/sysrq-trigger"};
    auto keeps_defaults = [&](std::string_view key, std::string_view name, auto &defaults) {
        if (!r.field(hc, key))
            return;
        std::vector<std::string> given = r.strings(hc, key);
        for (auto &g : given)
            g = normalize_path(g);
        for (std::string_view d : defaults)
            if (std::find(given.begin(), given.end(), d) == given.end()) {
                s.security_options.push_back(std::string(name) + " without " + std::string(d));
                return;
            }
    };
    keeps_defaults("maskedpaths", "MaskedPaths", masked);
    keeps_defaults("readonlypaths", "ReadonlyPaths", read_only);
    read_sysctls(r, hc, s);
}

Result<json::value> parse_body(const std::string &body, json::storage_ptr storage) {
    auto v = go_parse_json(body, std::move(storage), 64);
    if (!v)
        return v;
    if (!v.value().is_object())
        return Error{"request body is not a JSON object"};
    return v;
}

} // namespace

Result<std::vector<std::pair<std::string, std::string>>> read_query(std::string_view raw_query) {
    auto q = parse_query(raw_query);
    if (!q)
        return Error{q.error()};
    return std::move(q).value().pairs;
}

Result<ContainerSettings> container_settings_from_inspect(const json::value &inspect) {
    if (!inspect.is_object())
        return Error{"the container's inspect reply is not a JSON object"};
    BodyReader r;
    ContainerSettings s;
    read_host_config(r, r.field(&inspect, "hostconfig"), s);
    // dockerd fills in CgroupnsMode "host" itself (its default on cgroup v1 hosts and for API
    // < 1.41): an inspect reply cannot tell that from a requested one.
    std::erase(s.host_namespaces, "cgroupns");
    s.user = r.string(r.field(&inspect, "config"), "user").value_or("");
    if (!r.error.empty())
        return Error{r.error};
    return s;
}

namespace {

// --- The request target, its body's visibility, and the routes ------------------------------

// The parts of a request target that routing reads.
struct Target {
    std::string path; // percent-decoded, without "/v1.41"
    Query query;
};

// The URI as dockerd's router reads it: absolute form cut to its path, percent-decoded, no
// empty, "." or ".." segments, the API version stripped, the query parsed.
Result<Target> read_target(std::string_view request_uri) {
    std::string_view uri = request_uri;
    // Absolute-form request targets: "http://host/v1.41/..." — dockerd routes on the path.
    if (auto scheme = uri.find("://"); scheme != std::string_view::npos && uri.front() != '/') {
        auto path_start = uri.find('/', scheme + 3);
        uri = path_start == std::string_view::npos ? std::string_view("/") : uri.substr(path_start);
    }
    if (uri.empty() || uri.front() != '/')
        return Error{"request URI \"" + std::string(request_uri.substr(0, 200)) +
                     "\" is not a path"};
    if (uri.find('#') != std::string_view::npos)
        return Error{"request URI contains '#'"};
    auto qmark = uri.find('?');
    std::string_view raw_path = uri.substr(0, qmark);
    std::string_view raw_query =
        qmark == std::string_view::npos ? std::string_view() : uri.substr(qmark + 1);

    Target t;
    auto decoded = go_percent_decode(raw_path, false);
    if (!decoded)
        return Error{"request path \"" + std::string(raw_path.substr(0, 200)) +
                     "\" is not cleanly percent-encoded"};
    const std::string &full_path = decoded.value();
    if (full_path.find('\0') != std::string::npos)
        return Error{"request path contains a NUL byte"};
    if (full_path.find("//") != std::string::npos || full_path.find("/./") != std::string::npos ||
        full_path.find("/../") != std::string::npos || full_path.ends_with("/..") ||
        full_path.ends_with("/."))
        return Error{"request path \"" + full_path.substr(0, 200) +
                     "\" has empty, '.' or '..' segments"};
    std::string version;
    t.path = std::string(strip_version(full_path, &version));
    // CVE-2024-41110: a raw URI ending in "/auth" made dockerd withhold the body.
    if (uri.ends_with("/auth") && t.path != "/auth")
        return Error{"request URI ends in \"/auth\" but its path is not /auth"};
    auto query = parse_query(raw_query);
    if (!query)
        return Error{"request query: " + query.error()};
    t.query = std::move(query).value();
    return t;
}

// Go parses Content-Length as a number ("00" is 0); absent (chunked or no body) is nullopt.
std::optional<std::uint64_t> content_length_of(const AuthzRequest &request) {
    const std::string *text = request.header("content-length");
    if (!text)
        return std::nullopt;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec == std::errc() && end == text->data() + text->size())
        return n;
    return std::nullopt;
}

// Endpoints whose body is not JSON (a tar stream, a gRPC session, a hijacked connection):
// dockerd never shows it to a plugin, and reads nothing from it that imagegate decides on.
bool carries_raw_body(std::string_view method, std::string_view path, const Query &query) {
    PatternVars unused;
    auto from_src = query.get("fromSrc");
    return path == "/build" || path == "/images/load" || path == "/plugins/create" ||
           path == "/grpc" || path == "/session" ||
           (path == "/images/create" && from_src && from_src.value() == "-") ||
           (method == "PUT" && match_pattern(path, "/containers/{name:.*}/archive", &unused)) ||
           match_pattern(path, "/containers/{name:.*}/attach", &unused);
}

// Bodies dockerd may withhold from plugins, read as its Go code reads them
// (docs/reading-requests.md). The media type is Go's mime.ParseMediaType of the header.
Result<void> check_body_shown(const AuthzRequest &request, std::string_view method,
                              const Target &target, std::optional<std::uint64_t> length) {
    const std::string *content_type = request.header("content-type");
    const std::string *content_length = request.header("content-length");
    GoMediaType media = content_type ? go_parse_media_type(*content_type) : GoMediaType{"", true};
    bool length_zero = length && *length == 0;
    // The authz middleware shows a body only for "application/json" without a media-type error
    // (and CheckForJSON accepts only that): a JSON body, as dockerd decodes it.
    bool json_body = !media.error && media.type == "application/json";
    bool body_method = method == "POST" || method == "PUT" || method == "PATCH";
    // ParseForm reads a POST/PUT/PATCH body as a form on the media type alone (it ignores a
    // parameter error), and its values come before the query's: dockerd would act on
    // parameters imagegate is never shown. multipart/form-data reaches r.Form through FormValue.
    if (body_method &&
        (media.type == "application/x-www-form-urlencoded" || media.type == "multipart/form-data"))
        return Error{"form-encoded POST bodies are refused: dockerd would read parameters "
                     "imagegate cannot see (Content-Type \"" +
                     content_type->substr(0, 100) + "\" reads as " + media.type + ")"};
    if (json_body && request.body.empty() && !length_zero)
        return Error{"JSON request arrived without its body (chunked or withheld by dockerd)"};
    if (json_body && content_length && (!length || *length >= 1024 * 1024))
        return Error{"JSON request body of 1 MiB or more: dockerd does not show it to plugins"};
    // A body that is not shown, on an endpoint that never carries a raw (non-JSON) body: the
    // plugin sees only the last Content-Type header while dockerd reads the first, so a body
    // hidden behind one header may be read by dockerd as a form or as JSON behind another
    // (a pre-1.24 start reads a HostConfig from it). Body-less requests send Content-Length: 0
    // (the docker CLI does) or no Content-Type at all (curl -X POST without data).
    if (body_method && request.body.empty() && content_type && !length_zero &&
        !carries_raw_body(method, target.path, target.query))
        return Error{"the request carries a body (Content-Type \"" + content_type->substr(0, 100) +
                     "\"" +
                     (content_length ? ", Content-Length " + content_length->substr(0, 20)
                                     : ", no Content-Length") +
                     ") that dockerd did not show imagegate; send it as application/json under "
                     "1 MiB, or send Content-Length: 0"};
    return {};
}

// One request as a route reads it.
struct Request {
    const AuthzRequest &raw;
    std::string_view method;
    std::string_view path;
    const Query &query;
    std::optional<std::uint64_t> length;
    std::string name;   // the first variable of the route's pattern ({name}, {id})
    std::string second; // the second ({checkpoint})
    json::memory_resource *memory;

    Result<std::string> single(std::string_view key) const { return query.get(key); }
    // The body's JSON, as dockerd decodes it (in `memory`: no value outlives the request).
    Result<json::value> body(const ClassifiedRequest &out) const {
        if (raw.body.empty())
            return Error{out.endpoint + " arrived with an empty body"};
        return parse_body(raw.body, memory);
    }
};

// "REPO" or "REPO:TAG" from a repo and a tag parameter.
std::string with_tag(const std::string &repo, const std::string &tag) {
    return repo + (tag.empty() ? "" : ":" + tag);
}

// What a create, update or pre-1.24 start body asks of the host.
Result<ContainerSettings> container_settings(const json::value &spec) {
    BodyReader r;
    ContainerSettings s;
    // ContainerConfigWrapper embeds *HostConfig: top-level HostConfig fields count too.
    read_host_config(r, &spec, s);
    read_host_config(r, r.field(&spec, "hostconfig"), s);
    if (auto user = r.string(&spec, "user"))
        s.user = *user;
    else
        s.user = std::string();
    // NetworkingConfig.EndpointsConfig: the networks a create attaches, by name or ID.
    if (const json::object *endpoints =
            r.object(r.field(&spec, "networkingconfig"), "endpointsconfig"))
        for (const auto &kv : *endpoints)
            note_network(std::string(kv.key()), s);
    if (!r.error.empty())
        return Error{r.error};
    return s;
}

// A network named by a request (by name, ID or ID prefix): kept when it may be the host's.
void note_network_use(const std::string &network, ClassifiedRequest &out) {
    ContainerSettings s;
    note_network(network, s);
    if (s.host_network || !s.networks.empty())
        out.container = std::move(s);
}

// --- Route functions, one per endpoint family ------------------------------------------------

Result<void> images_create(Request &q, ClassifiedRequest &out) {
    auto from_image = q.single("fromImage");
    auto tag = q.single("tag");
    auto repo = q.single("repo");
    auto from_src = q.single("fromSrc");
    for (auto *r : {&from_image, &tag, &repo, &from_src})
        if (!*r)
            return Error{r->error()};
    if (from_image->empty()) {
        out.action = Action::Import;
        if (!repo->empty())
            out.images.push_back({ImageUse::Need::Import, with_tag(repo.value(), tag.value())});
        return {};
    }
    out.action = Action::Pull;
    std::string image = from_image.value();
    if (image.ends_with(":"))
        image.pop_back(); // "pull -a" quirk kept by dockerd
    std::string ref = image;
    if (!tag->empty()) {
        // dockerd: the "tag" may be a digest, and it replaces the tag or digest that fromImage
        // carried (daemon/images/image_pull.go).
        std::string name = image.substr(0, image.find('@'));
        auto slash = name.rfind('/'), colon = name.rfind(':');
        if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
            name.resize(colon);
        ref = name + (tag->find(':') != std::string::npos ? "@" : ":") + tag.value();
    }
    out.images.push_back({ImageUse::Need::Pull, ref});
    return {};
}

Result<void> images_load(Request &, ClassifiedRequest &out) {
    out.action = Action::Import;
    return {};
}

Result<void> commit(Request &q, ClassifiedRequest &out) {
    out.action = Action::Import;
    auto repo = q.single("repo");
    auto tag = q.single("tag");
    if (!repo || !tag)
        return Error{!repo ? repo.error() : tag.error()};
    if (!repo->empty())
        out.images.push_back({ImageUse::Need::Import, with_tag(repo.value(), tag.value())});
    return {};
}

// --cache-from: BuildKit pulls these from their registry (a JSON array of references).
Result<void> build_cache_from(Request &q, ClassifiedRequest &out) {
    auto cache_from = q.single("cachefrom");
    if (!cache_from)
        return Error{cache_from.error()};
    if (cache_from->empty())
        return {};
    std::error_code ec;
    json::value refs = json::parse(cache_from.value(), ec);
    if (ec || !refs.is_array())
        return Error{"build parameter cachefrom is not a JSON array"};
    for (const auto &ref : refs.as_array()) {
        if (!ref.is_string())
            return Error{"build parameter cachefrom is not an array of strings"};
        out.images.push_back({ImageUse::Need::Pull, std::string(ref.as_string())});
    }
    return {};
}

Result<void> build(Request &q, ClassifiedRequest &out) {
    out.action = Action::Build;
    for (auto &t : q.query.all("t"))
        out.images.push_back({ImageUse::Need::Build, t});
    auto remote = q.single("remote");
    if (!remote)
        return Error{remote.error()};
    // A remote that is not a URL or git repository names an image context.
    if (!remote->empty() && remote->find("://") == std::string::npos &&
        !remote->starts_with("git@") && !remote->ends_with(".git"))
        out.images.push_back({ImageUse::Need::Pull, remote.value()});
    if (auto cache = build_cache_from(q, out); !cache)
        return cache;
    // `docker build --network host`: RUN steps share the host's network namespace. The classic
    // builder runs RUN steps with this NetworkMode: a network's ID works too.
    auto network = q.single("networkmode");
    if (!network)
        return Error{network.error()};
    note_network_use(network.value(), out);
    return {};
}

// BuildKit: buildx talks gRPC to dockerd's builder over /grpc and sends the context over
// /session; only this opening request is authorized, never the builds inside it.
Result<void> buildkit_session(Request &, ClassifiedRequest &out) {
    out.action = Action::Build;
    return {};
}

Result<void> image_push(Request &q, ClassifiedRequest &out) {
    out.action = Action::Push;
    auto tag = q.single("tag");
    if (!tag)
        return Error{tag.error()};
    out.images.push_back({ImageUse::Need::Push, with_tag(q.name, tag.value())});
    return {};
}

Result<void> image_tag(Request &q, ClassifiedRequest &out) {
    out.action = Action::Tag;
    auto repo = q.single("repo");
    auto tag = q.single("tag");
    if (!repo || !tag)
        return Error{!repo ? repo.error() : tag.error()};
    out.images.push_back({ImageUse::Need::TagSource, q.name});
    out.images.push_back({ImageUse::Need::TagTarget, with_tag(repo.value(), tag.value())});
    return {};
}

Result<void> image_list(Request &, ClassifiedRequest &out) {
    out.action = Action::List;
    return {};
}

Result<void> images_get(Request &q, ClassifiedRequest &out) {
    out.action = Action::Inspect;
    for (auto &n : q.query.all("names"))
        out.images.push_back({ImageUse::Need::Inspect, n});
    return {};
}

Result<void> image_inspect(Request &q, ClassifiedRequest &out) {
    out.action = Action::Inspect;
    out.images.push_back({ImageUse::Need::Inspect, q.name});
    return {};
}

Result<void> image_delete(Request &q, ClassifiedRequest &out) {
    out.action = Action::Delete;
    out.images.push_back({ImageUse::Need::Delete, q.name});
    return {};
}

Result<void> container_create(Request &q, ClassifiedRequest &out) {
    out.action = Action::Run;
    auto body = q.body(out);
    if (!body)
        return Error{body.error()};
    BodyReader r;
    auto image = r.string(&body.value(), "image");
    if (!r.error.empty())
        return Error{r.error};
    if (!image || image->empty())
        return Error{"container create names no image"};
    out.images.push_back({ImageUse::Need::Run, *image});
    auto settings = container_settings(body.value());
    if (!settings)
        return Error{settings.error()};
    out.container = std::move(settings).value();
    return {};
}

// update carries Resources (devices); start with a body (API < 1.24) carries a HostConfig.
Result<void> container_update_or_start(Request &q, ClassifiedRequest &out) {
    bool is_start = q.path.ends_with("/start");
    // postContainersStart reads a body only when Content-Length > 7 or chunked ("a non-nil
    // json object is at least 7 characters"); a shorter one ("{}", "null") is ignored.
    bool start_reads_body = !q.length || *q.length > 7;
    if (!is_start || (!q.raw.body.empty() && start_reads_body)) {
        auto body = q.body(out);
        if (!body)
            return Error{body.error()};
        auto settings = container_settings(body.value());
        if (!settings)
            return Error{settings.error()};
        settings.value().user.reset();
        out.container = std::move(settings).value();
    }
    // A start mounts the binds again, following the host's symlinks as they are now: the
    // container is checked again, as it stands, just before (narrows a symlink swap after
    // create).
    if (is_start)
        out.entered_container = q.name;
    return {};
}

// restart, docker cp and attach reach into a container as exec does: into what it binds too.
Result<void> container_entered(Request &q, ClassifiedRequest &out) {
    out.entered_container = q.name;
    return {};
}

Result<void> exec_create(Request &q, ClassifiedRequest &out) {
    auto body = q.body(out);
    if (!body)
        return Error{body.error()};
    BodyReader r;
    ContainerSettings s;
    s.is_exec = true;
    s.privileged = r.boolean(&body.value(), "privileged");
    s.user = r.string(&body.value(), "user");
    if (!r.error.empty())
        return Error{r.error};
    out.container = std::move(s);
    out.entered_container = q.name;
    return {};
}

// A task attached to the network "host" runs in the host's network namespace (`docker service
// create --network host`); Networks also sits on the spec (deprecated). A Target may also name
// the host network by its ID or an ID prefix (swarm resolves it, then dockerd's own networks):
// resolved through dockerd by the decision. Read whatever the task holds: an update without a
// ContainerSpec keeps the service's.
void read_service_networks(BodyReader &r, const json::value *task, const json::value &body,
                           ContainerSettings &s) {
    for (const json::value *holder : {task, &body})
        if (const json::array *networks = r.array(holder, "networks"))
            for (const auto &n : *networks) {
                if (!n.is_object()) {
                    r.fail("Networks", "an array of objects");
                    break;
                }
                if (auto target = r.string(&n, "target"))
                    note_network(*target, s);
            }
}

// A service's Privileges: SELinux, seccomp and AppArmor as security options.
void read_service_privileges(BodyReader &r, const json::value *spec, ContainerSettings &s) {
    const json::value *privileges = r.field(spec, "privileges");
    if (!privileges)
        return;
    const json::value *selinux = r.field(privileges, "selinuxcontext");
    if (r.boolean(selinux, "disable"))
        s.security_options.push_back("label=disable");
    // User, Role, Type, Level become label=user:X ... (swarm's container executor): a custom
    // type such as spc_t is unconfined, like a create's SecurityOpt.
    for (std::string_view part : {"user", "role", "type", "level"})
        if (auto v = r.string(selinux, part); v && !v->empty())
            s.security_options.push_back("label=" + std::string(part) + ":" + *v);
    std::string seccomp = r.string(r.field(privileges, "seccomp"), "mode").value_or("");
    if (!seccomp.empty() && seccomp != "default")
        s.security_options.push_back("seccomp mode " + seccomp);
    std::string apparmor = r.string(r.field(privileges, "apparmor"), "mode").value_or("");
    if (!apparmor.empty() && apparmor != "default")
        s.security_options.push_back("apparmor mode " + apparmor);
}

void read_service_container(BodyReader &r, const json::value *spec, ContainerSettings &s,
                            ClassifiedRequest &out) {
    auto image = r.string(spec, "image");
    // Swarm skips the pull of an image given by ID ("sha256:…") and runs the local image:
    // decided as a run, by the names dockerd gives it.
    if (image && !image->empty())
        out.images.push_back(
            {looks_like_image_id(*image) ? ImageUse::Need::Run : ImageUse::Need::Pull, *image});
    read_mounts(r, spec, s);
    for (auto &cap : r.strings(spec, "capabilityadd"))
        s.cap_add.push_back(cap);
    read_sysctls(r, spec, s);
    read_service_privileges(r, spec, s);
    if (auto user = r.string(spec, "user"))
        s.user = *user;
}

Result<void> service_create_or_update(Request &q, ClassifiedRequest &out) {
    out.action = Action::Pull;
    auto body = q.body(out);
    if (!body)
        return Error{body.error()};
    BodyReader r;
    const json::value *task = r.field(&body.value(), "tasktemplate");
    const json::value *spec = r.field(task, "containerspec");
    const json::value *plugin_spec = r.field(task, "pluginspec");
    ContainerSettings s;
    read_service_networks(r, task, body.value(), s);
    if (s.host_network || !s.networks.empty())
        out.container = s;
    if (spec) {
        read_service_container(r, spec, s, out);
        out.container = std::move(s);
    }
    if (plugin_spec) {
        auto remote = r.string(plugin_spec, "remote");
        if (remote && !remote->empty())
            out.images.push_back({ImageUse::Need::Pull, *remote});
        out.special = Special::PluginManage;
        out.plugin_install = true;
    }
    if (!r.error.empty())
        return Error{r.error};
    if (out.images.empty() && q.path == "/services/create")
        return Error{"service create names no image"};
    return {};
}

Result<void> swarm_membership(Request &, ClassifiedRequest &out) {
    out.special = Special::SwarmMembership;
    return {};
}

// docker network connect: the network by name, ID or ID prefix, as a create's NetworkMode.
Result<void> network_connect(Request &q, ClassifiedRequest &out) {
    note_network_use(q.name, out);
    return {};
}

Result<void> volume_create(Request &q, ClassifiedRequest &out) {
    auto body = q.body(out);
    if (!body)
        return Error{body.error()};
    BodyReader r;
    ContainerSettings s;
    std::string volume = r.string(&body.value(), "name").value_or("");
    check_plugin_name(r, &body.value(), "driver", "Driver");
    bind_volume_options(r, &body.value(), "driveropts", "volume " + volume, s);
    if (!r.error.empty())
        return Error{r.error};
    out.container = std::move(s);
    return {};
}

// Checkpoints (experimental dockerd, daemon/checkpoint.go): a directory the client names is a
// host path where dockerd, as root, lists subdirectories (list), creates one and has CRIU write
// a container's memory into it (create) or removes a tree (delete: DIR/CHECKPOINT). Decided as
// a bind of that path (protected paths) and as a host device (host filesystem access that no
// container setting gives; docs/reading-requests.md, "The route table"); without a directory
// dockerd uses the container's own.
void checkpoint_directory(std::string path, ClassifiedRequest &out) {
    if (path.empty())
        return;
    ContainerSettings s;
    s.mounts.push_back({path, "checkpoint directory " + path});
    s.devices.push_back("checkpoint directory " + path +
                        " (dockerd creates and removes files there as root)");
    out.container = std::move(s);
}

Result<void> checkpoint_list(Request &q, ClassifiedRequest &out) {
    auto dir = q.single("dir");
    if (!dir)
        return Error{dir.error()};
    checkpoint_directory(dir.value(), out);
    return {};
}

// dockerd decodes this body without CheckForJSON: a body it does not show imagegate (no
// Content-Type) would still be read, so an empty one is refused.
Result<void> checkpoint_create(Request &q, ClassifiedRequest &out) {
    auto body = q.body(out);
    if (!body)
        return Error{body.error()};
    BodyReader r;
    std::string dir = r.string(&body.value(), "checkpointdir").value_or("");
    if (!r.error.empty())
        return Error{r.error};
    checkpoint_directory(dir, out);
    out.entered_container = q.name; // CRIU dumps the container's processes, memory and all
    return {};
}

Result<void> checkpoint_delete(Request &q, ClassifiedRequest &out) {
    auto dir = q.single("dir");
    if (!dir)
        return Error{dir.error()};
    if (!dir->empty())
        checkpoint_directory(dir.value() + (dir->ends_with("/") ? "" : "/") + q.second, out);
    return {};
}

// POST /networks/create: its driver and IPAM driver are plugins (check_plugin_name).
Result<void> network_create(Request &q, ClassifiedRequest &out) {
    auto body = q.body(out);
    if (!body)
        return Error{body.error()};
    BodyReader r;
    check_plugin_name(r, &body.value(), "driver", "Driver");
    if (const json::value *ipam = r.field(&body.value(), "ipam"); ipam && ipam->is_object())
        check_plugin_name(r, ipam, "driver", "IPAM.Driver");
    if (!r.error.empty())
        return Error{r.error};
    return {};
}

// GET /containers/{id}/top: dockerd runs the host's ps with ps_args and keeps the lines whose
// "PID" column is one of the container's; when `ps … -q PIDS` fails (an `f` flag), it lists
// every host process. A column relabelled "PID" (`-o vsz=PID`) would let host processes, their
// command lines and environments (`e`) through that filter, so ps_args may hold options only:
// letters, digits, ' ', ',' and '-' (docs/reading-requests.md, "The route table").
Result<void> container_top(Request &q, ClassifiedRequest &) {
    auto args = q.single("ps_args");
    if (!args)
        return Error{args.error()};
    for (char c : args.value())
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != ' ' && c != ',' && c != '-')
            return Error{"ps_args \"" + args->substr(0, 200) +
                         "\": only letters, digits, ' ', ',' and '-' (a column relabelled with "
                         "'=' or ':' would pass host processes through dockerd's PID filter)"};
    return {};
}

// Plugin management (Special::PluginManage): `install` for what gives a plugin host privileges
// (pull, upgrade, create, enable, set).
void manage_plugin(ClassifiedRequest &out, std::string name, bool install) {
    out.special = Special::PluginManage;
    out.plugin_install = install;
    out.plugin_name = std::move(name);
}

Result<void> plugin_pull(Request &q, ClassifiedRequest &out) {
    auto remote = q.single("remote");
    auto name = q.single("name");
    if (!remote || !name)
        return Error{!remote ? remote.error() : name.error()};
    out.action = Action::Pull;
    out.images.push_back({ImageUse::Need::Pull, remote.value()});
    manage_plugin(out, name->empty() ? remote.value() : name.value(), true);
    return {};
}

Result<void> plugin_upgrade(Request &q, ClassifiedRequest &out) {
    auto remote = q.single("remote");
    if (!remote)
        return Error{remote.error()};
    out.action = Action::Pull;
    out.images.push_back({ImageUse::Need::Pull, remote.value()});
    manage_plugin(out, q.name, true);
    return {};
}

Result<void> plugin_create(Request &q, ClassifiedRequest &out) {
    auto name = q.single("name");
    if (!name)
        return Error{name.error()};
    manage_plugin(out, name.value(), true);
    return {};
}

Result<void> plugin_install(Request &q, ClassifiedRequest &out) {
    manage_plugin(out, q.name, true);
    return {};
}

Result<void> plugin_manage(Request &q, ClassifiedRequest &out) {
    manage_plugin(out, q.name, false);
    return {};
}

// One route: METHODS (space-separated) and the path pattern exactly as dockerd's router
// registers it (api/server/router/*), without the "/v{version:[0-9.]+}" prefix. The first
// route that matches classifies the request; a request no route matches is Action::Other with
// nothing to check. tests/oracle/routes.go holds this table against every route dockerd
// registers: each is here or listed, with its reason, as carrying no image and no host access
// (docs/reading-requests.md, "The route table"; docs/architecture.md: adding an endpoint).
struct Route {
    std::string_view methods;
    std::string_view pattern;
    Result<void> (*classify)(Request &, ClassifiedRequest &);
};

constexpr Route kRoutes[] = {
    // checkpoint router (experimental; registered before the container router)
    {"GET", "/containers/{name:.*}/checkpoints", checkpoint_list},
    {"POST", "/containers/{name:.*}/checkpoints", checkpoint_create},
    {"DELETE", "/containers/{name}/checkpoints/{checkpoint}", checkpoint_delete},
    // container router
    {"HEAD GET PUT", "/containers/{name:.*}/archive", container_entered},
    {"GET", "/containers/{name:.*}/attach/ws", container_entered},
    {"POST", "/containers/create", container_create},
    {"POST", "/containers/{name:.*}/restart", container_entered},
    {"POST", "/containers/{name:.*}/start", container_update_or_start},
    {"POST", "/containers/{name:.*}/attach", container_entered},
    // deprecated docker cp (served for API < 1.24): reads a path of the container, its
    // mounts included, as GET archive does
    {"POST", "/containers/{name:.*}/copy", container_entered},
    {"POST", "/containers/{name:.*}/exec", exec_create},
    {"GET", "/containers/{name:.*}/top", container_top},
    {"POST", "/containers/{name:.*}/update", container_update_or_start},
    {"POST", "/commit", commit},
    // image router
    {"GET", "/images/json", image_list},
    {"GET", "/images/search", image_list},
    {"GET", "/images/get", images_get},
    {"GET", "/images/{name:.*}/get", image_inspect},
    {"GET", "/images/{name:.*}/history", image_inspect},
    {"GET", "/images/{name:.*}/json", image_inspect},
    {"POST", "/images/load", images_load},
    {"POST", "/images/create", images_create},
    {"POST", "/images/{name:.*}/push", image_push},
    {"POST", "/images/{name:.*}/tag", image_tag},
    {"DELETE", "/images/{name:.*}", image_delete},
    // volume, build, session, swarm routers
    {"POST", "/volumes/create", volume_create},
    {"POST", "/build", build},
    {"POST", "/session", buildkit_session},
    {"POST", "/swarm/init", swarm_membership},
    {"POST", "/swarm/join", swarm_membership},
    {"POST", "/swarm/update", swarm_membership},
    {"POST", "/services/create", service_create_or_update},
    {"POST", "/services/{id}/update", service_create_or_update},
    {"POST", "/nodes/{id}/update", swarm_membership},
    // plugin router
    {"DELETE", "/plugins/{name:.*}", plugin_manage},
    {"POST", "/plugins/{name:.*}/enable", plugin_install},
    {"POST", "/plugins/{name:.*}/disable", plugin_manage},
    {"POST", "/plugins/pull", plugin_pull},
    {"POST", "/plugins/{name:.*}/push", plugin_manage},
    {"POST", "/plugins/{name:.*}/upgrade", plugin_upgrade},
    {"POST", "/plugins/{name:.*}/set", plugin_install},
    {"POST", "/plugins/create", plugin_create},
    // distribution, grpc, network routers
    {"GET", "/distribution/{name:.*}/json", image_inspect},
    {"POST", "/grpc", buildkit_session},
    {"POST", "/networks/{id:.*}/connect", network_connect},
    {"POST", "/networks/create", network_create},
};

bool method_in(std::string_view methods, std::string_view method) {
    while (!methods.empty()) {
        auto space = methods.find(' ');
        if (methods.substr(0, space) == method)
            return true;
        if (space == std::string_view::npos)
            break;
        methods.remove_prefix(space + 1);
    }
    return false;
}

const Route *find_route(std::string_view method, std::string_view path, PatternVars *vars) {
    for (const Route &route : kRoutes) {
        if (!method_in(route.methods, method))
            continue;
        *vars = {};
        if (match_pattern(path, route.pattern, vars))
            return &route;
    }
    return nullptr;
}

std::string upper(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

} // namespace

Result<ClassifiedRequest> classify_request(const AuthzRequest &request) {
    auto target = read_target(request.uri);
    if (!target)
        return Error{target.error()};
    std::string method = upper(request.method);
    ClassifiedRequest out;
    out.endpoint = method + " " + std::string(target->path);
    auto length = content_length_of(request);
    if (auto shown = check_body_shown(request, method, target.value(), length); !shown)
        return Error{shown.error()};

    // The body's JSON lives in one arena (on the stack while it fits): no value outlives this
    // call, and a container create's hundred-odd keys and strings cost no malloc each.
    unsigned char arena[16384];
    json::monotonic_resource body_memory(arena, sizeof arena);
    Request q{request, method, target->path, target->query, length, {}, {}, &body_memory};
    PatternVars vars;
    const Route *route = find_route(method, q.path, &vars);
    if (!route)
        return out;
    q.name = vars.value[0];
    q.second = vars.value[1];
    if (auto done = route->classify(q, out); !done)
        return Error{done.error()};
    return out;
}

std::vector<std::string> route_table() {
    std::vector<std::string> out;
    for (const Route &route : kRoutes) {
        std::string_view methods = route.methods;
        while (!methods.empty()) {
            auto space = methods.find(' ');
            out.push_back(std::string(methods.substr(0, space)) + " " + std::string(route.pattern));
            if (space == std::string_view::npos)
                break;
            methods.remove_prefix(space + 1);
        }
    }
    return out;
}

Result<std::string> route_of(std::string_view method, std::string_view uri) {
    auto target = read_target(uri);
    if (!target)
        return Error{target.error()};
    std::string m = upper(method);
    PatternVars vars;
    const Route *route = find_route(m, target->path, &vars);
    return route ? m + " " + std::string(route->pattern) : std::string();
}

} // namespace imagegate
