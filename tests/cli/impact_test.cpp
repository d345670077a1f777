// cli/impact_cmd.cpp: `imagegate policy impact` replays the fixture log against stricter
// and looser policies, with the decision code of `serve`.
#include "cli/impact_cmd.hpp"

#include "tests/decision_log/fixtures.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace imagegate {
int run_policy_impact(const Args &args); // cli/impact_cmd.cpp (policy_cmd.cpp dispatches to it)
}

using namespace imagegate;
using namespace imagegate::testing;

namespace {

std::string policies() {
    return fixture_path("policies");
}

std::string expected(const std::string &name) {
    return replace_all(replace_all(read_text(fixture_path("logs/" + name)), "@DIR@", rotated_dir()),
                       "@POLICIES@", policies());
}

// acme.json (policy 42, what the fixture log was decided with) changed by EDIT, in DIR.
std::string acme_with(const ScratchDir &dir,
                      const std::function<void(boost::json::object &)> &edit) {
    auto policy = boost::json::parse(read_text(policies() + "/acme.json")).as_object();
    edit(policy);
    std::string path = dir / "policy.json";
    write_text(path, boost::json::serialize(policy));
    return path;
}

Impact replay(const std::string &policy_file, unsigned threads = 1,
              std::size_t block = kLogBlockBytes) {
    auto load = load_policy(read_text(policy_file), true);
    REQUIRE(load.policy);
    auto impact = replay_decision_log(decision_log_files(rotated_log()), std::nullopt, *load.policy,
                                      threads, block);
    REQUIRE_MESSAGE(impact.ok(), impact.error());
    return impact.value();
}

} // namespace

TEST_CASE("impact of the policy the log was decided with: nothing changes, exit 0") {
    auto ran = run_captured(run_policy_impact, {policies() + "/acme.json", "--log", rotated_log()});
    CHECK(ran.status == 0);
    CHECK(ran.out.find("Replayed 17 image decisions from 2026-03-01T09:00:00.000Z to "
                       "2026-03-03T08:04:00.000Z (15 "
                       "distinct users, actions and references):\n"
                       "  0 allow → deny, 0 deny → allow, 17 unchanged\n"
                       "Not replayed: 2 denials that name no image (hardening, protocol, sign-in)\n"
                       "Not replayed: 1 decision on image IDs or invalid references\n") !=
          std::string::npos);
    CHECK(ran.out.ends_with(
        "\nallow → deny (the new policy would break these): none.\n\ndeny → allow: none.\n\n"
        "No logged decision changes.\n"));
}

TEST_CASE("impact of a stricter policy (Verified Publisher restricted): the table, exit 1") {
    auto ran = run_captured(run_policy_impact,
                            {policies() + "/acme-stricter.json", "--log", rotated_log()});
    CHECK(ran.status == 1);
    CHECK(ran.out == expected("rotated.impact-stricter.txt"));
    CHECK(ran.err.empty());
}

TEST_CASE("impact of a looser policy (Sponsored OSS allowed, quay.io allowed): the JSON, exit 1") {
    auto ran = run_captured(run_policy_impact,
                            {policies() + "/acme-looser.json", "--json", "--log", rotated_log()});
    CHECK(ran.status == 1);
    CHECK(ran.out == expected("rotated.impact-looser.json"));
    // zoë is in no team: quay.io being allowed does not give her a role, so her denial stays.
    auto impact = replay(policies() + "/acme-looser.json");
    REQUIRE(impact.deny_to_allow.size() == 3);
    CHECK(impact.deny_to_allow[2].reference == "quay.io/x/y:latest");
    CHECK(impact.deny_to_allow[2].users == std::vector<std::string>{"bob"});
}

TEST_CASE("impact: threads and block sizes change nothing") {
    auto load = load_policy(read_text(policies() + "/acme-looser.json"), true);
    REQUIRE(load.policy);
    std::string one = impact_json(replay(policies() + "/acme-looser.json"), *load.policy, "p");
    for (unsigned threads : {2u, 3u}) {
        for (std::size_t block : {std::size_t(3), std::size_t(64), kLogBlockBytes}) {
            CAPTURE(threads);
            CAPTURE(block);
            CHECK(impact_json(replay(policies() + "/acme-looser.json", threads, block),
                              *load.policy, "p") == one);
        }
    }
}

