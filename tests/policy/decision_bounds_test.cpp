// What one request may cost imagegate (issue 8): dockerd has no timeout for v1 plugins, so a
// request whose decision needs many lookups hangs the docker command that sent it. These tests
// count the host-fact lookups a decision makes rather than timing it.
#include "policy/decide.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace imagegate;

namespace {

AuthzRequest create_request(const std::string &host_config) {
    AuthzRequest r;
    r.method = "POST";
    r.uri = "/v1.41/containers/create";
    r.body = R"({"Image":"alpine","HostConfig":)" + host_config + "}";
    r.headers["content-type"] = "application/json";
    r.headers["content-length"] = std::to_string(r.body.size());
    return r;
}

std::string repeated_json_strings(const std::string &value, int times) {
    std::string out = "[";
    for (int i = 0; i < times; ++i)
        out += std::string(i ? "," : "") + "\"" + value + "\"";
    return out + "]";
}

} // namespace

TEST_CASE("a container named many times in --volumes-from is looked up once") {
    auto policy = load_policy(default_policy_json(), false).policy;
    REQUIRE(policy);
    constexpr int kTimes = 1000;
    int lookups = 0;
    DecisionContext ctx;
    ctx.policy = policy.get();
    // c1 lends --volumes-from c0, a thousand times over; c0 lends nothing.
    ctx.facts.container = [&](std::string_view name) {
        ++lookups;
        ContainerLookup found;
        found.state = ContainerLookup::State::Found;
        if (name == "c1")
            found.settings.volumes_from.assign(kTimes, "c0");
        return found;
    };
    Decision d = decide_request(
        create_request(R"({"VolumesFrom":)" + repeated_json_strings("c1", kTimes) + "}"), ctx);
    CHECK(d.allow);
    // c1, then c0: not 1000 + 1000 × 1000.
    CHECK(lookups == 2);
}

TEST_CASE("--volumes-from still checks every distinct container it names") {
    auto policy = load_policy(default_policy_json(), false).policy;
    REQUIRE(policy);
    DecisionContext ctx;
    ctx.policy = policy.get();
    ctx.protected_paths = {"/var/run/docker.sock"};
    ctx.facts.container = [&](std::string_view name) {
        ContainerLookup found;
        found.state = ContainerLookup::State::Found;
        if (name == "agent")
            found.settings.mounts.push_back(
                {"/var/run/docker.sock", "bind /var/run/docker.sock:/s"});
        if (name == "relay")
            found.settings.volumes_from = {"plain", "agent", "plain"};
        return found;
    };
    Decision d =
        decide_request(create_request(R"({"VolumesFrom":["plain","relay","plain","relay"]})"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("/var/run/docker.sock") != std::string::npos);
}
