#include "policy/policy.hpp"
#include "test_policies.hpp"

#include <doctest/doctest.h>

using namespace imagegate;

namespace {
std::vector<std::string> diagnostics(const std::string &text, bool strict = true) {
    std::vector<std::string> out;
    for (const auto &d : load_policy(text, strict).diagnostics)
        out.push_back(d.str());
    return out;
}
} // namespace

TEST_CASE("the example policy (acme, serial 42) lints clean") {
    auto load = load_policy(imagegate::testing::fixture("policies/acme.json"), true);
    CHECK(load.diagnostics.empty());
    REQUIRE(load.policy);
    CHECK(load.policy->organization == "acme");
    CHECK(load.policy->serial == 42);
}

TEST_CASE("lint reports every error with its JSON path") {
    auto d = diagnostics(
        R"({"organization":"acme","serial":-1,"mode":"enforced","imageAccess":{"enabled":"yes","dockerOfficial":"maybe"},
        "teams":{"owners":["alice"]},"serviceIds":["alice"],"resourceGroups":{"g":["docker.io/a*/b"]},
        "accessPolicies":[{"subjects":["user:nobody","team:ghosts","robot:x"],"roles":["admn"],"resources":["group:missing","acme/*"]}],
        "hardening":{"privileged":"no"},"extra":1})");
    std::vector<std::string> expected{
        "error: $.serviceIds[0]: service ID \"alice\" is also a team member",
        "error: $.resourceGroups.g[0]: resource pattern \"docker.io/a*/b\" has a wildcard that is "
        "not a trailing /*",
        "error: $.serial: must be a non-negative integer",
        "error: $.mode: unknown mode \"enforced\" (expected \"enforce\" or \"audit\")",
        "error: $.imageAccess.enabled: must be true or false",
        "error: $.imageAccess.dockerOfficial: unknown value \"maybe\" (expected \"allowed\" or "
        "\"restricted\")",
        "error: $.accessPolicies[0].subjects[0]: subject \"user:nobody\" names no declared team "
        "member",
        "error: $.accessPolicies[0].subjects[1]: subject \"team:ghosts\" names no declared team",
        "error: $.accessPolicies[0].subjects[2]: unknown subject \"robot:x\" (expected user:NAME, "
        "team:NAME or serviceId:NAME)",
        "error: $.accessPolicies[0].roles[0]: unknown role \"admn\" (expected Reader, Writer or "
        "Manager)",
        "error: $.accessPolicies[0].resources[0]: resource group \"missing\" is not defined",
        "error: $.accessPolicies[0].resources[1]: resource pattern \"acme/*\" must start with a "
        "registry (e.g. docker.io/acme)",
        "error: $.hardening.privileged: unknown value \"no\" (expected \"allowed\" or "
        "\"restricted\")",
        "error: $.extra: unknown key",
    };
    CHECK(d == expected);
}

TEST_CASE("unknown keys are warnings at load, errors in lint") {
    std::string text = R"({"organization":"acme","imageAcess":{}})";
    CHECK(load_policy(text, false).policy);
    CHECK(diagnostics(text, false) ==
          std::vector<std::string>{"warning: $.imageAcess: unknown key (ignored)"});
    CHECK_FALSE(load_policy(text, true).policy);
}

TEST_CASE("an empty owners team while Image Access Management is on is a warning") {
    CHECK(diagnostics(R"({"organization":"acme","imageAccess":{"enabled":true}})") ==
          std::vector<std::string>{"warning: $.teams.owners: the owners team is empty while Image "
                                   "Access Management is on: nobody is exempt from it"});
}

TEST_CASE("policy size and depth limits") {
    std::string deep = R"({"organization":"a","x":)" + std::string(kMaxJsonDepth + 1, '[') +
                       std::string(kMaxJsonDepth + 1, ']') + "}";
    auto d = diagnostics(deep);
    REQUIRE(d.size() == 1);
    CHECK(d[0].starts_with("error: $: not valid JSON"));
    std::string big(kMaxPolicyBytes + 1, ' ');
    CHECK(diagnostics(big) ==
          std::vector<std::string>{"error: $: policy is larger than 67108864 bytes"});
    CHECK(diagnostics("[]") ==
          std::vector<std::string>{"error: $: the policy must be a JSON object"});
}

