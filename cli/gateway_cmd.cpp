// `imagegate gateway`: the registry gateway (docs/gateway.md).
#include "cli/commands.hpp"
#include "common/args.hpp"
#include "common/config.hpp"
#include "common/files.hpp"
#include "decision_log/writer.hpp"
#include "distribution/policy_source.hpp"
#include "docker_setup/install_docker.hpp"
#include "gateway/ca.hpp"
#include "gateway/loopback_guard.hpp"
#include "gateway/proxy.hpp"
#include "server/metrics.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <thread>

namespace imagegate {

namespace {

const char *kGatewayUsage =
    R"(usage: imagegate gateway [--config FILE | --policy FILE] [--listen HOST:PORT]

Runs the registry gateway: an HTTP forward proxy on loopback that dockerd sends its registry
connections through (imagegate install-docker --gateway), so that every pull dockerd makes
itself (builds, BuildKit, swarm tasks) is decided as image.pull under the policy. Registries
not allowed are refused at CONNECT; intercepted registries are served with certificates of the
gateway's CA (gateway.caDir, made on first start) and each manifest and blob request is decided.
It reads the policy the daemon keeps (policyFile, or the verified cache of policyUrl) and
re-reads it when it changes. GET /metrics on its port: the gateway's counters.
Every 2 s (and on SIGHUP) it re-reads dockerd's Docker Hub mirrors (registry-mirrors of its flags
and daemon.json, plus gateway.hubMirrors), whose requests it decides as docker.io, and checks the
loopback guard (firewall rules that keep dockerd off loopback registries), installing it when it
is missing; it reports both in CA_DIR/loopback-guard.json.
  --config FILE        local configuration (default /etc/imagegate/imagegate.json if present)
  --policy FILE        decide with this one local policy file
  --listen HOST:PORT   instead of gateway.listen (default 127.0.0.1:3128)
)";

// Modification times of what the policy is read from; a change means a reload.
std::string source_stamp(const Config &config) {
    std::string stamp;
    auto add = [&](const std::string &path) {
        struct stat st {};
        if (!path.empty() && ::stat(path.c_str(), &st) == 0)
            stamp += path + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
                     std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_size) + ";";
    };
    add(config.policy_file);
    if (!config.policy_url.empty()) {
        add(config.cache_dir + "/" + kCacheBundleFile);
        add(config.cache_dir + "/" + kCacheStateFile);
    }
    return stamp;
}

class PolicyHolder {
  public:
    explicit PolicyHolder(const Config &config) : config_(config) {}
    // Loads when the sources changed since the last load.
    void refresh(bool at_start) {
        std::string stamp = source_stamp(config_);
        if (!at_start && stamp == stamp_)
            return;
        std::vector<std::string> warnings;
        auto loaded = load_configured_policy(config_, &warnings);
        for (const auto &w : warnings)
            spdlog::warn("{}", w);
        std::lock_guard lock(mutex_);
        stamp_ = stamp;
        if (!loaded) {
            spdlog::error("{}{}", loaded.error(),
                          active_ ? " (the previous policy stays in force)"
                                  : " (no valid policy: image content is refused)");
            return;
        }
        active_ = loaded.value();
        const Policy &p = *active_->policy;
        spdlog::info("{} policy: {} serial {} ({}, mode {})", at_start ? "loaded" : "reloaded",
                     p.organization, p.serial, active_->source,
                     p.mode == Mode::Audit ? "audit" : "enforce");
    }
    GatewayPolicy view() {
        std::lock_guard lock(mutex_);
        return {active_, policy_problem(active_.get(), config_.max_age_seconds, Clock::now())};
    }

  private:
    const Config &config_;
    std::mutex mutex_;
    std::shared_ptr<const ActivePolicy> active_;
    std::string stamp_;
};

