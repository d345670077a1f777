// server/authz_service.cpp's fail-closed branches: whatever goes wrong, dockerd is told to deny,
// and the decision is counted under its cause (policy/cause.hpp).
#include "server/authz_service.hpp"

#include <doctest/doctest.h>

#include "common/unix_socket.hpp"
#include "server/docker_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace imagegate;

namespace {
struct Service {
    Config config;
    PolicyStore store;
    Metrics metrics;
    DecisionLog log{"", 0, 0};
    AuthzService service{config, store, metrics, log, nullptr};
    Service() { config.socket = "/run/docker/plugins/imagegate.sock"; }

    HttpReply ask(std::string_view body) {
        return service.handle("POST", "/AuthZPlugin.AuthZReq", body);
    }
    bool counted(std::string_view cause) const {
        std::string series = "imagegate_decisions_total{action=\"other\",category=\"none\","
                             "decision=\"deny\",cause=\"" +
                             std::string(cause) + "\"} 1\n";
        return metrics.prometheus_text({}).find(series) != std::string::npos;
    }
};
} // namespace

TEST_CASE("an unreadable AuthZ request is denied, cause unreadable_request") {
    Service s;
    HttpReply reply = s.ask("{not json");
    CHECK(reply.body.find("\"Allow\":false") != std::string::npos);
    CHECK(s.counted("unreadable_request"));
    CHECK_FALSE(s.counted("internal"));
    CHECK(s.metrics.totals().denied == 1);
}

TEST_CASE("an exception inside the decision denies, cause internal") {
    Service s;
    s.service.set_decide_function([](const AuthzRequest &, const DecisionContext &) -> Decision {
        throw std::runtime_error("boom");
    });
    HttpReply reply = s.ask(R"({"RequestMethod":"GET","RequestURI":"/v1.41/info"})");
    CHECK(reply.body.find("\"Allow\":false") != std::string::npos);
    CHECK(reply.body.find("internal error") != std::string::npos);
    CHECK(s.counted("internal"));
    CHECK(s.metrics.totals().internal_errors == 1);
}

TEST_CASE("a readable request reaches the decision, and its cause is counted") {
    Service s;
    s.service.set_decide_function([](const AuthzRequest &, const DecisionContext &ctx) {
        return deny_decision(Decision{}, Cause::Hardening, "imagegate: x denied: y", ctx.policy);
    });
    HttpReply reply = s.ask(R"({"RequestMethod":"GET","RequestURI":"/v1.41/info"})");
    CHECK(reply.body.find("\"Allow\":false") != std::string::npos);
    CHECK(s.counted("hardening"));
}

TEST_CASE("lookups of a dockerd that does not answer use up the budget: cause lookup_budget") {
    // A dockerd that accepts connections and never answers.
    std::string dir = std::filesystem::temp_directory_path() / "ig-budget.XXXXXX";
    REQUIRE(::mkdtemp(dir.data()));
    std::string socket = dir + "/docker.sock";
    auto listening = listen_unix(socket, 0600, 16);
    REQUIRE(listening);
    std::atomic<bool> stop{false};
    std::vector<int> held;
    std::thread silent([&] {
        while (!stop) {
            pollfd p{listening.value(), POLLIN, 0};
            if (::poll(&p, 1, 20) > 0) {
                int fd = ::accept4(listening.value(), nullptr, nullptr, SOCK_CLOEXEC);
                if (fd >= 0)
                    held.push_back(fd);
            }
        }
    });
    {
        Service s;
        DockerClient docker({socket}, 2000);
        AuthzService service{s.config, s.store, s.metrics, s.log, &docker};
        service.set_lookup_budget(std::chrono::milliseconds(300));
        int asked = 0;
        service.set_decide_function([&](const AuthzRequest &, const DecisionContext &ctx) {
            // As check_container does: the first lookup without an answer ends the decision.
            for (int i = 0; i < 100; ++i) {
                ++asked;
                if (ctx.facts.container("c" + std::to_string(i)).state ==
                    ContainerLookup::State::Unknown)
                    return deny_decision(Decision{}, Cause::LookupFailed, "lookup failed",
                                         ctx.policy);
            }
            Decision d;
            d.allow = true;
            return d;
        });
        HttpReply reply = service.handle("POST", "/AuthZPlugin.AuthZReq",
                                         R"({"RequestMethod":"GET","RequestURI":"/v1.41/info"})");
        CHECK(reply.body.find("\"Allow\":false") != std::string::npos);
        CHECK(reply.body.find("could not be decided within 300 ms") != std::string::npos);
        CHECK(s.counted("lookup_budget"));
        CHECK(asked == 1); // the one lookup waited out the budget (not its own 2 s), then denied
    }
    stop = true;
    silent.join();
    for (int fd : held)
        ::close(fd);
    ::close(listening.value());
    std::filesystem::remove_all(dir);
}

TEST_CASE("a build the policy allows waits for the gateway's loopback guard: cause registry") {
    Service s;
    s.service.set_decide_function([](const AuthzRequest &, const DecisionContext &) {
        Decision d;
        d.allow = true;
        d.action = Action::Build;
        return d;
    });
    std::string problem = "iptables: not found";
    int asked = 0;
    s.service.set_build_check([&] {
        ++asked;
        return problem;
    });
    HttpReply reply = s.ask(R"({"RequestMethod":"POST","RequestURI":"/v1.41/build"})");
    CHECK(reply.body.find("\"Allow\":false") != std::string::npos);
    CHECK(reply.body.find("imagegate: build denied: the registry gateway's loopback guard is not "
                          "in place, so the build could pull from a loopback registry that "
                          "nothing decides (docs/gateway.md, \\\"Loopback registries\\\"): "
                          "iptables: not found") != std::string::npos);
    CHECK(asked == 1);
    problem.clear();
    reply = s.ask(R"({"RequestMethod":"POST","RequestURI":"/v1.41/build"})");
    CHECK(reply.body.find("\"Allow\":true") != std::string::npos);
    // Requests other than builds are not held up by it.
    problem = "iptables: not found";
    s.service.set_decide_function([](const AuthzRequest &, const DecisionContext &) {
        Decision d;
        d.allow = true;
        d.action = Action::Pull;
        return d;
    });
    reply = s.ask(R"({"RequestMethod":"POST","RequestURI":"/v1.41/images/create?fromImage=x"})");
    CHECK(reply.body.find("\"Allow\":true") != std::string::npos);
    CHECK(asked == 2);
}
