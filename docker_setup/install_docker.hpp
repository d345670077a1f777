// What install-docker and uninstall-docker (cli/install_docker_cmd.cpp) work with: the
// daemon.json editor (daemon_json.cpp) and what runs on the host (dockerd_host.cpp).
//
// The list lives in daemon.json, not in a --authorization-plugin flag, because dockerd re-reads
// the list from daemon.json only on SIGHUP: a list given only by flag is emptied by a reload
// (docs/authz-protocol.md §3). A flag and the file together stop dockerd from starting.
#pragma once
#include "common/config.hpp"
#include "common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

inline constexpr const char *kDefaultDaemonJson = "/etc/docker/daemon.json";
inline constexpr const char *kDefaultPluginName = "imagegate";
inline constexpr std::string_view kAuthorizationPluginsKey = "authorization-plugins";
inline constexpr std::string_view kBackupSuffix = ".imagegate.bak";
// daemon.json is a few hundred bytes; anything this large is not one.
inline constexpr std::size_t kMaxDaemonJsonBytes = 1024 * 1024;
inline constexpr std::size_t kMaxDaemonJsonDepth = 64;

struct DaemonJsonEdit {
    std::string text;     // the whole new file, two-space indented, ending in a newline
    bool changed = false; // false: the file already says what was asked; do not write it
};

// Adds NAME once to "authorization-plugins" of the daemon.json TEXT, keeping every other key
// and the key order. Empty or blank TEXT is an empty object, as dockerd reads it. Refuses
// (error naming FILE) text that is not JSON, not an object, or whose list is not strings.
Result<DaemonJsonEdit> add_authorization_plugin(std::string_view text, std::string_view name,
                                                std::string_view file);
// Removes every NAME from the list; drops the key when the list becomes empty.
Result<DaemonJsonEdit> remove_authorization_plugin(std::string_view text, std::string_view name,
                                                   std::string_view file);

// dockerd >= 23 reads its proxy from daemon.json "proxies" (docs/gateway.md).
inline constexpr std::string_view kProxiesKey = "proxies";
// Sets "proxies" to PROXY_URL for http and https and an empty no-proxy.
Result<DaemonJsonEdit> set_gateway_proxies(std::string_view text, std::string_view proxy_url,
                                           std::string_view file);
// Removes "proxies" when it is the one set_gateway_proxies wrote for PROXY_URL.
Result<DaemonJsonEdit> remove_gateway_proxies(std::string_view text, std::string_view proxy_url,
                                              std::string_view file);

// A running dockerd, read from PROC/PID/cmdline.
struct DockerdProcess {
    int pid = 0;
    std::vector<std::string> authorization_plugin_flags; // values of --authorization-plugin
    std::string config_file;                             // --config-file; empty: the default
    bool rootless = false; // not uid 0: its default is its user's ~/.config/docker/daemon.json
    std::vector<std::string> registry_mirror_flags; // values of --registry-mirror
    std::string cgroup;        // its cgroup v2 path (the "0::" line of PROC/PID/cgroup); "": none
    std::string net_namespace; // PROC/PID/ns/net ("net:[4026531992]"); "": unreadable
};
std::vector<DockerdProcess> find_dockerd_processes(const std::filesystem::path &proc_root);
// The process with PID as find_dockerd_processes reads it; nullopt when it is no dockerd.
std::optional<DockerdProcess> read_dockerd_process(const std::filesystem::path &proc_root, int pid);

// "FILE: LINE" for each place under ROOT that starts dockerd with --authorization-plugin: the
// effective ExecStart of docker.service (unit plus drop-ins) and /etc/default/docker.
std::vector<std::string> find_flag_in_docker_units(const std::filesystem::path &root);

// What the commands look at and touch besides the daemon.json they are given. Tests point
// `root` at a fixture tree (proc/, etc/systemd/..., run/docker/plugins/) and record signals.
struct DockerHost {
    std::filesystem::path root = "/";
    std::function<int(int pid, int signal)> send_signal; // empty: ::kill
    // Runs a command (iptables) with INPUT on its stdin; its stdout, or an error naming it.
    // Empty: run it (gateway/loopback_guard.hpp run_command).
    std::function<Result<std::string>(const std::vector<std::string> &argv, std::string_view input)>
        run_command;
};

// The dockerd whose registry traffic goes through this host's gateway: the dockerd listening
// on the first of DOCKER_SOCKETS (under HOST.root) that answers, by the socket's peer
// credentials; when none answers or its listener is not a dockerd (socket activation: systemd
// made the socket), every root dockerd in this network namespace.
std::vector<DockerdProcess> gateway_dockerds(const std::vector<std::string> &docker_sockets,
                                             const DockerHost &host);

