// gateway/proxy.cpp: a CONNECT to a Docker Hub mirror is decided as docker.io, however the host
// is spelled, even when the mirror is a registry the policy allows in its own right
// (docs/gateway.md, "Registry mirrors").
#include "gateway/ca.hpp"
#include "gateway/proxy.hpp"
#include "tests/policy/test_policies.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <thread>

using namespace imagegate;
namespace fs = std::filesystem;

namespace {

// The first line of the gateway's answer to HEAD, and its body when it has one.
std::string ask(int port, const std::string &head) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(::write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()));
    std::string answer;
    char buffer[4096];
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0)
        answer.assign(buffer, static_cast<std::size_t>(got));
    ::close(fd);
    return answer;
}

std::string connect_to(int port, const std::string &target) {
    return ask(port, "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
}

} // namespace

TEST_CASE("gateway: a Docker Hub mirror is decided as docker.io, however it is spelled") {
    // The gateway's TLS side writes an alert to a client that left: as `imagegate gateway`
    // does, ignore SIGPIPE here.
    auto previous = std::signal(SIGPIPE, SIG_IGN);
    fs::path dir = fs::temp_directory_path() / ("ighub." + std::to_string(::getpid()));
    fs::remove_all(dir);
    // mirror.example is a registry the policy allows; Docker Hub is not.
    auto policy = testing::load(R"({"organization": "acme", "serial": 7,
        "registryAccess": {"enabled": true, "allowedRegistries": ["mirror.example"]}})");
    auto active = std::make_shared<ActivePolicy>();
    active->policy = policy;
    active->source = "test";
    auto ca = ensure_gateway_ca(dir.string(), {"mirror.example"});
    REQUIRE(ca);
    auto minter = LeafMinter::load(dir.string());
    REQUIRE(minter);
    Config config;
    config.gateway.listen = "127.0.0.1:0";
    config.gateway.ca_dir = dir.string();
    Gateway gateway(
        config, ca->hosts, std::move(minter).value(),
        [active] {
            return GatewayPolicy{active, ""};
        },
        nullptr, nullptr);
    REQUIRE(gateway.bind());
    std::thread runner([&] { gateway.run(); });

    CHECK(connect_to(gateway.port(), "mirror.example:443").starts_with("HTTP/1.1 200"));
    gateway.set_hub_mirrors({"mirror.example"});
    for (const char *spelling :
         {"mirror.example:443", "MIRROR.Example:443", "mirror.example:0443"}) {
        CAPTURE(spelling);
        std::string answer = connect_to(gateway.port(), spelling);
        CHECK(answer.starts_with("HTTP/1.1 403"));
        CHECK(answer.find("imagegate: pull from docker.io denied: registry docker.io is not "
                          "allowed by acme's Registry Access Management (policy 7)") !=
              std::string::npos);
    }
    // Another port of the same host is another endpoint: not the mirror.
    CHECK(connect_to(gateway.port(), "mirror.example:5000").find("docker.io") == std::string::npos);
    gateway.set_hub_mirrors({});
    CHECK(connect_to(gateway.port(), "mirror.example:443").starts_with("HTTP/1.1 200"));

    gateway.stop();
    runner.join();
    CHECK(gateway.wait_idle(std::chrono::milliseconds(3000)));
    fs::remove_all(dir);
    std::signal(SIGPIPE, previous);
}
