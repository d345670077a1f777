// server/authz_service.cpp's fail-closed branches: whatever goes wrong, dockerd is told to deny,
// and the decision is counted under its cause (policy/cause.hpp).
#include "server/authz_service.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

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