// What the gateway keeps in step with the host (docs/gateway.md): dockerd's Docker Hub mirrors
// and the loopback guard, re-read every 2 s and on SIGHUP, reported in CA_DIR/loopback-guard.json.
class HostKeeper {
  public:
    struct Found {
        std::vector<DockerdProcess> dockerds;
        std::vector<HubMirror> mirrors;
        std::vector<std::string> problems;
    };
    static Found look(const Config &config) {
        Found f;
        DockerHost host;
        f.dockerds = gateway_dockerds(config.docker_sockets, host);
        f.mirrors = find_hub_mirrors(config.gateway, f.dockerds, host, f.problems);
        return f;
    }
    // The hosts to decide as docker.io: every mirror but a loopback one (never proxied).
    static std::vector<std::string> decided_as_hub(const std::vector<HubMirror> &mirrors) {
        std::vector<std::string> hosts;
        for (const auto &m : mirrors)
            if (!is_loopback_host(m.host))
                hosts.push_back(m.host);
        return hosts;
    }

    HostKeeper(const Config &config, std::vector<std::string> ca_hosts)
        : config_(config), ca_hosts_(std::move(ca_hosts)) {
        // What the last gateway guarded stays guarded while dockerd is down (restarting).
        if (auto before = read_loopback_guard_status(config.gateway.ca_dir); before)
            guarded_ = before->cgroups;
    }

    void refresh(Gateway &gateway, Found found) {
        LoopbackGuardStatus status;
        status.checked_at = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        status.enabled = config_.gateway.loopback_guard;
        std::vector<std::string> hub = decided_as_hub(found.mirrors);
        gateway.set_hub_mirrors(hub);
        status.hub_mirrors = hub;
        for (const auto &m : found.mirrors) {
            std::string line = m.host + "  (" + m.source + ")";
            if (!m.not_intercepted.empty())
                line += ": not intercepted: " + m.not_intercepted;
            else if (std::find(ca_hosts_.begin(), ca_hosts_.end(), m.host) == ca_hosts_.end())
                line +=
                    ": not among the gateway CA's hosts, so refused at CONNECT: run "
                    "`imagegate install-docker --gateway`, then restart the gateway and dockerd";
            status.hub_mirror_lines.push_back(line);
        }
        if (status.hub_mirror_lines != mirror_lines_) {
            mirror_lines_ = status.hub_mirror_lines;
            spdlog::info("Docker Hub mirrors, decided as docker.io: {}",
                         mirror_lines_.empty() ? "none"
                                               : fmt::format("{}", fmt::join(mirror_lines_, "; ")));
        }
        if (found.problems != problems_) {
            problems_ = found.problems;
            for (const auto &p : problems_)
                spdlog::warn("registry mirrors: {}", p);
        }
        for (const auto &d : found.dockerds)
            status.dockerd_pids.push_back(d.pid);
        if (config_.gateway.loopback_guard)
            keep_guard(found, status);
        else
            status.problem = "gateway.loopbackGuard is false: builds may pull from loopback "
                             "registries that nothing decides";
        if (auto w = write_loopback_guard_status(config_.gateway.ca_dir, status);
            !w && w.error() != write_error_) {
            write_error_ = w.error();
            spdlog::error("loopback guard report: {}", w.error());
        }
    }

