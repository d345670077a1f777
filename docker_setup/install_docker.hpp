// What install-docker and uninstall-docker (cli/install_docker_cmd.cpp) work with: the
// daemon.json editor (daemon_json.cpp) and what runs on the host (dockerd_host.cpp).
//
// The list lives in daemon.json, not in a --authorization-plugin flag, because dockerd re-reads
// the list from daemon.json only on SIGHUP: a list given only by flag is emptied by a reload
// (docs/authz-protocol.md §3). A flag and the file together stop dockerd from starting.
#pragma once
#include "common/result.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <iosfwd>
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
};
std::vector<DockerdProcess> find_dockerd_processes(const std::filesystem::path &proc_root);

// "FILE: LINE" for each place under ROOT that starts dockerd with --authorization-plugin: the
// effective ExecStart of docker.service (unit plus drop-ins) and /etc/default/docker.
std::vector<std::string> find_flag_in_docker_units(const std::filesystem::path &root);

// What the commands look at and touch besides the daemon.json they are given. Tests point
// `root` at a fixture tree (proc/, etc/systemd/..., run/docker/plugins/) and record signals.
struct DockerHost {
    std::filesystem::path root = "/";
    std::function<int(int pid, int signal)> send_signal; // empty: ::kill
};

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
int uninstall_gateway(const GatewaySetup &setup, const DockerHost &host, std::ostream &out,
                      std::ostream &err);

} // namespace imagegate