TEST_CASE("grants share the policy's pattern table and match by role, exact name and prefix") {
    auto load = load_policy(R"({"organization":"acme","serial":1,
        "teams":{"devs":["ann","bob"],"ops":["bob"]},
        "resourceGroups":{"apps":["docker.io/acme/*","ghcr.io/acme/tools/builder"]},
        "accessPolicies":[
          {"subjects":["team:devs"],"roles":["Reader"],"resources":["group:apps"]},
          {"subjects":["team:ops"],"roles":["Writer"],"resources":["registry.acme.example:5000/*","docker.io/acme/app"]},
          {"subjects":["user:ann"],"roles":["Manager"],"resources":["*"]}],
        "defaultRoles":["Reader"]})",
                            false);
    REQUIRE(load.policy);
    const Policy &p = *load.policy;
    const Grants *ann = p.grants_for("ann");
    const Grants *bob = p.grants_for("bob");
    REQUIRE(ann);
    REQUIRE(bob);
    CHECK(ann->patterns == bob->patterns); // one table for the whole policy
    const Role reader[] = {Role::Reader}, writer[] = {Role::Writer}, manager[] = {Role::Manager};
    const Role any[] = {Role::Reader, Role::Writer, Role::Manager};
    CHECK(bob->matches(reader, 1, "docker.io/acme/app"));
    CHECK(bob->matches(reader, 1, "docker.io/acme/team/deep/app"));
    CHECK_FALSE(bob->matches(reader, 1, "docker.io/acmeco/app")); // a prefix ends at a '/'
    CHECK_FALSE(
        bob->matches(reader, 1, "docker.io/acme")); // "acme/*" is under acme, not acme itself
    CHECK(bob->matches(reader, 1, "ghcr.io/acme/tools/builder"));
    CHECK_FALSE(bob->matches(reader, 1, "ghcr.io/acme/tools/builder/x"));
    CHECK_FALSE(bob->matches(reader, 1, "ghcr.io/acme/tools"));
    CHECK(bob->matches(writer, 1, "registry.acme.example:5000/any/thing"));
    CHECK(bob->matches(writer, 1, "docker.io/acme/app"));
    CHECK_FALSE(bob->matches(writer, 1, "docker.io/acme/other")); // Writer only on the exact name
    CHECK_FALSE(bob->matches(manager, 1, "docker.io/acme/app"));
    CHECK(bob->matches(any, 3, "registry.acme.example:5000/x"));
    CHECK(ann->matches(manager, 1, "quay.io/anything/at/all"));
    CHECK_FALSE(ann->matches(writer, 1, "registry.acme.example:5000/x"));
    CHECK(p.default_grants.matches(reader, 1, "docker.io/library/alpine"));
    CHECK_FALSE(p.default_grants.matches(writer, 1, "docker.io/library/alpine"));
    CHECK(p.grants_for("carol") == nullptr);

    // Written out as patterns and read back (the containerd verifier's cache), the same answers.
    Grants copy = Grants::from({bob->resources(Role::Reader), bob->resources(Role::Writer),
                                bob->resources(Role::Manager)});
    CHECK(bob->resources(Role::Reader).prefixes == StringSet{"docker.io/acme"});
    CHECK(bob->resources(Role::Writer).exact == StringSet{"docker.io/acme/app"});
    for (std::string_view name :
         {"docker.io/acme/app", "docker.io/acme/x/y", "docker.io/acmeco/app",
          "ghcr.io/acme/tools/builder", "registry.acme.example:5000/z", "quay.io/a"})
        for (const Role *roles : {reader, writer, manager}) {
            CAPTURE(name);
            CHECK(copy.matches(roles, 1, name) == bob->matches(roles, 1, name));
        }
}

TEST_CASE("hardening.pluginSelfProtection, never read, still loads, with a warning") {
    for (bool strict : {true, false}) {
        auto load = load_policy(
            R"({"organization":"acme","hardening":{"pluginSelfProtection":"off"}})", strict);
        CHECK(load.policy);
        REQUIRE(load.diagnostics.size() == 1);
        CHECK(load.diagnostics.front().severity == Diagnostic::Severity::Warning);
        CHECK(load.diagnostics.front().message.find("has no effect") != std::string::npos);
    }
}
