// Every decision carries one machine-readable cause (policy/cause.hpp): these pin which cause
// each stage of decide_request gives, so that a denial counted or logged under the wrong cause
// fails here.
#include "policy/decide.hpp"
#include "test_policies.hpp"

#include <doctest/doctest.h>

using namespace imagegate;
using imagegate::testing::acme;

namespace {
AuthzRequest request(std::string method, std::string uri, std::string body = "",
                     std::string user = "") {
    AuthzRequest r;
    r.method = std::move(method);
    r.uri = std::move(uri);
    r.body = std::move(body);
    r.user = std::move(user);
    if (!r.body.empty())
        r.headers["content-type"] = "application/json";
    return r;
}

Policy load(const std::string &text) {
    auto loaded = load_policy(text, false);
    REQUIRE(loaded.policy);
    return *loaded.policy;
}

DecisionContext context(const Policy *p) {
    DecisionContext ctx;
    ctx.policy = p;
    ctx.protected_paths = {"/run/docker.sock"};
    ctx.facts.image_user = [](std::string_view) -> std::optional<std::string> {
        return std::string("nobody");
    };
    return ctx;
}
} // namespace

TEST_CASE("cause names are stable snake_case and read back") {
    CHECK(cause_name(Cause::None) == "none");
    CHECK(cause_name(Cause::Image) == "image");
    CHECK(cause_name(Cause::Registry) == "registry");
    CHECK(cause_name(Cause::Hardening) == "hardening");
    CHECK(cause_name(Cause::SignIn) == "sign_in");
    CHECK(cause_name(Cause::PluginManagement) == "plugin_management");
    CHECK(cause_name(Cause::SwarmMembership) == "swarm_membership");
    CHECK(cause_name(Cause::UnreadableRequest) == "unreadable_request");
    CHECK(cause_name(Cause::NoPolicy) == "no_policy");
    CHECK(cause_name(Cause::StalePolicy) == "stale_policy");
    CHECK(cause_name(Cause::LookupFailed) == "lookup_failed");
    CHECK(cause_name(Cause::LookupBudget) == "lookup_budget");
    CHECK(cause_name(Cause::Internal) == "internal");
    for (Cause c : kAllCauses)
        CHECK(cause_from_name(cause_name(c)) == c);
    CHECK_FALSE(cause_from_name("unknown"));
}

TEST_CASE("image decisions: image or registry") {
    CHECK(decide_image(Action::Pull, "alpine", "", *acme()).cause == Cause::None);
    CHECK(decide_image(Action::Pull, "someone/tool", "", *acme()).cause == Cause::Image);
    CHECK(decide_image(Action::Pull, "quay.io/acme/app", "alice", *acme()).cause ==
          Cause::Registry);
    CHECK(decide_image(Action::Pull, "Someone/Tool", "", *acme()).cause == Cause::Image);
}

TEST_CASE("a request's cause is the stage that denied it") {
    auto p = acme();
    DecisionContext ctx = context(p.get());

    Decision allowed =
        decide_request(request("POST", "/v1.41/images/create?fromImage=alpine"), ctx);
    CHECK(allowed.allow);
    CHECK(allowed.cause == Cause::None);

    Decision image =
        decide_request(request("POST", "/v1.41/images/create?fromImage=someone/tool"), ctx);
    CHECK_FALSE(image.allow);
    CHECK(image.cause == Cause::Image);

    Decision registry =
        decide_request(request("POST", "/v1.41/images/create?fromImage=quay.io/acme/app"), ctx);
    CHECK_FALSE(registry.allow);
    CHECK(registry.cause == Cause::Registry);

    Decision hardening = decide_request(
        request("POST", "/v1.41/containers/create",
                R"({"Image":"alpine","HostConfig":{"Binds":["/run/docker.sock:/s"]}})"),
        ctx);
    CHECK_FALSE(hardening.allow);
    CHECK(hardening.cause == Cause::Hardening);

    Decision unreadable =
        decide_request(request("POST", "/v1.41/containers/create", "{not json"), ctx);
    CHECK_FALSE(unreadable.allow);
    CHECK(unreadable.cause == Cause::UnreadableRequest);
}

TEST_CASE("no policy, a stale policy, sign-in") {
    DecisionContext none = context(nullptr);
    Decision d = decide_request(request("POST", "/v1.41/images/create?fromImage=alpine"), none);
    CHECK_FALSE(d.allow);
    CHECK(d.cause == Cause::NoPolicy);

    auto p = acme();
    DecisionContext stale = context(p.get());
    stale.policy_problem = "the policy is too old";
    Decision s = decide_request(request("POST", "/v1.41/images/create?fromImage=alpine"), stale);
    CHECK_FALSE(s.allow);
    CHECK(s.cause == Cause::StalePolicy);

    Policy signin = load(R"({"organization":"acme","serial":3,"requireSignIn":true,
        "defaultRoles":["Reader","Writer"]})");
    DecisionContext sctx = context(&signin);
    Decision anon = decide_request(request("POST", "/v1.41/images/create?fromImage=alpine"), sctx);
    CHECK_FALSE(anon.allow);
    CHECK(anon.cause == Cause::SignIn);
}

TEST_CASE("plugin management and dockerd lookups that fail") {
    Policy p = load(R"({"organization":"acme","serial":3,"defaultRoles":["Reader","Writer"],
        "hardening":{"protectedPaths":["/etc/imagegate"]}})");
    DecisionContext ctx = context(&p);
    Decision plugin =
        decide_request(request("POST", "/v1.41/plugins/pull?remote=vieux/sshfs&name=sshfs",
                               R"([{"Name":"network","Value":["host"]}])"),
                       ctx);
    CHECK_FALSE(plugin.allow);
    CHECK(plugin.cause == Cause::PluginManagement);

    ctx.facts.container = [](std::string_view) { return ContainerLookup{}; };
    Decision lookup =
        decide_request(request("POST", "/v1.41/containers/create",
                               R"({"Image":"alpine","HostConfig":{"VolumesFrom":["other"]}})"),
                       ctx);
    CHECK_FALSE(lookup.allow);
    CHECK(lookup.cause == Cause::LookupFailed);
}
