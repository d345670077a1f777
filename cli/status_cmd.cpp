// `imagegate status [--config FILE] [--json]`: asks the running daemon over its admin socket.
#include "cli/commands.hpp"
#include "common/config.hpp"
#include "common/unix_socket.hpp"
#include "docker_setup/install_docker.hpp"
#include "gateway/loopback_guard.hpp"

#include <boost/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

namespace imagegate {
namespace json = boost::json;
namespace {

constexpr std::size_t kMaxStatusBytes = 1024 * 1024;

struct HttpReply {
    int status = 0;
    std::string body;
};

// One GET over a Unix socket, HTTP/1.0 so the server closes when it is done.
Result<HttpReply> get_over_unix_socket(const std::string &socket_path, std::string_view target) {
    std::string request =
        "GET " + std::string(target) + " HTTP/1.0\r\nHost: imagegate\r\nConnection: close\r\n\r\n";
    int error = 0;
    auto reply =
        unix_http_exchange(socket_path, request, std::chrono::seconds(5), kMaxStatusBytes, &error);
    if (!reply) {
        if (error == ENOENT || error == ECONNREFUSED)
            return Error{"the imagegate daemon is not running (nothing answers on " + socket_path +
                         ")"};
        if (error == EACCES || error == EPERM)
            return Error{"permission denied on " + socket_path +
                         ": the admin socket is root-only (use sudo)"};
        return Error{reply.error()};
    }
    return HttpReply{reply->status, std::move(reply).value().body};
}

std::string text_of(const json::value *v, std::string_view absent = "-") {
    if (v == nullptr || v->is_null())
        return std::string(absent);
    if (v->is_string())
        return std::string(v->get_string());
    return json::serialize(*v);
}

std::string duration_text(std::int64_t seconds) {
    if (seconds < 0)
        return "0s";
    if (seconds < 120)
        return std::to_string(seconds) + "s";
    if (seconds < 7200)
        return std::to_string(seconds / 60) + "m";
    if (seconds < 2 * 86400)
        return std::to_string(seconds / 3600) + "h";
    return std::to_string(seconds / 86400) + "d";
}

void print_text(const json::object &s) {
    auto get = [&](std::string_view key) { return s.if_contains(key); };
    const json::value *serial = get("serial");
    if (serial == nullptr || serial->is_null()) {
        std::cout
            << "policy      none: no valid policy was ever loaded; image actions are denied\n";
    } else {
        std::cout << "policy      " << text_of(get("organization")) << " serial " << text_of(serial)
                  << ", " << text_of(get("mode")) << " mode\n";
        std::cout << "source      " << text_of(get("source")) << "\n";
        std::int64_t age =
            get("ageSeconds") && get("ageSeconds")->is_int64() ? get("ageSeconds")->get_int64() : 0;
        std::int64_t max_age = get("maxAgeSeconds") && get("maxAgeSeconds")->is_int64()
                                   ? get("maxAgeSeconds")->get_int64()
                                   : 0;
        std::cout << "age         " << duration_text(age) << " (synced " << text_of(get("syncedAt"))
                  << "; stale after " << duration_text(max_age) << ")";
        if (const json::value *stale = get("stale");
            stale && stale->is_bool() && stale->get_bool()) {
            std::cout << "  STALE: image actions are denied";
        }
        std::cout << "\n";
    }
    if (const json::value *last = get("lastSync"); last && last->is_object()) {
        const json::object &o = last->get_object();
        bool ok = o.if_contains("ok") && o.at("ok").is_bool() && o.at("ok").get_bool();
        std::cout << "last sync   " << text_of(o.if_contains("time")) << " "
                  << (ok ? "" : "FAILED: ") << text_of(o.if_contains("result")) << "\n";
        std::cout << "next sync   " << text_of(get("nextSync")) << "\n";
    }
    if (const json::value *failures = get("syncFailures");
        failures && !failures->is_null() && json::serialize(*failures) != "0") {
        std::cout << "failures    " << text_of(failures) << " sync failures since start\n";
    }
    if (const json::value *d = get("decisions"); d && d->is_object()) {
        const json::object &o = d->get_object();
        std::cout << "decisions   " << text_of(o.if_contains("allowed"), "0") << " allowed, "
                  << text_of(o.if_contains("denied"), "0") << " denied, "
                  << text_of(o.if_contains("internalErrors"), "0") << " internal errors\n";
    }
}

// The registry gateway as this host has it (docs/gateway.md): what the gateway last reported
// (CA_DIR/loopback-guard.json: the loopback guard, the Docker Hub mirrors) and whether the
// plugin lets builds go on now. Null when the gateway is not in use.
json::value gateway_status(const Config &config) {
    if (!gateway_in_use(config.gateway))
        return nullptr;
    std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    json::object g;
    bool missing = false;
    auto report = read_loopback_guard_status(config.gateway.ca_dir, &missing);
    if (report) {
        boost::system::error_code ec;
        g["report"] = json::parse(loopback_guard_status_json(*report), ec);
        g["reportAgeSeconds"] = now - report->checked_at;
    } else {
        g["report"] = nullptr;
        g["reportError"] = missing ? "none: imagegate gateway has not written " +
                                         config.gateway.ca_dir + "/" + kLoopbackGuardStatusFile
                                   : report.error();
    }
    g["loopbackGuard"] = config.gateway.loopback_guard;
    g["buildsRefused"] = build_loopback_guard_problem(config, DockerHost{}, now);
    return g;
}

void print_gateway(const json::value &gateway) {
    if (!gateway.is_object())
        return;
    const json::object &g = gateway.as_object();
    const json::value *report = g.if_contains("report");
    std::string refused = text_of(g.if_contains("buildsRefused"), "");
    if (!report || !report->is_object()) {
        std::cout << "gateway     no report: " << text_of(g.if_contains("reportError")) << "\n";
    } else {
        const json::object &r = report->as_object();
        std::string cgroups;
        if (auto *c = r.if_contains("cgroups"); c && c->is_array())
            for (const auto &e : c->as_array())
                cgroups +=
                    (cgroups.empty() ? "" : ", ") + text_of(e.as_object().if_contains("path"));
        bool in_place =
            r.if_contains("inPlace") && r.at("inPlace").is_bool() && r.at("inPlace").as_bool();
        std::cout << "guard       "
                  << (in_place
                          ? "loopback guard in place for dockerd's cgroup " + cgroups
                          : "loopback guard NOT in place: " + text_of(r.if_contains("problem")))
                  << " (checked " << duration_text(g.at("reportAgeSeconds").as_int64())
                  << " ago)\n";
        std::cout << "hub mirrors";
        const json::value *lines = r.if_contains("hubMirrorSources");
        if (!lines || !lines->is_array() || lines->as_array().empty())
            std::cout << " none (requests are decided as the registry they name)\n";
        else {
            std::string indent = " ";
            for (const auto &l : lines->as_array()) {
                std::cout << indent << text_of(&l) << "\n";
                indent = "            ";
            }
        }
    }
    std::cout << "builds      "
              << (refused.empty() ? "allowed by the loopback guard check"
                                  : "REFUSED: " + refused + " (docs/gateway.md)")
              << "\n";
}

} // namespace

int run_status(const Args &args) {
    std::string config_flag;
    bool as_json = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--help" || args[i] == "-h") {
            std::cout << "usage: imagegate status [--config FILE] [--json]\n\n"
                         "The running daemon's policy source, organization, serial, age, last sync "
                         "result,\n"
                         "mode and decision counters, read from its admin socket (adminSocket).\n"
                         "With the registry gateway: its loopback guard, the hosts it decides "
                         "as Docker Hub\nmirrors, and whether builds are refused "
                         "(docs/gateway.md).\n";
            return 0;
        } else if (args[i] == "--json") {
            as_json = true;
        } else if (args[i] == "--config" && i + 1 < args.size()) {
            config_flag = args[++i];
        } else if (args[i].starts_with("--config=")) {
            config_flag = args[i].substr(9);
        } else {
            std::cerr << "imagegate status: unexpected argument " << args[i]
                      << "\nusage: imagegate status [--config FILE] [--json]\n";
            return 2;
        }
    }
    auto config = resolve_config(config_flag, "");
    if (!config) {
        std::cerr << "imagegate status: " << config.error() << "\n";
        return 2;
    }
    json::value gateway = gateway_status(*config);
    if (config->admin_socket.empty()) {
        if (!as_json)
            print_gateway(gateway);
        std::cerr << "imagegate status: the configuration sets no adminSocket\n";
        return 1;
    }
    auto reply = get_over_unix_socket(config->admin_socket, "/status");
    if (!reply) {
        if (!as_json)
            print_gateway(gateway);
        std::cerr << "imagegate status: " << reply.error() << "\n";
        return 1;
    }
    if (reply->status != 200) {
        std::cerr << "imagegate status: the daemon answered HTTP " << reply->status << "\n";
        return 1;
    }
    boost::system::error_code ec;
    json::value status = json::parse(reply->body, ec);
    if (ec || !status.is_object()) {
        std::cerr << "imagegate status: the daemon's answer is not a JSON object\n";
        return 1;
    }
    if (!gateway.is_null())
        status.as_object()["gateway"] = gateway;
    if (as_json) {
        std::cout << json::serialize(status) << "\n";
    } else {
        print_text(status.get_object());
        print_gateway(gateway);
    }
    return 0;
}

} // namespace imagegate
