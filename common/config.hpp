// The local configuration (README, imagegate.json): where the policy comes from, where things go.
#pragma once
#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace imagegate {

// The files the policy sync keeps in cacheDir (docs/policy-distribution.md).
inline constexpr const char *kCacheBundleFile = "policy.bundle";
inline constexpr const char *kCacheStateFile = "sync-state.json";

inline constexpr const char *kDefaultConfigPath = "/etc/imagegate/imagegate.json";
inline constexpr const char *kDefaultSocket = "/run/docker/plugins/imagegate.sock";

inline constexpr const char *kDefaultGatewayListen = "127.0.0.1:3128";
inline constexpr const char *kDefaultGatewayCaDir = "/var/lib/imagegate/gateway";
inline constexpr const char *kDefaultDockerCertsDir = "/etc/docker/certs.d";

// The registry gateway (docs/gateway.md), configuration key "gateway".
struct GatewayConfig {
    std::string listen = kDefaultGatewayListen; // HOST:PORT, a loopback address
    std::string ca_dir = kDefaultGatewayCaDir;  // ca.crt, ca.key (0600 root)
    // Registries to intercept ("docker.io", "ghcr.io", "reg.example:5000"); empty: docker.io
    // and every registry the policy's "registries" list names.
    std::vector<std::string> registries;
    // Where dockerd reads per-host CAs; the gateway adds HOST/*.crt (except its own CA) to the
    // system trust store when it verifies the upstream registry.
    std::string certs_dir = kDefaultDockerCertsDir;
    // Test only (like curl --resolve): "HOST:PORT" → "ADDRESS:PORT" where the gateway connects
    // instead; refused unless allow_upstream_override is also set.
    std::vector<std::pair<std::string, std::string>> upstream_override;
    bool allow_upstream_override = false;
    bool present = false; // the configuration has a "gateway" key: the gateway is in use
    // Hosts that serve Docker Hub content (a pull-through cache, dockerd's registry-mirrors):
    // every request to them is decided as docker.io. Wire hosts as hub_mirror_host returns
    // them. dockerd's own registry-mirrors are added to these (docs/gateway.md).
    std::vector<std::string> hub_mirrors;
    // The loopback guard (docs/gateway.md, "Loopback registries"): firewall rules that refuse
    // dockerd's cgroup TCP connections to loopback except the gateway's own port.
    bool loopback_guard = true;
    // Loopback addresses dockerd may still reach ("127.0.0.1:24224", "[::1]:24224").
    std::vector<std::string> loopback_allow;
    // dockerd's cgroup v2 path ("/system.slice/docker.service"); empty: the running dockerd's.
    std::string dockerd_cgroup;
};

// "HOST" or "HOST:PORT" of a Docker Hub mirror as the gateway sees it on CONNECT: lower case,
// ":443" dropped, IPv6 in brackets. Refuses a scheme, a path, user info, an empty host and a
// port out of range, naming TEXT.
Result<std::string> hub_mirror_host(std::string_view text);
// Whether dockerd reaches HOST (a wire host, with or without ":PORT") without its proxy: Go's
// ProxyFromEnvironment never proxies "localhost" or a loopback IP address (docs/gateway.md).
bool is_loopback_host(std::string_view wire_host);

// Reading signatures for the policy's trust rules (docs/trust.md).
struct TrustConfig {
    // A docker config.json ("auths") with credentials imagegate reads signatures with; root-only
    // (owner root, no group or other bits). Empty: anonymous reads.
    std::string registry_credentials;
    // Where a registry's signatures are read instead of the registry itself, REGISTRY → URL
    // ("docker.io" → "https://mirror.example"): a mirror, as dockerd's registry-mirrors. http://
    // only for loopback addresses.
    std::vector<std::pair<std::string, std::string>> signature_registries;
    std::int64_t timeout_seconds = 10;              // one verification, all its reads
    std::string certs_dir = kDefaultDockerCertsDir; // HOST/*.crt added to the system's CAs
};

struct Config {
    std::string path; // the file it was read from; empty for built-in defaults
    std::string socket = kDefaultSocket;
    std::string policy_file;
    std::string policy_url;
    std::string public_key;
    std::string ca_file;
    std::string organization; // optional pin; else the first accepted bundle pins it
    std::string cache_dir = "/var/lib/imagegate";
    std::int64_t refresh_seconds = 300;
    std::int64_t max_age_seconds = 604800;
    std::string decision_log = "/var/log/imagegate/decisions.jsonl";
    std::int64_t decision_log_max_bytes = 64 * 1024 * 1024;
    int decision_log_files = 5;
    std::string admin_socket = "/run/imagegate/admin.sock";
    std::vector<std::string> docker_sockets{"/var/run/docker.sock", "/run/docker.sock"};
    std::string containerd_user;
    GatewayConfig gateway;
    TrustConfig trust;
    bool uses_default_policy() const { return policy_file.empty() && policy_url.empty(); }
};

// Reads and validates FILE; errors name the file and the key.
Result<Config> load_config(const std::string &path);

// The configuration a command runs with: --policy FILE (that file, defaults otherwise),
// --config FILE (must exist), or the default path when it exists, else built-in defaults
// (the shipped default policy).
Result<Config> resolve_config(const std::string &config_flag, const std::string &policy_flag);

} // namespace imagegate
