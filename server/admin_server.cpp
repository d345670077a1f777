// The admin socket: cpp-httplib's server on an AF_UNIX socket this file binds itself, so the
// file's mode is set before anyone can connect.
#include "server/admin_server.hpp"
#include "common/time_text.hpp"
#include "common/unix_socket.hpp"

#include <boost/json.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace imagegate {
namespace json = boost::json;

namespace {

json::value time_or_null(Clock::time_point when) {
    if (when == Clock::time_point{})
        return nullptr;
    return json::string(rfc3339(when));
}

double age_seconds(const ActivePolicy &active, Clock::time_point now) {
    return std::chrono::duration<double>(now - active.synced_at).count();
}

// The directory is created 0700 (the socket's own mode is what protects it; the directory
// keeps it private between bind and chmod). An existing directory is left as it is: it may
// be /run.
std::string prepare_socket_path(const std::string &path) {
    if (path.size() >= sizeof(sockaddr_un::sun_path))
        return "adminSocket path is too long: " + path;
    std::size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        std::string dir = path.substr(0, slash);
        std::string partial;
        for (std::size_t pos = 0; pos != std::string::npos;) {
            pos = dir.find('/', pos + 1);
            partial = dir.substr(0, pos);
            bool last = pos == std::string::npos;
            if (::mkdir(partial.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST) {
                return "cannot create " + partial + ": " + std::strerror(errno);
            }
        }
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return path + " exists and is not a socket";
        // A socket file left by a daemon that died; one that still answers belongs to a live one.
        auto probe = connect_unix(path, std::chrono::milliseconds(0));
        bool live = probe.ok();
        if (live)
            ::close(probe.value());
        if (live)
            return "another process is serving " + path;
        ::unlink(path.c_str());
    }
    return {};
}

} // namespace

PolicyGauges policy_gauges(const PolicyStore &store, Clock::time_point now) {
    PolicyGauges gauges;
    if (auto active = store.current()) {
        gauges.serial = active->policy->serial;
        gauges.age_seconds = age_seconds(*active, now);
    }
    gauges.sync_failures = store.sync_status().failures;
    return gauges;
}

std::string status_json(const Config &config, const PolicyStore &store, const Metrics &metrics,
                        Clock::time_point now) {
    json::object o;
    auto active = store.current();
    if (active) {
        const Policy &policy = *active->policy;
        double age = age_seconds(*active, now);
        o["source"] = active->source;
        o["organization"] = policy.organization;
        o["serial"] = policy.serial;
        o["mode"] = policy.mode == Mode::Audit ? "audit" : "enforce";
        o["syncedAt"] = time_or_null(active->synced_at);
        o["ageSeconds"] = static_cast<std::int64_t>(age);
        o["stale"] = age > double(config.max_age_seconds);
    } else {
        for (const char *key :
             {"source", "organization", "serial", "mode", "syncedAt", "ageSeconds"})
            o[key] = nullptr;
        o["stale"] = false;
    }
    o["maxAgeSeconds"] = config.max_age_seconds;
    o["policyUrl"] =
        config.policy_url.empty() ? json::value(nullptr) : json::value(config.policy_url);

    SyncStatus sync = store.sync_status();
    if (sync.last_attempt == Clock::time_point{}) {
        o["lastSync"] = nullptr;
    } else {
        o["lastSync"] = json::object{{"time", rfc3339(sync.last_attempt)},
                                     {"ok", sync.last_ok},
                                     {"result", sync.last_result}};
    }
    o["nextSync"] = sync.next_attempt > sync.last_attempt ? time_or_null(sync.next_attempt)
                                                          : json::value(nullptr);
    o["syncFailures"] = sync.failures;

    DecisionTotals totals = metrics.totals();
    o["decisions"] = json::object{{"allowed", totals.allowed},
                                  {"denied", totals.denied},
                                  {"total", totals.allowed + totals.denied},
                                  {"internalErrors", totals.internal_errors}};
    o["version"] = IMAGEGATE_VERSION;
    return json::serialize(o) + "\n";
}

class AdminServer::HttpServer : public httplib::Server {
  public:
    // Serves on a socket bound elsewhere: httplib's own bind only knows host and port.
    bool listen_on(int fd) {
        svr_sock_ = fd;
        return listen_after_bind();
    }
};

AdminServer::AdminServer(const Config &config, PolicyStore &store, Metrics &metrics)
    : config_(config), store_(store), metrics_(metrics) {}

AdminServer::~AdminServer() {
    stop();
}

bool AdminServer::start() {
    const std::string &path = config_.admin_socket;
    if (path.empty()) {
        spdlog::info("admin socket: none configured; `imagegate status` will not work");
        return true;
    }
    if (std::string problem = prepare_socket_path(path); !problem.empty()) {
        spdlog::error("admin socket: {}", problem);
        return false;
    }
    auto listening = listen_unix(path, 0600, 64);
    if (!listening) {
        spdlog::error("admin socket: {}", listening.error());
        return false;
    }
    int fd = listening.value();
    bound_ = true;

    server_ = std::make_unique<HttpServer>();
    server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
    server_->set_read_timeout(5, 0);
    server_->set_write_timeout(5, 0);
    server_->Get("/status", [this](const httplib::Request &, httplib::Response &response) {
        response.set_content(status_json(config_, store_, metrics_, Clock::now()),
                             "application/json");
    });
    server_->Get("/metrics", [this](const httplib::Request &, httplib::Response &response) {
        response.set_content(metrics_.prometheus_text(policy_gauges(store_, Clock::now())),
                             "text/plain; version=0.0.4; charset=utf-8");
    });
    server_->set_exception_handler(
        [](const httplib::Request &request, httplib::Response &response, std::exception_ptr) {
            spdlog::error("admin socket: internal error answering {}", request.path);
            response.status = 500;
        });
    listen_returned_ = false;
    thread_ = std::thread([this, fd] {
        if (!server_->listen_on(fd))
            spdlog::error("admin socket: stopped serving {}", config_.admin_socket);
        listen_returned_ = true;
    });
    spdlog::info("admin socket: serving /status and /metrics on {}", path);
    return true;
}

void AdminServer::stop() {
    if (!thread_.joinable())
        return;
    // httplib's stop() does nothing until listen has begun: wait for one or the other.
    for (int i = 0; i < 500 && !server_->is_running() && !listen_returned_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    server_->stop();
    thread_.join();
    if (bound_)
        ::unlink(config_.admin_socket.c_str());
    bound_ = false;
}

} // namespace imagegate
