// containerd/verify.cpp: containerd's flags, the descriptor, and the verdict of a pull.
#include "containerd/verify.hpp"

#include "common/config.hpp"
#include "server/authz_service.hpp"
#include "tests/policy/test_policies.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace imagegate;

namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kOtherDigest = "sha256:" + std::string(64, 'b');

std::string descriptor(std::string_view digest = kDigest) {
    return R"({"mediaType":"application/vnd.oci.image.index.v1+json","digest":")" +
           std::string(digest) +
           R"(","size":1609})"
           "\n";
}

ActivePolicy active(std::shared_ptr<const Policy> policy,
                    std::string source = "file:/etc/imagegate/policy.json",
                    Clock::time_point synced_at = Clock::now()) {
    return ActivePolicy{std::move(policy), std::move(source), synced_at};
}

std::shared_ptr<const Policy> acme_with(std::string_view key_and_value) {
    std::string text = testing::fixture("policies/acme.json");
    auto at = text.find("\"requireSignIn\": false");
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string_view("\"requireSignIn\": false").size(), key_and_value);
    return testing::load(text);
}

} // namespace

TEST_CASE("containerd's flags: one dash or two, separate or with =") {
    Args containerd{"-name",
                    "docker.io/library/alpine:3.19",
                    "-digest",
                    kDigest,
                    "-stdin-media-type",
                    std::string(kOciDescriptorMediaType)};
    auto a = parse_verify_args(containerd);
    REQUIRE_MESSAGE(a.ok(), a.error());
    CHECK(a->name == "docker.io/library/alpine:3.19");
    CHECK(a->digest == kDigest);
    CHECK(a->stdin_media_type == kOciDescriptorMediaType);

    auto b = parse_verify_args({"--config", "/etc/imagegate/imagegate.json", "--name=alpine",
                                "-digest=" + kDigest, "--stdin-media-type", "x"});
    REQUIRE_MESSAGE(b.ok(), b.error());
    CHECK(b->config_flag == "/etc/imagegate/imagegate.json");
    CHECK(b->name == "alpine");
    CHECK(b->digest == kDigest);

    auto c = parse_verify_args(
        {"-policy=/tmp/p.json", "-name", "alpine", "-digest", kDigest, "-stdin-media-type", "x"});
    REQUIRE_MESSAGE(c.ok(), c.error());
    CHECK(c->policy_flag == "/tmp/p.json");

    for (std::string help : {"--help", "-h", "-help", "help"}) {
        auto h = parse_verify_args({help});
        REQUIRE(h.ok());
        CHECK(h->help);
    }
}

TEST_CASE("wrong flags are refused, naming the problem") {
    struct Row {
        Args args;
        std::string error;
    } rows[] = {
        {{}, "-name REF is required"},
        {{"-name", "alpine", "-stdin-media-type", "x"}, "-digest DIGEST is required"},
        {{"-name", "alpine", "-digest", kDigest}, "-stdin-media-type TYPE is required"},
        {{"-name", "alpine", "-digest", kDigest, "-stdin-media-type", "x", "-verbose"},
         "unknown flag \"-verbose\""},
        {{"-name", "alpine", "extra"}, "unexpected argument \"extra\""},
        {{"-name"}, "-name needs a value"},
        {{"-name", "alpine", "-name", "busybox"}, "-name given twice"},
        {{"-name="}, "-name is empty"},
        {{"--config", "a", "--policy", "b", "-name", "alpine", "-digest", kDigest,
          "-stdin-media-type", "x"},
         "--config and --policy are alternatives: give one"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.error);
        auto a = parse_verify_args(row.args);
        REQUIRE_FALSE(a.ok());
        CHECK(a.error() == row.error);
    }
}

TEST_CASE("digests as go-digest accepts them") {
    CHECK(digest_problem(kDigest) == "");
    CHECK(digest_problem("sha512:" + std::string(128, '0')) == "");
    CHECK(digest_problem("sha256:" + std::string(63, 'a')) ==
          "digest \"sha256:" + std::string(63, 'a') +
              "\" is not sha256:<64 lower-case hex digits>");
    CHECK(digest_problem("sha256:" + std::string(64, 'A'))
              .ends_with("is not sha256:<64 lower-case hex digits>"));
    CHECK(digest_problem("md5:abc") == "digest \"md5:abc\" has an unsupported algorithm");
    CHECK(digest_problem("abc") == "digest \"abc\" is not ALGORITHM:HEX");
}

