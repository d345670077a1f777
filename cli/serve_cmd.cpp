// `imagegate serve`: the plugin daemon (README).
#include "cli/commands.hpp"
#include "common/args.hpp"
#include "common/config.hpp"
#include "decision_log/writer.hpp"
#include "distribution/policy_source.hpp"
#include "distribution/policy_store.hpp"
#include "distribution/sync.hpp"
#include "docker_setup/install_docker.hpp"
#include "server/admin_server.hpp"
#include "server/authz_service.hpp"
#include "server/docker_client.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <malloc.h>
#include <pthread.h>
#include <thread>

namespace imagegate {

static const char *kServeUsage =
    R"(usage: imagegate serve [--config FILE | --policy FILE] [--socket PATH] [--docker-socket PATH]...

Runs the Docker authorization plugin. dockerd names the plugin after the socket file
(default /run/docker/plugins/imagegate.sock: --authorization-plugin=imagegate).
With systemd socket activation (LISTEN_FDS) it serves the socket it is given.
  --config FILE         local configuration (default /etc/imagegate/imagegate.json if present;
                        otherwise the shipped default policy)
  --policy FILE         serve this one local policy file
  --socket PATH         the plugin socket
  --docker-socket PATH  dockerd's API socket, for facts about the host (repeatable)
  --decision-log FILE   the decision log ("" to disable)
  --admin-socket PATH   the admin socket for `imagegate status` and /metrics
SIGHUP reloads a policyFile and fetches a policyUrl now.
)";

namespace {
void publish_file_policy(const Config &config, PolicyStore &store, bool at_start) {
    std::vector<std::string> warnings;
    auto active = load_configured_policy(config, &warnings);
    for (const auto &w : warnings)
        spdlog::warn("{}", w);
    if (!active) {
        spdlog::error("{}{}", active.error(),
                      store.current() ? " (the previous policy stays in force)"
                                      : " (no valid policy: image actions are denied)");
        store.record_sync(false, active.error(), Clock::now(), Clock::time_point{});
        return;
    }
    const Policy &p = *active.value()->policy;
    spdlog::info("{} policy: {} serial {} ({}, mode {})", at_start ? "loaded" : "reloaded",
                 p.organization, p.serial, active.value()->source,
                 p.mode == Mode::Audit ? "audit" : "enforce");
    store.publish(active.value());
    store.record_sync(true, "ok", Clock::now(), Clock::time_point{});
}
} // namespace

int run_serve(const Args &args) {
    // Serving threads (more while handlers wait on dockerd) and the log writer: glibc would give
    // up to 8 malloc arenas per core, each keeping what its threads freed (250 MiB at peak with
    // 200 misbehaving connections when each had its own thread; 40 MiB with one arena per core,
    // at the same throughput). MALLOC_ARENA_MAX wins.
    if (!std::getenv("MALLOC_ARENA_MAX"))
        ::mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
    std::string config_flag, policy_flag, socket_flag, log_flag, admin_flag;
    bool log_given = false, admin_given = false;
    std::vector<std::string> docker_sockets;
    try {
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (is_help(args[i])) {
                std::cout << kServeUsage;
                return 0;
            }
            if (auto v = take_option(args, i, "--config"))
                config_flag = *v;
            else if (auto v = take_option(args, i, "--policy"))
                policy_flag = *v;
            else if (auto v = take_option(args, i, "--socket"))
                socket_flag = *v;
            else if (auto v = take_option(args, i, "--docker-socket"))
                docker_sockets.push_back(*v);
            else if (auto v = take_option(args, i, "--decision-log"))
                log_flag = *v, log_given = true;
            else if (auto v = take_option(args, i, "--admin-socket"))
                admin_flag = *v, admin_given = true;
            else
                throw UsageError("unknown argument " + args[i]);
        }
    } catch (const UsageError &e) {
        std::cerr << "imagegate serve: " << e.what() << "\n" << kServeUsage;
        return 2;
    }
    auto stderr_logger = spdlog::stderr_color_mt("imagegate");
    stderr_logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    spdlog::set_default_logger(stderr_logger);

    auto resolved = resolve_config(config_flag, policy_flag);
    if (!resolved) {
        spdlog::critical("{}", resolved.error());
        return 2;
    }
    Config config = std::move(resolved).value();
    if (!socket_flag.empty())
        config.socket = socket_flag;
    if (!docker_sockets.empty())
        config.docker_sockets = docker_sockets;
    if (log_given)
        config.decision_log = log_flag;
    if (admin_given)
        config.admin_socket = admin_flag;

    // Signals are taken by one thread with sigwait; every other thread blocks them.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGHUP, SIGTERM, SIGINT})
        sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<DecisionLog> log;
    try {
        log = std::make_unique<DecisionLog>(config.decision_log,
                                            static_cast<std::size_t>(config.decision_log_max_bytes),
                                            config.decision_log_files, true);
    } catch (const std::exception &e) {
        spdlog::error("{}; decisions are not logged", e.what());
        log = std::make_unique<DecisionLog>("", 0, 0);
    }
    PolicyStore store;
    Metrics metrics;
    DockerClient docker(config.docker_sockets);

    std::unique_ptr<PolicySync> sync;
    if (!config.policy_url.empty()) {
        sync = std::make_unique<PolicySync>(config, store);
        sync->start();
    } else
        publish_file_policy(config, store, true);

    AuthzService service(config, store, metrics, *log, &docker);
    // With the registry gateway, a build waits for its loopback guard (docs/gateway.md).
    service.set_build_check([&config] {
        return build_loopback_guard_problem(config, DockerHost{},
                                            std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
    });
    // The decision's log line and counters after the reply (HttpReply::after): dockerd does not
    // wait for them.
    HttpServer server(
        [&service](std::string_view m, std::string_view t, std::string_view b) {
            return service.handle_then_record(m, t, b);
        },
        HttpServerLimits{});
    try {
        server.listen_unix(config.socket);
    } catch (const std::exception &e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    std::unique_ptr<AdminServer> admin;
    if (!config.admin_socket.empty()) {
        try {
            admin = std::make_unique<AdminServer>(config, store, metrics);
            admin->start();
        } catch (const std::exception &e) {
            spdlog::error("admin socket {}: {}", config.admin_socket, e.what());
        }
    }
    spdlog::info("imagegate {} serving {}{}", IMAGEGATE_VERSION, config.socket,
                 server.socket_activated() ? " (socket activation)" : "");

    std::thread signal_thread([&] {
        while (true) {
            int sig = 0;
            if (sigwait(&signals, &sig) != 0)
                continue;
            if (sig == SIGHUP) {
                spdlog::info("SIGHUP: reloading the policy");
                if (sync) {
                    sync->trigger();
                    continue;
                }
                publish_file_policy(config, store, false);
                continue;
            }
            spdlog::info("signal {}: stopping", sig);
            server.stop();
            return;
        }
    });
    server.run();
    signal_thread.join();
    if (admin)
        admin->stop();
    if (sync)
        sync->stop();
    log->flush();
    if (!server.socket_activated())
        ::unlink(config.socket.c_str());
    return 0;
}

} // namespace imagegate
