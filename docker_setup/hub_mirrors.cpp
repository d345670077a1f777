// The Docker Hub mirrors of this host (docs/gateway.md, "Registry mirrors"): gateway.hubMirrors
// and dockerd's own registry-mirrors, from its flags and its daemon.json. The gateway decides
// every request to one of them as docker.io: a pull-through cache serves Docker Hub's content
// under Docker Hub's names.
#include "docker_setup/install_docker.hpp"

#include "common/files.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <set>

namespace imagegate {

namespace json = boost::json;
namespace fs = std::filesystem;

Result<HubMirror> hub_mirror_of_url(std::string_view url, std::string_view source) {
    auto refuse = [&](std::string_view why) {
        return Error{std::string(source) + ": registry mirror \"" + std::string(url) + "\" " +
                     std::string(why)};
    };
    auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
        return refuse("is not an http:// or https:// URL");
    std::string scheme(url.substr(0, scheme_end));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "http" && scheme != "https")
        return refuse("has the scheme \"" + scheme + "\": dockerd takes http or https");
    std::string_view rest = url.substr(scheme_end + 3);
    // The host is the authority, whatever follows: dockerd refuses a path, a query or a
    // fragment, but the host is what it connects to, so it is decided as Docker Hub either way.
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos)
        return refuse("has user info: dockerd refuses it");
    auto host = hub_mirror_host(authority);
    if (!host)
        return refuse("has no valid host: " + host.error());
    HubMirror mirror;
    mirror.host = *host;
    mirror.written = std::string(url);
    mirror.source = std::string(source);
    bool has_port = authority.starts_with('[') ? authority.find("]:") != std::string_view::npos
                                               : authority.find(':') != std::string_view::npos;
    if (scheme == "http") {
        if (!has_port)
            mirror.host += ":80";
        mirror.not_intercepted = "plain HTTP: the gateway refuses it";
    }
    if (is_loopback_host(mirror.host))
        mirror.not_intercepted = "a loopback address: dockerd reaches it directly, and the "
                                 "loopback guard refuses it";
    return mirror;
}

Result<std::vector<std::string>> daemon_json_registry_mirrors(std::string_view text,
                                                              std::string_view file) {
    if (std::all_of(text.begin(), text.end(),
                    [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }))
        return std::vector<std::string>{};
    std::error_code ec;
    json::parse_options options;
    options.max_depth = kMaxDaemonJsonDepth;
    json::value v = json::parse(text, ec, {}, options);
    if (ec || !v.is_object())
        return Error{std::string(file) +
                     ": not a JSON object, so its registry-mirrors are unknown"};
    std::vector<std::string> mirrors;
    const json::value *list = v.as_object().if_contains("registry-mirrors");
    if (!list)
        return mirrors;
    if (!list->is_array())
        return Error{std::string(file) + ": \"registry-mirrors\" is not a list of URLs"};
    for (const auto &m : list->as_array()) {
        if (!m.is_string())
            return Error{std::string(file) + ": \"registry-mirrors\" is not a list of URLs"};
        mirrors.emplace_back(m.as_string());
    }
    return mirrors;
}

std::vector<HubMirror> find_hub_mirrors(const GatewayConfig &config,
                                        const std::vector<DockerdProcess> &dockerds,
                                        const DockerHost &host,
                                        std::vector<std::string> &problems) {
    std::vector<HubMirror> mirrors;
    for (const auto &h : config.hub_mirrors)
        mirrors.push_back({h, h, "gateway.hubMirrors", ""});
    auto add = [&](std::string_view url, const std::string &source) {
        auto mirror = hub_mirror_of_url(url, source);
        if (mirror)
            mirrors.push_back(std::move(*mirror));
        else
            problems.push_back(mirror.error());
    };
    std::set<std::string> files;
    for (const auto &process : dockerds) {
        for (const auto &flag : process.registry_mirror_flags)
            add(flag, "dockerd (pid " + std::to_string(process.pid) + ") --registry-mirror");
        if (!process.rootless)
            files.insert(daemon_json_path(process, host));
    }
    if (dockerds.empty())
        files.insert((host.root / "etc/docker/daemon.json").string());
    for (const auto &file : files) {
        bool missing = false;
        auto text = read_file(file, kMaxDaemonJsonBytes, Links::Follow, &missing);
        if (!text) {
            if (!missing)
                problems.push_back(text.error());
            continue;
        }
        auto urls = daemon_json_registry_mirrors(*text, file);
        if (!urls) {
            problems.push_back(urls.error());
            continue;
        }
        for (const auto &url : *urls)
            add(url, file);
    }
    std::stable_sort(mirrors.begin(), mirrors.end(),
                     [](const HubMirror &a, const HubMirror &b) { return a.host < b.host; });
    return mirrors;
}

Result<std::vector<std::string>> remember_hub_mirrors(const std::string &ca_dir,
                                                      const std::vector<std::string> &now) {
    std::string file = ca_dir + "/" + kHubMirrorsFile;
    std::set<std::string> hosts;
    bool missing = false;
    auto text = read_file(file, 1024 * 1024, Links::Refuse, &missing);
    if (!text && !missing)
        return Error{text.error()};
    if (text) {
        std::error_code ec;
        json::value v = json::parse(*text, ec);
        const json::value *list =
            !ec && v.is_object() ? v.as_object().if_contains("hosts") : nullptr;
        if (!list || !list->is_array())
            return Error{file + ": not a list of mirror hosts ({\"hosts\": [...]})"};
        for (const auto &h : list->as_array())
            if (h.is_string())
                hosts.emplace(h.as_string());
    }
    std::size_t before = hosts.size();
    hosts.insert(now.begin(), now.end());
    std::vector<std::string> all(hosts.begin(), hosts.end());
    if (hosts.size() != before || missing) {
        AtomicWrite how;
        how.mode = 0644;
        json::object o;
        o["hosts"] = json::array(all.begin(), all.end());
        if (auto w = write_file_atomically(file, json::serialize(o) + "\n", how); !w)
            return Error{w.error()};
    }
    return all;
}

std::vector<std::string> intercepted_hub_mirrors(const std::vector<HubMirror> &mirrors) {
    std::set<std::string> hosts;
    for (const auto &m : mirrors)
        if (m.not_intercepted.empty())
            hosts.insert(m.host);
    return {hosts.begin(), hosts.end()};
}

} // namespace imagegate