TEST_CASE("the descriptor on standard input: lightly checked, bounded, fail closed") {
    CHECK(descriptor_problem(descriptor(), kDigest) == "");
    // containerd's json.Encoder output, with the optional fields a descriptor may carry.
    CHECK(descriptor_problem(
              R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kDigest +
                  R"(","size":7143,"annotations":{"org.opencontainers.image.ref.name":"3.19"},)"
                  R"("platform":{"architecture":"amd64","os":"linux"}})",
              kDigest) == "");

    struct Row {
        std::string input;
        std::string problem;
    } rows[] = {
        {"", "standard input is empty: containerd writes the image's OCI descriptor there"},
        {" \n", "standard input is empty: containerd writes the image's OCI descriptor there"},
        {"garbage", "the descriptor on standard input is not valid JSON: syntax error"},
        {descriptor() + "{}", "the descriptor on standard input is not valid JSON: extra data"},
        {"[1,2]", "the descriptor on standard input is not a JSON object"},
        {R"({"digest":")" + kDigest + R"(","size":1})",
         "the descriptor on standard input has no mediaType"},
        {R"({"mediaType":"x","size":1})", "the descriptor on standard input has no digest"},
        {R"({"mediaType":"x","digest":"sha256:zz","size":1})",
         "the descriptor on standard input: digest \"sha256:zz\" is not sha256:<64 lower-case hex "
         "digits>"},
        {R"({"mediaType":"x","digest":")" + kDigest + R"("})",
         "the descriptor on standard input has no size (a non-negative integer)"},
        {R"({"mediaType":"x","digest":")" + kDigest + R"(","size":-1})",
         "the descriptor on standard input has no size (a non-negative integer)"},
        {descriptor(kOtherDigest),
         "the descriptor's digest " + kOtherDigest + " is not -digest " + kDigest},
    };
    for (const auto &row : rows) {
        CAPTURE(row.input);
        CHECK(descriptor_problem(row.input, kDigest) == row.problem);
    }

    SUBCASE("at the size limit and one byte past it") {
        std::string at_limit = descriptor();
        at_limit.insert(at_limit.size() - 1, kMaxDescriptorBytes - at_limit.size(), ' ');
        REQUIRE(at_limit.size() == kMaxDescriptorBytes);
        CHECK(descriptor_problem(at_limit, kDigest) == "");
        CHECK(descriptor_problem(at_limit + " ", kDigest) ==
              "the descriptor on standard input is larger than 1048576 bytes");
    }
    SUBCASE("at the depth limit and one past it") {
        auto nested = [](std::size_t depth) {
            // The descriptor object is depth 1; annotations nest below it.
            std::string open, close;
            for (std::size_t i = 1; i < depth; ++i)
                open += R"({"a":)", close += "}";
            return R"({"mediaType":"x","digest":")" + kDigest + R"(","size":1,"x":)" + open + "1" +
                   close + "}";
        };
        CHECK(descriptor_problem(nested(kMaxDescriptorDepth), kDigest) == "");
        CHECK(descriptor_problem(nested(kMaxDescriptorDepth + 1), kDigest)
                  .starts_with("the descriptor on standard input is not valid JSON: "));
    }
}

