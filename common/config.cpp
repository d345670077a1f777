#include "common/config.hpp"
#include "common/files.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace imagegate {
namespace json = boost::json;

namespace {
inline constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

bool is_host_port(std::string_view s) {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size())
        return false;
    std::string_view port = s.substr(colon + 1);
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    int n = std::stoi(std::string(port));
    return n >= 1 && n <= 65535;
}

bool is_port(std::string_view p) {
    return !p.empty() && p.size() <= 5 &&
           std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           std::stoi(std::string(p)) >= 1 && std::stoi(std::string(p)) <= 65535;
}

// HOST and PORT of "HOST:PORT", "HOST", "[V6]:PORT", "[V6]"; false when not that shape.
bool split_wire_host(std::string_view text, std::string_view &host, std::string_view &port) {
    port = {};
    if (text.starts_with('[')) {
        auto end = text.find(']');
        if (end == std::string_view::npos)
            return false;
        host = text.substr(1, end - 1);
        std::string_view rest = text.substr(end + 1);
        if (!rest.empty()) {
            if (rest[0] != ':')
                return false;
            port = rest.substr(1);
            if (!is_port(port))
                return false;
        }
        in6_addr address{};
        return inet_pton(AF_INET6, std::string(host).c_str(), &address) == 1;
    }
    auto colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
        port = text.substr(colon + 1);
        if (!is_port(port))
            return false;
    }
    return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    });
}

// A loopback address a guard entry names: "127.0.0.1:24224", "[::1]:24224".
bool is_loopback_address_port(std::string_view text) {
    std::string_view host, port;
    if (!split_wire_host(text, host, port) || port.empty())
        return false;
    return host != "localhost" && is_loopback_host(text);
}

// The "gateway" object (docs/gateway.md); errors go to FAIL with the key's path.
template <class Fail> void read_gateway(const json::value &v, GatewayConfig &g, Fail &fail) {
    if (!v.is_object())
        return fail("gateway", "must be an object");
    g.present = true;
    bool override_given = false;
    for (const auto &kv : v.as_object()) {
        std::string key = "gateway." + std::string(kv.key());
        const json::value &x = kv.value();
        if (kv.key() == "listen") {
            if (!x.is_string() || !is_host_port(x.as_string()))
                fail(key, "must be \"HOST:PORT\" (default 127.0.0.1:3128)");
            else
                g.listen = std::string(x.as_string());
        } else if (kv.key() == "caDir" || kv.key() == "certsDir") {
            if (!x.is_string() || x.as_string().empty() || x.as_string()[0] != '/')
                fail(key, "must be an absolute path");
            else
                (kv.key() == "caDir" ? g.ca_dir : g.certs_dir) = std::string(x.as_string());
        } else if (kv.key() == "registries") {
            if (!x.is_array()) {
                fail(key, "must be an array of registry names");
                continue;
            }
            g.registries.clear();
            for (const auto &r : x.as_array()) {
                if (!r.is_string() || r.as_string().empty() ||
                    r.as_string().find_first_of("/ \t@") != json::string::npos)
                    fail(key, "must be an array of registry names (\"docker.io\", "
                              "\"ghcr.io\", \"HOST:PORT\")");
                else
                    g.registries.emplace_back(r.as_string());
            }
        } else if (kv.key() == "upstreamOverride") {
            override_given = true;
            if (!x.is_object()) {
                fail(key, "must be an object of \"HOST:PORT\": \"ADDRESS:PORT\"");
                continue;
            }
            for (const auto &o : x.as_object()) {
                if (!is_host_port(o.key()) || !o.value().is_string() ||
                    !is_host_port(o.value().as_string()))
                    fail(key + "." + std::string(o.key()),
                         "must map \"HOST:PORT\" to \"ADDRESS:PORT\"");
                else
                    g.upstream_override.emplace_back(std::string(o.key()),
                                                     std::string(o.value().as_string()));
            }
        } else if (kv.key() == "allowUpstreamOverride" || kv.key() == "loopbackGuard") {
            if (!x.is_bool())
                fail(key, "must be true or false");
            else
                (kv.key() == "loopbackGuard" ? g.loopback_guard : g.allow_upstream_override) =
                    x.as_bool();
        } else if (kv.key() == "hubMirrors" || kv.key() == "loopbackAllow") {
            bool mirrors = kv.key() == "hubMirrors";
            if (!x.is_array()) {
                fail(key, mirrors ? "must be an array of \"HOST\" or \"HOST:PORT\""
                                  : "must be an array of \"127.0.0.1:PORT\" or \"[::1]:PORT\"");
                continue;
            }
            std::size_t i = 0;
            for (const auto &e : x.as_array()) {
                std::string at = key + "[" + std::to_string(i++) + "]";
                if (!e.is_string()) {
                    fail(at, "must be a string");
                    continue;
                }
                std::string text(e.as_string());
                if (!mirrors) {
                    if (is_loopback_address_port(text))
                        g.loopback_allow.push_back(text);
                    else
                        fail(at, "\"" + text +
                                     "\" is not a loopback address and port (\"127.0.0.1:24224\", "
                                     "\"[::1]:24224\")");
                    continue;
                }
                auto host = hub_mirror_host(text);
                if (!host)
                    fail(at, host.error());
                else if (is_loopback_host(*host))
                    fail(at, "\"" + text +
                                 "\" is a loopback address: dockerd reaches it directly, never "
                                 "through the gateway (docs/gateway.md, \"Loopback registries\")");
                else
                    g.hub_mirrors.push_back(*host);
            }
        } else if (kv.key() == "dockerdCgroup") {
            std::string path = x.is_string() ? std::string(x.as_string()) : "";
            bool plain =
                path.size() > 1 && path[0] == '/' && !path.ends_with('/') &&
                path.find("//") == std::string::npos && path.find("/./") == std::string::npos &&
                path.find("/../") == std::string::npos && !path.ends_with("/.") &&
                !path.ends_with("/..") && std::all_of(path.begin(), path.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) ||
                           std::strchr("/._-@:+\\", c) != nullptr;
                });
            if (!plain)
                fail(key, "must be a cgroup v2 path below the root, as /proc/PID/cgroup shows it "
                          "(\"/system.slice/docker.service\")");
            else
                g.dockerd_cgroup = path;
        } else {
            fail(key, "unknown key");
        }
    }
    if (override_given && !g.allow_upstream_override)
        fail("gateway.upstreamOverride",
             "sends registry traffic to other addresses, for tests only: refused unless "
             "gateway.allowUpstreamOverride is true");
}

} // namespace

