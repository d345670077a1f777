// common/config.cpp: the gateway's keys for Docker Hub mirrors and the loopback guard
// (docs/gateway.md); every bad entry is named.
#include "common/config.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace imagegate;
namespace fs = std::filesystem;

namespace {

// load_config of {"gateway": GATEWAY}; the error text, or "" when it loads.
std::string load_gateway(const std::string &gateway, GatewayConfig *out = nullptr) {
    fs::path file =
        fs::temp_directory_path() / ("igconfig." + std::to_string(::getpid()) + ".json");
    std::ofstream(file) << "{\"gateway\": " << gateway << "}";
    auto config = load_config(file.string());
    fs::remove(file);
    if (!config)
        return config.error().substr(config.error().find(": ") + 2);
    if (out)
        *out = config->gateway;
    return "";
}

} // namespace

TEST_CASE("config: a Docker Hub mirror host as the gateway sees it on CONNECT") {
    struct Row {
        std::string text, host;
    };
    for (const auto &row : std::vector<Row>{
             {"mirror.example", "mirror.example"},
             {"Mirror.EXAMPLE:443", "mirror.example"},
             {"mirror.example:0443", "mirror.example"},
             {"mirror.example:5000", "mirror.example:5000"},
             {"[2001:DB8::1]:5000", "[2001:db8::1]:5000"},
             {"10.0.0.5", "10.0.0.5"},
         }) {
        CAPTURE(row.text);
        auto host = hub_mirror_host(row.text);
        REQUIRE(host);
        CHECK(*host == row.host);
    }
    for (const char *bad :
         {"https://mirror.example", "mirror.example/v2", "user@mirror.example",
          "mirror.example:99999", "mirror.example:", "", "[::1", "a b", "mirror.example:80:80"}) {
        CAPTURE(bad);
        auto host = hub_mirror_host(bad);
        REQUIRE_FALSE(host);
        CHECK(host.error() == "\"" + std::string(bad) +
                                  "\" is not \"HOST\" or \"HOST:PORT\" (a Docker Hub mirror's "
                                  "host, without https:// or a path)");
    }
    for (const char *loopback : {"localhost:5000", "LOCALHOST", "127.0.0.1", "127.8.9.10:5000",
                                 "[::1]:5000", "[::ffff:127.0.0.1]:5000"})
        CHECK(is_loopback_host(loopback));
    for (const char *other : {"localhost.", "128.0.0.1", "[::2]", "mirror.example", "0.0.0.0"})
        CHECK_FALSE(is_loopback_host(other));
}

TEST_CASE("config: gateway.hubMirrors, loopbackGuard, loopbackAllow, dockerdCgroup") {
    GatewayConfig g;
    CHECK(load_gateway("{}", &g) == "");
    CHECK(g.present);
    CHECK(g.loopback_guard);
    CHECK(g.hub_mirrors.empty());
    CHECK(load_gateway(R"({"hubMirrors": ["Mirror.Example:443", "cache.example:5000"],
        "loopbackGuard": false, "loopbackAllow": ["127.0.0.1:24224", "[::1]:514"],
        "dockerdCgroup": "/system.slice/docker.service"})",
                       &g) == "");
    CHECK(g.hub_mirrors == std::vector<std::string>{"mirror.example", "cache.example:5000"});
    CHECK_FALSE(g.loopback_guard);
    CHECK(g.loopback_allow == std::vector<std::string>{"127.0.0.1:24224", "[::1]:514"});
    CHECK(g.dockerd_cgroup == "/system.slice/docker.service");

    CHECK(load_gateway(R"({"hubMirrors": ["mirror.example", "https://cache.example/"]})") ==
          "$.gateway.hubMirrors[1]: \"https://cache.example/\" is not \"HOST\" or \"HOST:PORT\" "
          "(a Docker Hub mirror's host, without https:// or a path)");
    CHECK(load_gateway(R"({"hubMirrors": ["127.0.0.1:5000"]})") ==
          "$.gateway.hubMirrors[0]: \"127.0.0.1:5000\" is a loopback address: dockerd reaches it "
          "directly, never through the gateway (docs/gateway.md, \"Loopback registries\")");
    CHECK(load_gateway(R"({"hubMirrors": "mirror.example"})") ==
          "$.gateway.hubMirrors: must be an array of \"HOST\" or \"HOST:PORT\"");
    CHECK(load_gateway(R"({"hubMirrors": [5000]})") == "$.gateway.hubMirrors[0]: must be a string");
    CHECK(load_gateway(R"({"loopbackGuard": "yes"})") ==
          "$.gateway.loopbackGuard: must be true or false");
    for (const char *bad :
         {"10.0.0.1:24224", "localhost:24224", "127.0.0.1", "24224", "[::2]:24224"})
        CHECK(load_gateway(std::string(R"({"loopbackAllow": ["127.0.0.1:1", ")") + bad + "\"]}") ==
              "$.gateway.loopbackAllow[1]: \"" + std::string(bad) +
                  "\" is not a loopback address and port (\"127.0.0.1:24224\", \"[::1]:24224\")");
    for (const char *bad : {"/", "system.slice", "/a/../b", "/a//b", "/a/", "/a b", "/a\\\"b"})
        CHECK(
            load_gateway(std::string(R"({"dockerdCgroup": ")") + bad + "\"}") ==
            "$.gateway.dockerdCgroup: must be a cgroup v2 path below the root, as /proc/PID/cgroup "
            "shows it (\"/system.slice/docker.service\")");
    CHECK(load_gateway(R"({"dockerdCgroup": "/system.slice/docker\\x2dce.service"})") == "");
}
