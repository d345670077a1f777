// imagegate-differential: reads dockerd-oracle's JSON lines (one request each, as dockerd
// reads it) from stdin, reads the same request with imagegate's code, and reports every request
// where dockerd would act on something more dangerous than what imagegate decided on
// (docs/reading-requests.md). Exit status 1 on any disagreement, 2 on bad input.
//
//     dockerd-oracle gen -n 20000 -seed 1 tests/oracle/corpus | imagegate-differential
//
// Compared, for every request imagegate allows and dockerd would act on:
//   - the media type of the Content-Type the plugin is shown: go_parse_media_type against Go's
//     mime.ParseMediaType, type and error, exactly (for every request, allowed or not);
//   - that no parameter comes from a form body (ParseForm, FormValue with multipart);
//   - the query parameters the handlers read (Form.Get / FormValue) against imagegate's reading;
//   - the image of a create or service, the user, host paths of binds and mounts, named volumes,
//     volume driver options (type/o/device), privileged, namespaces (host and container:X),
//     the host network and networks named by name or ID, volumes-from, added capabilities,
//     devices and device cgroup rules, security options, masked and read-only paths, sysctls.
#include "policy/authz_request.hpp"
#include "policy/classify.hpp"
#include "policy/go_http.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace imagegate;

namespace {

std::vector<std::string> strings_of(const json::object &o, std::string_view key) {
    std::vector<std::string> out;
    if (const auto *v = o.if_contains(key); v && v->is_array())
        for (const auto &item : v->as_array())
            if (item.is_string())
                out.emplace_back(item.as_string());
    return out;
}

template <class Range, class T> bool has(const Range &r, const T &v) {
    return std::find(std::begin(r), std::end(r), v) != std::end(r);
}

bool namespaced_sysctl(std::string_view s) {
    static constexpr std::string_view exact[] = {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
        "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
    return has(exact, s) || s.starts_with("fs.mqueue.") || s.starts_with("net.");
}

bool harmless_security_option(std::string_view opt) {
    return opt == "no-new-privileges" || opt == "no-new-privileges=true" ||
           opt == "no-new-privileges:true" || opt == "apparmor=docker-default" ||
           opt == "apparmor:docker-default";
}

// Every way dockerd's reading (`go`, the oracle's Settings) exceeds imagegate's (`c`).
void compare_settings(const json::object &go, const ClassifiedRequest &classified,
                      std::vector<std::string> &problems) {
    static const ContainerSettings none;
    const ContainerSettings &c = classified.container ? *classified.container : none;
    auto missing = [&](std::string what) { problems.push_back(std::move(what)); };

    if (const auto *image = go.if_contains("image");
        image && image->is_string() && !image->as_string().empty()) {
        bool seen = false;
        for (const auto &use : classified.images)
            seen |= use.reference == std::string_view(image->as_string());
        if (!seen)
            missing("image " + std::string(image->as_string()) + " not among imagegate's images");
    }
    if (const auto *user = go.if_contains("user"); user && user->is_string()) {
        std::string mine = c.user.value_or("");
        if (mine != std::string_view(user->as_string()))
            missing("user: dockerd \"" + std::string(user->as_string()) + "\", imagegate \"" +
                    mine + "\"");
    }
    std::vector<std::string> host_paths;
    for (const auto &m : c.mounts)
        host_paths.push_back(m.host_path);
    for (const auto &p : strings_of(go, "hostPaths"))
        if (!has(host_paths, p))
            missing("host path " + p);
    for (const auto &v : strings_of(go, "volumes"))
        if (!has(c.named_volumes, v))
            missing("named volume " + v);
    if (const auto *options = go.if_contains("volumeOptions"); options && options->is_array())
        for (const auto &o : options->as_array()) {
            const auto &map = o.as_object();
            auto get = [&](std::string_view k) {
                const auto *v = map.if_contains(k);
                return v && v->is_string() ? std::string(v->as_string()) : std::string();
            };
            // The local driver refuses any option key but these (volume/local: "invalid option"),
            // keys matched exactly: such a volume is never created.
            if (std::any_of(map.begin(), map.end(), [](const auto &kv) {
                    return kv.key() != "type" && kv.key() != "o" && kv.key() != "device" &&
                           kv.key() != "size";
                }))
                continue;
            std::string type = get("type"), flags = "," + get("o") + ",", device = get("device");
            if (device.empty())
                continue;
            std::transform(type.begin(), type.end(), type.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            bool bind = flags.find(",bind,") != std::string::npos ||
                        flags.find(",rbind,") != std::string::npos;
            if (bind || type.empty() || type == "none") {
                if (!has(host_paths, device))
                    missing("volume driver option device=" + device + " (a bind)");
            } else if (type != "tmpfs" && type != "nfs" && type != "nfs4" && type != "cifs" &&
                       type != "smb3") {
                bool seen = false;
                for (const auto &d : c.devices)
                    seen |= d.find("filesystem type=") != std::string::npos;
                if (!seen)
                    missing("volume driver option type=" + type + " device=" + device);
            }
        }
    if (const auto *p = go.if_contains("privileged");
        p && p->is_bool() && p->as_bool() && !c.privileged)
        missing("privileged");
    for (const auto &ns : strings_of(go, "hostNamespaces"))
        if (!has(c.host_namespaces, ns))
            missing("host " + ns + " namespace");
    if (const auto *h = go.if_contains("hostNetwork");
        h && h->is_bool() && h->as_bool() && !c.host_network)
        missing("host network");
    for (const auto &n : strings_of(go, "networks"))
        if (!c.host_network && !has(c.networks, n))
            missing("network " + n + " (may be the host network by ID)");
    for (const auto &j : strings_of(go, "joined")) {
        auto colon = j.find(':');
        if (!has(c.joined_namespaces, std::make_pair(j.substr(0, colon), j.substr(colon + 1))))
            missing("joined namespace " + j);
    }
    for (const auto &v : strings_of(go, "volumesFrom"))
        if (!has(c.volumes_from, v))
            missing("volumes from " + v);
    for (const auto &cap : strings_of(go, "capAdd"))
        if (!has(c.cap_add, cap))
            missing("capability " + cap);
    for (const auto &d :
         strings_of(go, "devices")) // "?": a device whose path imagegate could not read
        if (!has(c.devices, d) && !has(c.devices, "?"))
            missing("device " + d);
    for (const auto &rule : strings_of(go, "cgroupRules"))
        if (!has(c.devices, "cgroup rule " + rule))
            missing("device cgroup rule " + rule);
    for (const auto &opt : strings_of(go, "securityOpt"))
        if (!harmless_security_option(opt) && !has(c.security_options, opt))
            missing("security option " + opt);
    auto keeps_defaults = [&](std::string_view key, std::string_view name,
                              std::initializer_list<std::string_view> defaults) {
        const auto *v = go.if_contains(key);
        if (!v || !v->is_array())
            return;
        auto given = strings_of(go, key);
        bool all = std::all_of(defaults.begin(), defaults.end(),
                               [&](std::string_view d) { return has(given, std::string(d)); });
        if (all)
            return;
        bool flagged = std::any_of(
            c.security_options.begin(), c.security_options.end(),
            [&](const std::string &o) { return o.starts_with(std::string(name) + " without"); });
        if (!flagged)
            missing(std::string(name) + " without one of Docker's defaults");
    };
    keeps_defaults("maskedPaths", "MaskedPaths",
                   {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/proc/scsi", "/sys/firmware"});
    keeps_defaults("readonlyPaths", "ReadonlyPaths",
                   {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"});
    for (const auto &k : strings_of(go, "sysctls"))
        if ((!namespaced_sysctl(k) || (c.host_network && k.starts_with("net."))) &&
            !has(c.sysctls, k))
            missing("sysctl " + k);
}

} // namespace

int main() {
    std::size_t total = 0, media_compared = 0, denied = 0, refused = 0, agreed = 0, not_shown = 0;
    std::size_t disagreements = 0, residual = 0;
    // A run that compares nothing proves nothing: a long run must have compared settings on
    // every endpoint family (a classifier that denied everything would otherwise pass).
    std::vector<std::pair<std::string, std::size_t>> compared = {
        {"/containers/create", 0}, {"/start", 0},         {"/update", 0}, {"/exec", 0},
        {"/services/", 0},         {"/volumes/create", 0}};
    std::string line;
    while (std::getline(std::cin, line)) {
        ++total;
        std::error_code ec;
        json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) {
            std::cerr << "imagegate-differential: line " << total << " is not a JSON object\n";
            return 2;
        }
        const json::object &o = v.as_object();
        std::vector<std::string> problems;
        const json::value *plugin = o.if_contains("plugin");
        if (!plugin || !plugin->is_object()) { // net/http or the authz middleware refused it
            ++not_shown;
            continue;
        }
        auto request = parse_authz_request(json::serialize(*plugin));
        if (!request) {
            std::cerr << "imagegate-differential: line " << total
                      << ": dockerd's AuthZ request does not parse: " << request.error() << "\n";
            return 2;
        }
        if (o.at("hasContentType").as_bool()) {
            ++media_compared;
            const std::string *ct = request->header("content-type");
            GoMediaType mine = ct ? go_parse_media_type(*ct) : GoMediaType{"", true};
            if (mine.type != std::string_view(o.at("pluginMediaType").as_string()) ||
                mine.error != o.at("pluginMediaTypeError").as_bool())
                problems.push_back(
                    "media type of \"" + (ct ? *ct : std::string("(none)")) + "\": Go \"" +
                    std::string(o.at("pluginMediaType").as_string()) + "\"" +
                    (o.at("pluginMediaTypeError").as_bool() ? " with an error" : "") +
                    ", imagegate \"" + mine.type + "\"" + (mine.error ? " with an error" : ""));
        }
        auto classified = classify_request(request.value());
        const json::value *why_refused = o.if_contains("refused");
        if (!classified) {
            ++denied;
        } else if (why_refused && why_refused->is_string() && !why_refused->as_string().empty()) {
            ++refused; // dockerd acts on nothing
        } else {
            if (o.at("formBody").as_bool())
                problems.push_back("dockerd reads parameters from the body as a form");
            if (const auto *form = o.if_contains("form"); form && form->is_object()) {
                std::string_view uri = request->uri;
                auto q = uri.find('?');
                auto pairs = read_query(q == std::string_view::npos ? std::string_view()
                                                                    : uri.substr(q + 1));
                for (const auto &kv : form->as_object()) {
                    std::string mine;
                    if (pairs)
                        for (const auto &[k, val] : pairs.value())
                            if (k == kv.key()) {
                                mine = val;
                                break;
                            }
                    if (mine != std::string_view(kv.value().as_string()))
                        problems.push_back("parameter " + std::string(kv.key()) + ": dockerd \"" +
                                           std::string(kv.value().as_string()) +
                                           "\", imagegate \"" + mine + "\"");
                }
            }
            if (const auto *settings = o.if_contains("container");
                settings && settings->is_object())
                compare_settings(settings->as_object(), classified.value(), problems);
            if (problems.empty()) {
                ++agreed;
                // Per endpoint family, the requests compared with settings on both sides.
                std::string_view endpoint = o.at("endpoint").as_string();
                if (o.if_contains("container") && o.at("container").is_object())
                    for (auto &[family, count] : compared)
                        if (endpoint.find(family) != std::string_view::npos)
                            ++count;
            }
        }
        // What no plugin can see (docs/reading-requests.md, "What remains outside"): dockerd reads
        // the first of two Content-Type headers, the plugin is shown the last, and on an
        // endpoint whose body is not JSON (a build context, an import, a plugin's rootfs) the
        // body is never shown.
        // Counted and listed apart; it does not fail the run.
        std::string_view endpoint = o.at("endpoint").as_string();
        if (!problems.empty() && o.at("contentTypeHeaders").as_int64() > 1 &&
            o.at("formBody").as_bool() &&
            (endpoint.ends_with(" /build") || endpoint.ends_with(" /images/create") ||
             endpoint.ends_with(" /plugins/create"))) {
            if (++residual <= 3)
                std::cout << "outside (two Content-Type headers, form body on " << endpoint
                          << "): " << o.at("raw").as_string() << "\n";
            continue;
        }
        if (!problems.empty()) {
            if (++disagreements <= 20) {
                std::cout << "DISAGREEMENT on " << o.at("endpoint").as_string() << " (API "
                          << o.at("version").as_string()
                          << "), request as base64: " << o.at("raw").as_string() << "\n";
                for (const auto &p : problems)
                    std::cout << "    " << p << "\n";
            }
        }
    }
    std::cout << "differential: " << total
              << " requests read by dockerd's code and by imagegate's: " << media_compared
              << " media types compared; " << agreed << " allowed by imagegate and read alike, "
              << denied << " denied by imagegate, " << refused << " refused by dockerd's handlers, "
              << not_shown << " never shown to a plugin; " << residual
              << " outside what a plugin can see (two Content-Type headers on a build, import or "
                 "plugin create); "
              << disagreements << " disagreements\n";
    bool vacuous = false;
    if (total >= 5000)
        for (const auto &[family, count] : compared)
            if (count < 20) {
                std::cout << "differential: only " << count << " requests on " << family
                          << " were allowed by imagegate and compared: the run proves too little\n";
                vacuous = true;
            }
    return disagreements == 0 && total > 0 && !vacuous ? 0 : 1;
}