Result<std::string> hub_mirror_host(std::string_view text) {
    std::string_view host, port;
    if (text.find("://") != std::string_view::npos ||
        text.find_first_of("/@?# \t") != std::string_view::npos ||
        !split_wire_host(text, host, port))
        return Error{"\"" + std::string(text) +
                     "\" is not \"HOST\" or \"HOST:PORT\" (a Docker Hub mirror's host, without "
                     "https:// or a path)"};
    std::string out(host);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (out.find(':') != std::string::npos)
        out = "[" + out + "]";
    if (!port.empty() && std::stoi(std::string(port)) != 443)
        out += ":" + std::to_string(std::stoi(std::string(port)));
    return out;
}

bool is_loopback_host(std::string_view wire_host) {
    std::string_view host, port;
    if (!split_wire_host(wire_host, host, port))
        return false;
    std::string h(host);
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (h == "localhost")
        return true;
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    return false;
}

Result<Config> load_config(const std::string &path) {
    auto text = read_file(path, kMaxConfigBytes);
    if (!text)
        return Error{text.error()};
    std::error_code ec;
    json::value root = json::parse(text.value(), ec);
    if (ec)
        return Error{path + ": not valid JSON: " + ec.message()};
    if (!root.is_object())
        return Error{path + ": the configuration must be a JSON object"};
    Config c;
    c.path = path;
    std::string errors;
    auto fail = [&](std::string_view key, std::string_view what) {
        errors += (errors.empty() ? "" : "; ") + std::string("$.") + std::string(key) + ": " +
                  std::string(what);
    };
    auto str = [&](const json::value &v, std::string_view key, std::string &out) {
        if (!v.is_string())
            return fail(key, "must be a string");
        out = std::string(v.as_string());
    };
    auto num = [&](const json::value &v, std::string_view key, std::int64_t &out,
                   std::int64_t min) {
        if (!v.is_int64() || v.as_int64() < min)
            return fail(key, "must be an integer >= " + std::to_string(min));
        out = v.as_int64();
    };
    for (const auto &kv : root.as_object()) {
        std::string_view k = kv.key();
        const json::value &v = kv.value();
        if (k == "socket")
            str(v, k, c.socket);
        else if (k == "policyFile")
            str(v, k, c.policy_file);
        else if (k == "policyUrl")
            str(v, k, c.policy_url);
        else if (k == "publicKey")
            str(v, k, c.public_key);
        else if (k == "caFile")
            str(v, k, c.ca_file);
        else if (k == "organization")
            str(v, k, c.organization);
        else if (k == "cacheDir")
            str(v, k, c.cache_dir);
        else if (k == "refreshSeconds")
            num(v, k, c.refresh_seconds, 1);
        else if (k == "maxAgeSeconds")
            num(v, k, c.max_age_seconds, 1);
        else if (k == "decisionLog")
            str(v, k, c.decision_log);
        else if (k == "decisionLogMaxBytes")
            num(v, k, c.decision_log_max_bytes, 4096);
        else if (k == "decisionLogFiles") {
            std::int64_t n = c.decision_log_files;
            num(v, k, n, 1);
            c.decision_log_files = static_cast<int>(std::min<std::int64_t>(n, 100));
        } else if (k == "adminSocket")
            str(v, k, c.admin_socket);
        else if (k == "containerdUser")
            str(v, k, c.containerd_user);
        else if (k == "dockerSockets") {
            if (!v.is_array()) {
                fail(k, "must be an array of strings");
                continue;
            }
            c.docker_sockets.clear();
            for (const auto &s : v.as_array()) {
                if (!s.is_string())
                    fail(k, "must be an array of strings");
                else
                    c.docker_sockets.emplace_back(s.as_string());
            }
        } else if (k == "gateway") {
            read_gateway(v, c.gateway, fail);
        } else if (k == "registryCredentials") {
            str(v, k, c.trust.registry_credentials);
        } else if (k == "signatureTimeoutSeconds") {
            num(v, k, c.trust.timeout_seconds, 1);
        } else if (k == "registryCertsDir") {
            str(v, k, c.trust.certs_dir);
        } else if (k == "signatureRegistries") {
            if (!v.is_object()) {
                fail(k, "must be an object: REGISTRY -> URL");
                continue;
            }
            for (const auto &e : v.as_object()) {
                std::string key = "signatureRegistries." + std::string(e.key());
                if (!e.value().is_string()) {
                    fail(key, "must be a URL string");
                    continue;
                }
                std::string url(e.value().as_string());
                bool https = url.starts_with("https://");
                bool loopback_http = url.starts_with("http://127.") ||
                                     url.starts_with("http://localhost") ||
                                     url.starts_with("http://[::1]");
                if (!https && !loopback_http)
                    fail(key, "must be an https:// URL (http:// only for a loopback address)");
                else
                    c.trust.signature_registries.emplace_back(std::string(e.key()), url);
            }
        } else {
            fail(k, "unknown key");
        }
    }
    if (!c.policy_file.empty() && !c.policy_url.empty())
        fail("policyUrl", "policyFile and policyUrl are alternatives: set one");
    if (!c.policy_url.empty()) {
        if (c.public_key.empty())
            fail("publicKey", "required with policyUrl");
        if (c.cache_dir.empty())
            fail("cacheDir", "required with policyUrl");
        if (!c.policy_url.starts_with("https://"))
            fail("policyUrl", "must be an https:// URL");
    }
    if (!errors.empty())
        return Error{path + ": " + errors};
    return c;
}

Result<Config> resolve_config(const std::string &config_flag, const std::string &policy_flag) {
    if (!config_flag.empty() && !policy_flag.empty())
        return Error{"--config and --policy are alternatives: give one"};
    if (!policy_flag.empty()) {
        Config c;
        c.policy_file = policy_flag;
        return c;
    }
    if (!config_flag.empty())
        return load_config(config_flag);
    std::error_code ec;
    if (std::filesystem::exists(kDefaultConfigPath, ec))
        return load_config(kDefaultConfigPath);
    return Config{};
}

} // namespace imagegate