  private:
    void keep_guard(const Found &found, LoopbackGuardStatus &status) {
        std::string problem;
        auto mountinfo = read_file_head("/proc/self/mountinfo", 4 << 20);
        std::string mount = cgroup2_mount(mountinfo ? *mountinfo : "", problem);
        auto own = read_file_head("/proc/self/cgroup", 64 * 1024);
        std::vector<DockerdCgroup> dockerds;
        for (const auto &d : found.dockerds)
            dockerds.push_back({d.pid, d.cgroup});
        auto spec = loopback_guard_spec(config_.gateway, dockerds, own ? cgroup_v2_path(*own) : "",
                                        mount, guarded_);
        if (spec)
            guarded_ = spec->cgroups;
        if (!spec) {
            status.problem = spec.error();
        } else {
            status.cgroups = spec->cgroups;
            status.allowed = spec->allowed;
            CommandRunner run = [](const std::vector<std::string> &argv, std::string_view input) {
                return run_command(argv, input);
            };
            auto outcome = keep_loopback_guard(*spec, run, ipv6_enabled(), true);
            status.in_place = outcome.in_place;
            status.problem = outcome.problem;
            if (outcome.changed && outcome.in_place) {
                std::vector<std::string> paths;
                for (const auto &c : spec->cgroups)
                    paths.push_back(c.path + " (id " + std::to_string(c.id) + ")");
                spdlog::info("loopback guard installed: {} refuses TCP from cgroup {} to loopback "
                             "except {}",
                             kLoopbackGuardChain, fmt::join(paths, ", "),
                             fmt::join(spec->allowed, ", "));
            }
        }
        if (status.problem != guard_problem_) {
            guard_problem_ = status.problem;
            if (!guard_problem_.empty())
                spdlog::error("loopback guard not in place: {} (builds are refused: "
                              "docs/gateway.md, \"Loopback registries\")",
                              guard_problem_);
            else
                spdlog::info("loopback guard in place");
        }
    }

    const Config &config_;
    std::vector<std::string> ca_hosts_;
    std::vector<std::string> mirror_lines_, problems_;
    std::string guard_problem_ = "-", write_error_;
    std::vector<GuardedCgroup> guarded_; // the cgroups last guarded
};

} // namespace