// The daemon.json a root dockerd reads: its --config-file, else HOST.root/etc/docker/daemon.json.
std::string daemon_json_path(const DockerdProcess &process, const DockerHost &host);

// ---- Docker Hub mirrors (hub_mirrors.cpp; docs/gateway.md, "Registry mirrors") ----

struct HubMirror {
    std::string host;    // the wire host the gateway decides as docker.io ("mirror.example")
    std::string written; // as the source wrote it ("https://Mirror.Example:443/")
    std::string source;  // "gateway.hubMirrors", "/etc/docker/daemon.json", "dockerd (pid 7) flag"
    // Non-empty: why the gateway does not intercept it (http://: refused as plain HTTP; a
    // loopback host: reached directly, refused by the loopback guard).
    std::string not_intercepted;
};

// One registry-mirrors entry read as dockerd reads it (registry.ValidateMirror in moby's
// registry/config.go: http or https, no path, query, fragment or user info). Errors name it.
Result<HubMirror> hub_mirror_of_url(std::string_view url, std::string_view source);
// The "registry-mirrors" list of a daemon.json TEXT (absent: none). Errors name FILE.
Result<std::vector<std::string>> daemon_json_registry_mirrors(std::string_view text,
                                                              std::string_view file);
// Every Docker Hub mirror: gateway.hubMirrors, and the registry-mirrors of each of DOCKERDS
// (its --registry-mirror flags and its daemon.json), or of HOST.root/etc/docker/daemon.json
// when no dockerd runs. Sorted by host; what cannot be read goes to PROBLEMS.
std::vector<HubMirror> find_hub_mirrors(const GatewayConfig &config,
                                        const std::vector<DockerdProcess> &dockerds,
                                        const DockerHost &host, std::vector<std::string> &problems);
// The hosts of MIRRORS the gateway intercepts and decides as docker.io, sorted, unique.
std::vector<std::string> intercepted_hub_mirrors(const std::vector<HubMirror> &mirrors);

// CA_DIR/hub-mirrors.json: every intercepted mirror host the gateway CA was made for. A mirror
// given by dockerd's flags is not seen while dockerd is down (the gateway starts before it), and
// the CA must not change for that: the hosts stay until the file is removed.
inline constexpr const char *kHubMirrorsFile = "hub-mirrors.json";
// The hosts in CA_DIR/hub-mirrors.json together with NOW, sorted; written back when NOW added
// one (errors name the file).
Result<std::vector<std::string>> remember_hub_mirrors(const std::string &ca_dir,
                                                      const std::vector<std::string> &now);

// ---- install-docker --gateway / uninstall-docker --gateway (gateway_setup.cpp) ----

struct GatewaySetup {
    std::string config_flag;     // --config: the imagegate configuration (gateway, policy)
    std::string certs_dir;       // --certs-dir: instead of gateway.certsDir
    std::string dockerd_version; // --dockerd-version X.Y: instead of asking `dockerd --version`
    std::string daemon_json; // --daemon-json: for dockerd >= 23 (default /etc/docker/daemon.json)
};

// "20.10" of "Docker version 20.10.24+dfsg1, build 297e128"; the major version, or -1.
int docker_major_version(std::string_view version_text);

// The drop-in that points dockerd at the gateway (under HOST.root).
inline constexpr const char *kGatewayDropIn =
    "etc/systemd/system/docker.service.d/imagegate-gateway.conf";
// What install-docker --gateway created, for uninstall-docker --gateway: CA_DIR/installed.json.
inline constexpr const char *kGatewayManifest = "installed.json";

// The drop-in's text for a gateway at PROXY_URL and its trust directory; ENVIRONMENT_PROXY: the
// proxy variables too (dockerd < 23).
std::string gateway_drop_in(std::string_view proxy_url, std::string_view trust_dir,
                            bool environment_proxy);
// "FILE:LINE: NAME" for each proxy or certificate variable that /etc/default/docker or another
// docker.service drop-in sets (they may route pulls around the gateway).
std::vector<std::string> find_proxy_settings(const std::filesystem::path &root);

int install_gateway(const GatewaySetup &setup, const DockerHost &host, std::ostream &out,
                    std::ostream &err);
// Why a build must wait (docs/gateway.md, "Loopback registries"): "" when the gateway is not in
// use, gateway.loopbackGuard is false, or the gateway reported the guard in place for the
// cgroup the dockerd of CONFIG's dockerSockets runs in now; NOW in Unix seconds.
std::string build_loopback_guard_problem(const Config &config, const DockerHost &host,
                                         std::int64_t now);
int uninstall_gateway(const GatewaySetup &setup, const DockerHost &host, std::ostream &out,
                      std::ostream &err);

} // namespace imagegate
