// The loopback guard (docs/gateway.md, "Loopback registries"): Go never sends a request for
// "localhost" or a loopback IP address through a proxy, so dockerd pulls `FROM 127.0.0.1:5000/x`
// straight from whatever listens there, around the gateway. The guard is a firewall chain,
// IMAGEGATE-LOOPBACK (iptables and ip6tables, filter table, jumped to first from OUTPUT), that
// resets every TCP connection dockerd's cgroup (v2) opens to 127.0.0.0/8, ::1 or
// ::ffff:127.0.0.0/104 except to the gateway's own address and the configured
// gateway.loopbackAllow. `imagegate gateway` installs it and re-checks it every 2 s, and writes
// what it found to CA_DIR/loopback-guard.json; the plugin refuses builds when that file does
// not show the guard in place for dockerd's current cgroup.
#pragma once
#include "common/config.hpp"
#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

inline constexpr const char *kLoopbackGuardChain = "IMAGEGATE-LOOPBACK";
// In gateway.caDir: what the gateway last found (root's directory, so only root writes it).
inline constexpr const char *kLoopbackGuardStatusFile = "loopback-guard.json";
// The gateway checks every 2 s; a report older than this means it is not checking.
inline constexpr std::int64_t kLoopbackGuardFreshSeconds = 15;

enum class IpFamily { V4, V6 };

// A cgroup v2 the guard covers: its path below the hierarchy's root and its id (the inode of
// its directory), which changes when the cgroup is made anew (dockerd restarted by systemd), so
// a rule that still names the old one is told from a current one.
struct GuardedCgroup {
    std::string path;
    std::uint64_t id = 0;
    bool operator==(const GuardedCgroup &) const = default;
};

struct LoopbackGuardSpec {
    std::vector<GuardedCgroup> cgroups;
    // Loopback addresses dockerd may still reach: the gateway's listen address and
    // gateway.loopbackAllow ("127.0.0.1:3128", "[::1]:24224").
    std::vector<std::string> allowed;
};

// A dockerd as the guard sees it: its pid and its cgroup v2 path ("" when it has none).
struct DockerdCgroup {
    int pid = 0;
    std::string cgroup;
};

// The chain's rules for FAMILY as `iptables -S` prints them, in order: a RETURN per allowed
// address of the family, then per cgroup a REJECT (tcp-reset) of connection attempts (SYN) to
// each loopback range by destination and by conntrack's original destination (a connection
// DNATed from a loopback address, as dockerd's published ports are without userland-proxy).
std::vector<std::string> loopback_guard_rules(const LoopbackGuardSpec &spec, IpFamily family);
// How LISTING (`iptables -S` of the filter table) differs from the guard in place: "" when the
// chain has exactly the rules and OUTPUT's first rule, and its only jump to the chain, is -j
// IMAGEGATE-LOOPBACK.
std::string loopback_guard_difference(std::string_view listing, const LoopbackGuardSpec &spec,
                                      IpFamily family);
// iptables-restore --noflush input that replaces the chain and OUTPUT's jump in one
// transaction (LISTING: how many jumps to delete first).
std::string loopback_guard_restore_input(std::string_view listing, const LoopbackGuardSpec &spec,
                                         IpFamily family);
// iptables-restore --noflush input that removes the chain and OUTPUT's jumps; "" when LISTING
// has neither.
std::string loopback_guard_removal_input(std::string_view listing);

// Runs ARGV (ARGV[0] looked up on PATH, then /usr/sbin and /sbin) with INPUT on stdin; its
// stdout, or an error naming the command with its stderr.
using CommandRunner = std::function<Result<std::string>(const std::vector<std::string> &argv,
                                                        std::string_view input)>;
Result<std::string> run_command(const std::vector<std::string> &argv, std::string_view input,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct LoopbackGuardOutcome {
    bool in_place = false;
    bool changed = false; // installed or renewed now
    std::string problem;  // why it is not in place
};
// Checks the chain (iptables, and ip6tables when IPV6) and, when INSTALL, puts in place what
// differs.
LoopbackGuardOutcome keep_loopback_guard(const LoopbackGuardSpec &spec, const CommandRunner &run,
                                         bool ipv6, bool install);
// Removes the chain and OUTPUT's jumps; true when there was something to remove.
Result<bool> remove_loopback_guard(const CommandRunner &run, bool ipv6);
// Whether this host has IPv6 (and so ::1): /proc/net/if_inet6 exists.
bool ipv6_enabled();

// Where the cgroup v2 hierarchy is mounted, from MOUNTINFO (/proc/self/mountinfo); "" and
// PROBLEM when none is, or when what is mounted is not its root (a cgroup namespace).
std::string cgroup2_mount(std::string_view mountinfo, std::string &problem);
// The cgroup v2 path of a process from its /proc/PID/cgroup text (the "0::" line); "" if none.
std::string cgroup_v2_path(std::string_view proc_cgroup);
// The id of the cgroup PATH under MOUNT; nullopt when it does not exist.
std::optional<std::uint64_t> cgroup_id(const std::string &mount, const std::string &path);

// The guard for CONFIG and the running DOCKERDS, or why there can be none: no cgroup v2, a
// dockerd in the root cgroup or in the gateway's own (OWN_CGROUP), outside
// gateway.dockerdCgroup, a listen address that is not a loopback IP address. Errors name it.
// While no dockerd runs (it restarts), the PREVIOUS cgroups that still exist as they were stay
// guarded: a dockerd that comes back into one of them is covered at once.
Result<LoopbackGuardSpec> loopback_guard_spec(const GatewayConfig &config,
                                              const std::vector<DockerdCgroup> &dockerds,
                                              const std::string &own_cgroup,
                                              const std::string &mount,
                                              const std::vector<GuardedCgroup> &previous = {});

// What the gateway found, CA_DIR/loopback-guard.json.
struct LoopbackGuardStatus {
    std::int64_t checked_at = 0; // Unix seconds
    bool enabled = true;         // gateway.loopbackGuard
    bool in_place = false;
    std::string problem;
    std::vector<GuardedCgroup> cgroups;
    std::vector<std::string> allowed;
    std::vector<int> dockerd_pids;
    // Hosts decided as docker.io (docs/gateway.md, "Registry mirrors"), and one line per
    // mirror found ("HOST  SOURCE", "HOST  SOURCE: not intercepted: WHY").
    std::vector<std::string> hub_mirrors;
    std::vector<std::string> hub_mirror_lines;
};
std::string loopback_guard_status_json(const LoopbackGuardStatus &status);
Result<LoopbackGuardStatus> parse_loopback_guard_status(std::string_view text,
                                                        std::string_view file);
Result<void> write_loopback_guard_status(const std::string &ca_dir,
                                         const LoopbackGuardStatus &status);
// MISSING: the file does not exist.
Result<LoopbackGuardStatus> read_loopback_guard_status(const std::string &ca_dir,
                                                       bool *missing = nullptr);

// Whether this host routes dockerd through the gateway: the configuration has a "gateway" key,
// or install-docker --gateway left CA_DIR/installed.json.
bool gateway_in_use(const GatewayConfig &config);

// The plugin's question before a build (docs/gateway.md): "" when builds may go on (no gateway,
// gateway.loopbackGuard false, or the gateway reported the guard in place within
// kLoopbackGuardFreshSeconds for a cgroup that holds every one of DOCKERDS and is still the
// same cgroup); otherwise why not.
std::string loopback_guard_problem(const GatewayConfig &config,
                                   const std::vector<DockerdCgroup> &dockerds,
                                   const std::string &mount, std::int64_t now);

} // namespace imagegate
