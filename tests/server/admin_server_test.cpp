// server/admin_server.cpp: the /status document and the root-only admin socket.
#include "server/admin_server.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

using namespace imagegate;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<const ActivePolicy> active_policy(std::string_view text, std::string source,
                                                  Clock::time_point synced) {
    PolicyLoad load = load_policy(text, false);
    REQUIRE(load.policy);
    return std::make_shared<const ActivePolicy>(
        ActivePolicy{load.policy, std::move(source), synced});
}

std::string http_get(const std::string &socket_path, const std::string &target) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
    std::string request = "GET " + target + " HTTP/1.0\r\nHost: x\r\n\r\n";
    REQUIRE(::write(fd, request.data(), request.size()) == ssize_t(request.size()));
    std::string reply;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
        reply.append(buffer, std::size_t(n));
    ::close(fd);
    return reply;
}

} // namespace

TEST_CASE("status without any valid policy: nulls, not stale, the counters") {
    Config config;
    PolicyStore store;
    Metrics metrics;
    metrics.record_decision(Action::Pull, Category::None, false, 0.0001);
    json::object status =
        json::parse(status_json(config, store, metrics, Clock::now())).as_object();
    CHECK(status.at("source").is_null());
    CHECK(status.at("serial").is_null());
    CHECK(status.at("organization").is_null());
    CHECK(status.at("stale") == false);
    CHECK(status.at("lastSync").is_null());
    CHECK(status.at("decisions").at("denied") == 1);
    CHECK(status.at("decisions").at("total") == 1);
}

TEST_CASE("status of a fetched policy: source, serial, age, staleness, last sync") {
    Config config;
    config.policy_url = "https://policy.example/bundle";
    config.max_age_seconds = 100;
    PolicyStore store;
    Metrics metrics;
    Clock::time_point now = Clock::now();
    store.publish(active_policy(R"({"organization":"acme","serial":42,"mode":"audit"})",
                                "url:" + config.policy_url, now - std::chrono::seconds(150)));
    store.record_sync(false, "policy server answered HTTP 500 (Internal Server Error)", now,
                      now + std::chrono::seconds(10));
    json::object status = json::parse(status_json(config, store, metrics, now)).as_object();
    CHECK(status.at("source") == "url:https://policy.example/bundle");
    CHECK(status.at("organization") == "acme");
    CHECK(status.at("serial") == 42);
    CHECK(status.at("mode") == "audit");
    CHECK(status.at("ageSeconds") == 150);
    CHECK(status.at("stale") == true);
    CHECK(status.at("lastSync").at("ok") == false);
    CHECK(status.at("lastSync").at("result") ==
          "policy server answered HTTP 500 (Internal Server Error)");
    CHECK(status.at("nextSync").is_string());
    CHECK(status.at("syncFailures") == 1);
}

TEST_CASE("the admin socket is 0600, serves /status and /metrics, and is removed on stop") {
    std::string pattern = (fs::temp_directory_path() / "imagegate-admin-test.XXXXXX").string();
    fs::path dir = ::mkdtemp(pattern.data());
    Config config;
    config.admin_socket = (dir / "run" / "admin.sock").string();
    PolicyStore store;
    Metrics metrics;
    store.publish(active_policy(R"({"organization":"acme","serial":7})", "file:/x", Clock::now()));
    {
        AdminServer server(config, store, metrics);
        REQUIRE(server.start());
        struct stat st {};
        REQUIRE(::stat(config.admin_socket.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        REQUIRE(::stat((dir / "run").c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0700);
        std::string status = http_get(config.admin_socket, "/status");
        CHECK(status.starts_with("HTTP/1.1 200"));
        CHECK(status.find("\"serial\":7") != std::string::npos);
        std::string metrics_text = http_get(config.admin_socket, "/metrics");
        CHECK(metrics_text.find("\nimagegate_policy_serial 7\n") != std::string::npos);
        CHECK(http_get(config.admin_socket, "/nothing").starts_with("HTTP/1.1 404"));

        AdminServer second(config, store, metrics);
        CHECK_FALSE(second.start()); // another daemon is serving it: left alone
        CHECK(fs::exists(config.admin_socket));
        server.stop();
    }
    CHECK_FALSE(fs::exists(config.admin_socket));
    fs::remove_all(dir);
}