int run_gateway(const Args &args) {
    std::string config_flag, policy_flag, listen_flag;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string &a = args[i];
        auto value = [&](std::string &out) {
            if (i + 1 >= args.size())
                return false;
            out = args[++i];
            return true;
        };
        if (a == "--help" || a == "-h") {
            std::cout << kGatewayUsage;
            return 0;
        }
        bool ok = (a == "--config" && value(config_flag)) ||
                  (a == "--policy" && value(policy_flag)) ||
                  (a == "--listen" && value(listen_flag));
        if (!ok) {
            std::cerr << "imagegate gateway: unknown or incomplete argument " << a << "\n"
                      << kGatewayUsage;
            return 2;
        }
    }
    auto logger = spdlog::stderr_color_mt("imagegate-gateway");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    spdlog::set_default_logger(logger);

    auto resolved = resolve_config(config_flag, policy_flag);
    if (!resolved) {
        spdlog::critical("{}", resolved.error());
        return 2;
    }
    Config config = std::move(resolved).value();
    if (!listen_flag.empty())
        config.gateway.listen = listen_flag;
    for (const auto &[from, to] : config.gateway.upstream_override)
        spdlog::warn("gateway.upstreamOverride: connections to {} go to {} (tests only)", from, to);

    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGHUP, SIGTERM, SIGINT})
        sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    PolicyHolder holder(config);
    holder.refresh(true);
    GatewayPolicy first = holder.view();
    auto registries =
        gateway_registries(config.gateway, first.active ? first.active->policy.get() : nullptr);
    // A Docker Hub mirror is intercepted too (decided as docker.io), so the CA must cover it.
    HostKeeper::Found found = HostKeeper::look(config);
    std::error_code ignored; // ensure_gateway_ca says what is wrong with the directory
    std::filesystem::create_directories(config.gateway.ca_dir, ignored);
    auto mirror_hosts =
        remember_hub_mirrors(config.gateway.ca_dir, intercepted_hub_mirrors(found.mirrors));
    if (!mirror_hosts) {
        spdlog::critical("{}", mirror_hosts.error());
        return 1;
    }
    for (const auto &h : *mirror_hosts)
        if (std::find(registries.begin(), registries.end(), h) == registries.end())
            registries.push_back(h);
    std::sort(registries.begin(), registries.end());
    auto ca = ensure_gateway_ca(config.gateway.ca_dir, registries);
    if (!ca) {
        spdlog::critical("gateway CA: {}", ca.error());
        return 1;
    }
    if (ca->created)
        spdlog::warn("made a new gateway CA in {} for {}: run `imagegate install-docker "
                     "--gateway` so that dockerd trusts it",
                     config.gateway.ca_dir, fmt::join(ca->hosts, ", "));
    auto minter = LeafMinter::load(config.gateway.ca_dir);
    if (!minter) {
        spdlog::critical("gateway CA: {}", minter.error());
        return 1;
    }

    std::unique_ptr<DecisionLog> log;
    try {
        log = std::make_unique<DecisionLog>(config.decision_log,
                                            static_cast<std::size_t>(config.decision_log_max_bytes),
                                            config.decision_log_files, true);
    } catch (const std::exception &e) {
        spdlog::error("{}; decisions are not logged", e.what());
        log = std::make_unique<DecisionLog>("", 0, 0);
    }
    Metrics metrics;
    Gateway gateway(
        config, ca->hosts, std::move(minter).value(), [&holder] { return holder.view(); },
        log.get(), &metrics);
    if (auto bound = gateway.bind(); !bound) {
        spdlog::critical("{}", bound.error());
        return 1;
    }
    HostKeeper keeper(config, ca->hosts);
    keeper.refresh(gateway, std::move(found));
    spdlog::info("imagegate {} gateway on {} (port {}), intercepting {}", IMAGEGATE_VERSION,
                 config.gateway.listen, gateway.port(), fmt::join(ca->hosts, ", "));

    std::atomic<bool> stopping{false};
    std::thread reloader([&] {
        while (!stopping) {
            for (int i = 0; i < 20 && !stopping; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (!stopping)
                holder.refresh(false);
        }
    });
    // Its own thread: iptables may wait for the xtables lock, and policy reloads must not.
    std::mutex keeper_mutex;
    std::condition_variable keeper_wake;
    bool keeper_now = false;
    std::thread host_keeper([&] {
        std::unique_lock lock(keeper_mutex);
        while (!stopping) {
            keeper_wake.wait_for(lock, std::chrono::seconds(2),
                                 [&] { return keeper_now || stopping.load(); });
            if (stopping)
                break;
            keeper_now = false;
            lock.unlock();
            keeper.refresh(gateway, HostKeeper::look(config));
            lock.lock();
        }
    });
    std::thread signal_thread([&] {
        while (true) {
            int sig = 0;
            if (sigwait(&signals, &sig) != 0)
                continue;
            if (sig == SIGHUP) {
                holder.refresh(true);
                std::lock_guard lock(keeper_mutex);
                keeper_now = true;
                keeper_wake.notify_one();
                continue;
            }
            spdlog::info("signal {}: stopping", sig);
            {
                std::lock_guard lock(keeper_mutex);
                stopping = true;
            }
            keeper_wake.notify_one();
            gateway.stop();
            return;
        }
    });
    gateway.run();
    signal_thread.join();
    reloader.join();
    host_keeper.join();
    // Stopped: the plugin refuses builds at once, not when the report grows stale. While the
    // gateway is down, any local user could listen on its port and tunnel dockerd's registry
    // connections around it (docs/gateway.md, "Loopback registries").
    if (auto last = read_loopback_guard_status(config.gateway.ca_dir); last) {
        LoopbackGuardStatus stopped = *last;
        stopped.checked_at = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
        stopped.in_place = false;
        stopped.problem = "imagegate gateway stopped: builds are refused until it runs again";
        if (auto w = write_loopback_guard_status(config.gateway.ca_dir, stopped); !w)
            spdlog::error("loopback guard report: {}", w.error());
    }
    bool idle = gateway.wait_idle(std::chrono::milliseconds(3000));
    log->flush();
    if (!idle) {
        // A connection's thread is still inside the log or the metrics: leave without
        // destroying them under it.
        spdlog::warn("connections still open after 3 s: exiting");
        std::_Exit(0);
    }
    return 0;
}

} // namespace imagegate
