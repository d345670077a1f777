#include "common/config.hpp"
#include "common/files.hpp"

#include <boost/json.hpp>

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

// The "gateway" object (docs/gateway.md); errors go to FAIL with the key's path.
template <class Fail> void read_gateway(const json::value &v, GatewayConfig &g, Fail &fail) {
    if (!v.is_object())
        return fail("gateway", "must be an object");
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
        } else if (kv.key() == "allowUpstreamOverride") {
            if (!x.is_bool())
                fail(key, "must be true or false");
            else
                g.allow_upstream_override = x.as_bool();
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
