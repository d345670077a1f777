// `imagegate gateway`: the registry gateway (docs/gateway.md).
#include "cli/commands.hpp"
#include "common/args.hpp"
#include "common/config.hpp"
#include "decision_log/writer.hpp"
#include "distribution/policy_source.hpp"
#include "gateway/ca.hpp"
#include "gateway/proxy.hpp"
#include "server/metrics.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
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
    std::thread signal_thread([&] {
        while (true) {
            int sig = 0;
            if (sigwait(&signals, &sig) != 0)
                continue;
            if (sig == SIGHUP) {
                holder.refresh(true);
                continue;
            }
            spdlog::info("signal {}: stopping", sig);
            stopping = true;
            gateway.stop();
            return;
        }
    });
    gateway.run();
    signal_thread.join();
    reloader.join();
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