TEST_CASE("impact replays a tag target as a tag target: it needs Writer") {
    ScratchDir dir;
    std::string writers = acme_with(dir, [](boost::json::object &p) {
        p["serial"] = 45;
        p["accessPolicies"].as_array()[0].as_object()["roles"] = boost::json::array{"Writer"};
    });
    Impact impact = replay(writers);
    std::vector<std::string> rows;
    for (const auto &c : impact.deny_to_allow)
        rows.push_back(c.action + (c.tag_target ? " (target) " : " ") + c.reference + " " +
                       std::to_string(c.count));
    CHECK(rows == std::vector<std::string>{"image.tag (target) docker.io/acme/alpine:1 1",
                                           "image.push docker.io/acme/app:latest 1"});
    // Writers may not inspect or list, but they may pull: nothing that was allowed changes.
    CHECK(impact.allow_to_deny.empty());
    auto ran = run_captured(run_policy_impact, {writers, "--log", rotated_log()});
    CHECK(ran.status == 1);
    CHECK(ran.out.find("\nimage.tag (target)  docker.io/acme/alpine:1  ") != std::string::npos);
}

TEST_CASE("impact of requireSignIn: the local socket's allowed decisions become denials") {
    ScratchDir dir;
    std::string sign_in = acme_with(dir, [](boost::json::object &p) {
        p["serial"] = 46;
        p["requireSignIn"] = true;
    });
    Impact impact = replay(sign_in);
    REQUIRE(impact.allow_to_deny.size() == 1);
    const ImpactChange &c = impact.allow_to_deny[0];
    CHECK(c.reference == "docker.io/library/alpine:latest");
    CHECK(c.users == std::vector<std::string>{""});
    CHECK(c.reason ==
          "acme's policy requires signing in: the local socket has no user (policy 46)");
    CHECK(impact.deny_to_allow.empty());
}

TEST_CASE("impact lints NEW_POLICY first: with errors nothing is replayed, exit 2") {
    ScratchDir dir;
    std::string broken = acme_with(dir, [](boost::json::object &p) {
        p["imageAccess"].as_object()["verifiedPublisher"] = "sometimes";
        p["colour"] = "blue";
    });
    auto ran = run_captured(run_policy_impact, {broken, "--log", rotated_log()});
    CHECK(ran.status == 2);
    CHECK(ran.out.empty());
    CHECK(ran.err.find(broken + ": error: $.imageAccess.verifiedPublisher") != std::string::npos);
    CHECK(ran.err.find(broken + ": error: $.colour") != std::string::npos);
    CHECK(ran.err.ends_with("imagegate policy impact: " + broken +
                            " has 2 errors (imagegate policy lint " + broken +
                            "): nothing replayed\n"));
}

TEST_CASE("impact: bad usage, an unreadable policy or log exit 2 and say why") {
    ScratchDir dir;
    struct Row {
        Args args;
        std::string error;
    };
    for (const Row &row : std::vector<Row>{
             {{"--log", rotated_log()},
              "imagegate policy impact: give the NEW_POLICY file to replay the log against\n"},
             {{"a.json", "b.json"},
              "imagegate policy impact: one NEW_POLICY only, not also \"b.json\"\n"},
             {{dir / "none.json", "--log", rotated_log()},
              "imagegate policy impact: " + dir / "none.json"},
             {{policies() + "/acme.json", "--log", dir / "none.jsonl"},
              "imagegate policy impact: no decision log at " + dir / "none.jsonl" +
                  " (nor rotated files of it)\n"},
             {{policies() + "/acme.json", "--log", rotated_log(), "--since", "forever"},
              "imagegate policy impact: --since \"forever\" is not a duration"},
             {{policies() + "/acme.json", "--frobnicate"},
              "imagegate policy impact: unknown option --frobnicate\n"},
         }) {
        CAPTURE(row.args);
        auto ran = run_captured(run_policy_impact, row.args);
        CHECK(ran.status == 2);
        CHECK(ran.out.empty());
        CHECK(ran.err.substr(0, row.error.size()) == row.error);
    }
}
