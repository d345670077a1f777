#include "policy/decide.hpp"
#include "test_policies.hpp"

#include <doctest/doctest.h>

using namespace imagegate;
using imagegate::testing::acme;

TEST_CASE("Image Access Management decides by Docker Hub category") {
    struct Row {
        std::string ref;
        bool allow;
        std::string category;
    } rows[] = {
        {"alpine", true, "docker-official"},
        {"bitnami/redis", true, "verified-publisher"},
        {"curlimages/curl", false, "sponsored-open-source"},
        {"acme/app", true, "organization"},
        {"acme-ci/runner:1", true, "organization"},
        {"someone/tool", false, "community"},
        {"someone/approved-tool", true, "community"},
        {"index.docker.io/someone/tool", false, "community"},
        {"registry-1.docker.io/someone/tool", false, "community"},
        {"ghcr.io/someone/tool", true, "other-registry"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.ref);
        auto d = decide_image(Action::Pull, row.ref, "", *acme());
        CHECK(d.allow == row.allow);
        CHECK(category_name(d.category) == row.category);
    }
}

TEST_CASE("a denied pull says what, why and which policy") {
    auto d = decide_image(Action::Pull, "someone/tool", "", *acme());
    CHECK(d.message == "imagegate: pull of docker.io/someone/tool:latest denied: Community images "
                       "are restricted by acme's Image "
                       "Access Management (policy 42)");
}

TEST_CASE("Registry Access Management applies whatever the category and whoever asks") {
    auto d = decide_image(Action::Pull, "quay.io/acme/app", "alice", *acme());
    CHECK_FALSE(d.allow);
    CHECK(d.message == "imagegate: pull of quay.io/acme/app:latest denied: registry quay.io is not "
                       "allowed by acme's "
                       "Registry Access Management (policy 42)");
    CHECK(decide_image(Action::Pull, "REGISTRY.ACME.EXAMPLE:5000/acme/app", "", *acme()).allow);
    CHECK_FALSE(decide_image(Action::Pull, "registry.acme.example/acme/app", "", *acme()).allow);
    CHECK_FALSE(
        decide_image(Action::Pull, "registry.acme.example:5001/acme/app", "", *acme()).allow);
}

TEST_CASE("owners are not restricted by Image Access Management") {
    CHECK(decide_image(Action::Pull, "someone/tool", "alice", *acme()).allow);
    CHECK_FALSE(decide_image(Action::Pull, "someone/tool", "bob", *acme()).allow);
}

TEST_CASE("invalid references are denied, quoting them") {
    auto d = decide_image(Action::Pull, "Someone/Tool", "", *acme());
    CHECK_FALSE(d.allow);
    CHECK(d.message == "imagegate: pull denied: invalid reference \"Someone/Tool\": repository "
                       "name must be lowercase");
}

TEST_CASE("namespace access control keeps pushes out of personal namespaces") {
    auto d = decide_image(Action::Push, "bob/app", "alice", *acme());
    CHECK_FALSE(d.allow);
    CHECK(d.reason.find("namespace access control") != std::string::npos);
    CHECK(decide_image(Action::Push, "acme/app", "alice", *acme()).allow);
    CHECK(decide_image(Action::Push, "ghcr.io/bob/app", "alice", *acme()).allow);
}

TEST_CASE("the role table of docs/policy.md") {
    // user → role: bob Reader on *, alice Manager on *, ci-runner Writer on group internal.
    struct Row {
        Action action;
        bool tag_target;
        bool reader, writer, manager;
    } rows[] = {
        {Action::Pull, false, true, true, true},     {Action::Run, false, true, true, true},
        {Action::Inspect, false, true, false, true}, {Action::List, false, true, false, true},
        {Action::Push, false, false, true, true},    {Action::Delete, false, false, true, true},
        {Action::Import, false, false, true, true},  {Action::Build, false, false, true, true},
        {Action::Tag, false, true, true, true},      {Action::Tag, true, false, true, true},
    };
    std::string ref = "registry.acme.example:5000/acme/app";
    for (const auto &row : rows) {
        CAPTURE(action_name(row.action));
        CAPTURE(row.tag_target);
        CHECK(decide_image(row.action, ref, "bob", *acme(), row.tag_target).allow == row.reader);
        CHECK(decide_image(row.action, ref, "ci-runner", *acme(), row.tag_target).allow ==
              row.writer);
        CHECK(decide_image(row.action, ref, "alice", *acme(), row.tag_target).allow == row.manager);
    }
}

TEST_CASE("a service ID's grants stop at its resource group") {
    auto d =
        decide_image(Action::Push, "registry.acme.example:5000/other/app", "ci-runner", *acme());
    CHECK_FALSE(d.allow);
    CHECK(d.message == "imagegate: push of registry.acme.example:5000/other/app:latest denied: "
                       "ci-runner has no Writer "
                       "or Manager grant on it (acme policy 42)");
    CHECK(
        decide_image(Action::Push, "registry.acme.example:5000/acme/team/app", "ci-runner", *acme())
            .allow);
}

TEST_CASE("an authenticated user with no grant is denied; the local socket gets defaultRoles") {
    auto d = decide_image(Action::Pull, "alpine", "mallory", *acme());
    CHECK_FALSE(d.allow);
    CHECK(d.reason.find("mallory has no Reader, Writer or Manager grant") == 0);
    CHECK(decide_image(Action::Push, "acme/app", "", *acme()).allow);
}

TEST_CASE("resource patterns never match across a boundary") {
    auto policy =
        imagegate::testing::load(R"({"organization":"o","teams":{"t":["u"]},"accessPolicies":[
        {"subjects":["user:u"],"roles":["Reader"],"resources":["docker.io/acme/*","registry.acme.example/acme/x"]}]})");
    CHECK(decide_image(Action::Pull, "docker.io/acme/x", "u", *policy).allow);
    CHECK(decide_image(Action::Pull, "docker.io/acme/team/x", "u", *policy).allow);
    CHECK_FALSE(decide_image(Action::Pull, "docker.io/acmecorp/x", "u", *policy).allow);
    CHECK_FALSE(decide_image(Action::Pull, "ghcr.io/acme/x", "u", *policy).allow);
    CHECK(decide_image(Action::Pull, "registry.acme.example/acme/x", "u", *policy).allow);
    CHECK_FALSE(
        decide_image(Action::Pull, "registry.acme.example:5000/acme/x", "u", *policy).allow);
    CHECK_FALSE(decide_image(Action::Pull, "registry.acme.example/acme/xy", "u", *policy).allow);
}

TEST_CASE("the shipped default policy") {
    auto load = load_policy(default_policy_json(), true);
    REQUIRE(load.policy);
    const Policy &p = *load.policy;
    CHECK(p.image_access_enabled);
    CHECK_FALSE(p.registry_access_enabled);
    CHECK(decide_image(Action::Pull, "alpine", "", p).allow);
    CHECK(decide_image(Action::Pull, "bitnami/redis", "", p).allow);
    CHECK_FALSE(decide_image(Action::Pull, "someone/tool", "", p).allow);
    CHECK(decide_image(Action::Push, "someone/tool", "", p).allow);
    CHECK(p.hardening.privileged == Setting::Restricted);
}