TEST_CASE("a pull's verdict: the reason line and the exit status") {
    auto acme = active(testing::acme());
    struct Row {
        std::string name, user;
        int exit_code;
        std::string line;
    } rows[] = {
        {"docker.io/library/alpine:3.19", "", kVerifyAllow,
         "imagegate: allowed pull of docker.io/library/alpine:3.19: Docker Official images are "
         "allowed by acme's "
         "Image Access Management (acme policy 42)"},
        {"docker.io/someone/tool:latest", "", kVerifyDeny,
         "imagegate: pull of docker.io/someone/tool:latest denied: Community images are restricted "
         "by acme's Image "
         "Access Management (policy 42)"},
        {"curlimages/curl", "", kVerifyDeny,
         "imagegate: pull of docker.io/curlimages/curl:latest denied: Sponsored Open Source images "
         "are restricted by "
         "acme's Image Access Management (policy 42)"},
        {"quay.io/coreos/etcd:v3", "", kVerifyDeny,
         "imagegate: pull of quay.io/coreos/etcd:v3 denied: registry quay.io is not allowed by "
         "acme's Registry Access "
         "Management (policy 42)"},
        {"registry.acme.example:5000/acme/app:1", "ci-runner", kVerifyAllow,
         "imagegate: allowed pull of registry.acme.example:5000/acme/app:1: Image Access "
         "Management applies to Docker "
         "Hub only (acme policy 42)"},
        {"docker.io/library/alpine:3.19", "ci-runner", kVerifyDeny,
         "imagegate: pull of docker.io/library/alpine:3.19 denied: ci-runner has no Reader, Writer "
         "or Manager grant "
         "on it (acme policy 42)"},
        {"docker.io/library/alpine:3.19", "k8s-node", kVerifyDeny,
         "imagegate: pull of docker.io/library/alpine:3.19 denied: k8s-node has no Reader, Writer "
         "or Manager grant "
         "on it (acme policy 42)"},
        {"docker.io/someone/tool:latest", "alice", kVerifyAllow,
         "imagegate: allowed pull of docker.io/someone/tool:latest: owners are not restricted by "
         "acme's Image Access "
         "Management (acme policy 42)"},
        {"not//valid", "", kVerifyDeny,
         "imagegate: pull denied: invalid reference \"not//valid\": invalid repository name"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        CAPTURE(row.user);
        VerifyVerdict v = judge_pull(row.name, row.user, &acme, "");
        CHECK(v.exit_code == row.exit_code);
        CHECK(v.line == row.line);
        CHECK(v.image.allow == (row.exit_code == kVerifyAllow));
        CHECK_FALSE(v.audit);
    }
}

TEST_CASE("a stale cached policy blocks every pull, saying so") {
    Config config;
    config.max_age_seconds = 3600;
    Clock::time_point now = Clock::now();
    auto fresh = active(testing::acme(), "cache:/var/lib/imagegate/policy.bundle",
                        now - std::chrono::seconds(3600));
    auto stale = active(testing::acme(), "cache:/var/lib/imagegate/policy.bundle",
                        now - std::chrono::seconds(3601));
    CHECK(policy_problem(&fresh, config.max_age_seconds, now) == "");
    std::string problem = policy_problem(&stale, config.max_age_seconds, now);
    REQUIRE(problem.starts_with("the cached policy is stale: last synced "));

    VerifyVerdict v = judge_pull("alpine", "", &stale, problem);
    CHECK(v.exit_code == kVerifyDeny);
    CHECK(v.line == "imagegate: pull of docker.io/library/alpine:latest denied: " + problem);
    CHECK(v.image.reason == problem);
}

TEST_CASE("no policy at all fails closed") {
    VerifyVerdict v = judge_pull("alpine", "", nullptr, "");
    CHECK(v.exit_code == kVerifyNoPolicy);
    CHECK(v.line == "imagegate: pull of docker.io/library/alpine:latest denied: no valid imagegate "
                    "policy has been loaded");
}

TEST_CASE("requireSignIn: containerd pulls carry no user unless containerdUser names one") {
    auto signed_in = active(acme_with("\"requireSignIn\": true"));
    VerifyVerdict anonymous = judge_pull("alpine", "", &signed_in, "");
    CHECK(anonymous.exit_code == kVerifyDeny);
    CHECK(
        anonymous.line ==
        "imagegate: pull of docker.io/library/alpine:latest denied: acme's policy requires signing "
        "in: containerd pulls have no user (set containerdUser in imagegate.json) (policy 42)");
    CHECK(judge_pull("alpine", "bob", &signed_in, "").exit_code == kVerifyAllow);
}

TEST_CASE("audit mode allows what it would deny, and says so") {
    std::string text = testing::fixture("policies/acme.json");
    text.replace(text.find("\"enforce\""), 9, "\"audit\"");
    auto audit = active(testing::load(text));
    VerifyVerdict v = judge_pull("someone/tool", "", &audit, "");
    CHECK(v.exit_code == kVerifyAllow);
    CHECK(v.audit);
    CHECK_FALSE(v.image.allow); // the log records what the policy decided
    CHECK(v.line == "imagegate: allowed pull of docker.io/someone/tool:latest in audit mode; "
                    "enforced, acme's policy "
                    "would deny it: Community images are restricted by acme's Image Access "
                    "Management (policy 42)");
    CHECK(judge_pull("alpine", "", &audit, "").exit_code == kVerifyAllow);
}

TEST_CASE("a pull blocked before any decision names the reference and the cause") {
    VerifyVerdict v = blocked_pull("alpine", "standard input is empty", kVerifyBadRequest);
    CHECK(v.exit_code == kVerifyBadRequest);
    CHECK(v.line ==
          "imagegate: pull of docker.io/library/alpine:latest denied: standard input is empty");
    CHECK(v.image.normalized == "docker.io/library/alpine:latest");
    CHECK(v.image.registry == "docker.io");
    CHECK_FALSE(v.image.allow);
}

TEST_CASE("the reason line is one printable line of bounded length") {
    CHECK(verdict_line("a\nb\tc\r") == "a b c ");
    std::string long_text(5000, 'x');
    std::string line = verdict_line(long_text);
    CHECK(line.size() == kMaxVerdictLineBytes);
    CHECK(line.ends_with("..."));
    // Never half a UTF-8 character before the ellipsis.
    std::string accented;
    for (int i = 0; i < 600; ++i)
        accented += "\xc3\xa9";
    std::string cut = verdict_line(accented);
    CHECK(cut.size() <= kMaxVerdictLineBytes);
    CHECK(cut.substr(0, cut.size() - 3).size() % 2 == 0);
}
