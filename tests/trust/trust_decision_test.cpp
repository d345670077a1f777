// Trust rules in the policy (policy/policy.cpp) and in the decision (policy/decide.cpp): what a
// run is checked against, with dockerd's answers and the signature check as plain functions.
#include "decision_log/line.hpp"
#include "policy/decide.hpp"
#include "trust/verifier.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

using namespace imagegate;

namespace {

// openssl genpkey -algorithm ED25519 | openssl pkey -pubout
const std::string kKey = "-----BEGIN PUBLIC KEY-----\n"
                         "MCowBQYDK2VwAyEAdEjcaVQLosVvqKoLEcH+nZEAUCd3OIGymwE/3WgdED8=\n"
                         "-----END PUBLIC KEY-----\n";
const std::string kSigned = "sha256:" + std::string(64, '5');
const std::string kUnsigned = "sha256:" + std::string(64, '6');

std::string json_string(const std::string &s) {
    return boost::json::serialize(boost::json::string(s));
}

std::string policy_text(const std::string &trust) {
    return R"({"organization":"acme","serial":3,"defaultRoles":["Manager"],"trust":)" + trust + "}";
}

std::shared_ptr<const Policy> load(const std::string &trust) {
    auto l = load_policy(policy_text(trust), true);
    for (const auto &d : l.diagnostics)
        INFO(d.str());
    REQUIRE(l.policy);
    return l.policy;
}

std::vector<std::string> errors_of(const std::string &trust) {
    std::vector<std::string> out;
    for (const auto &d : load_policy(policy_text(trust), true).diagnostics)
        out.push_back(d.str());
    return out;
}

bool has(const std::vector<std::string> &lines, const std::string &part) {
    for (const auto &l : lines)
        if (l.find(part) != std::string::npos)
            return true;
    return false;
}

AuthzRequest create(const std::string &image) {
    AuthzRequest r;
    r.method = "POST";
    r.uri = "/v1.41/containers/create";
    r.body = R"({"Image":)" + json_string(image) + "}";
    r.headers["content-type"] = "application/json";
    return r;
}

// A dockerd that knows some images and a registry where kSigned is signed for docker.io/acme/app.
struct World {
    std::map<std::string, std::vector<std::string>> images; // reference or ID → names
    std::vector<TrustCheck> checks;
    DecisionContext context(const Policy &p) {
        DecisionContext ctx;
        ctx.policy = &p;
        ctx.facts.image_names = [this](std::string_view ref) {
            ImageLookup l;
            auto it = images.find(std::string(ref));
            l.state = it == images.end() ? ImageLookup::State::NotFound : ImageLookup::State::Found;
            if (it != images.end())
                l.names = it->second;
            return l;
        };
        ctx.facts.verify_signature = [this](const TrustCheck &c) {
            checks.push_back(c);
            TrustVerdict v;
            if (c.digest == kSigned && c.match_name == "docker.io/acme/app") {
                v.state = TrustVerdict::State::Verified;
                v.key_id = c.rule->keys[0]->id();
            } else {
                v.state = TrustVerdict::State::Rejected;
                v.reason = "no cosign signature";
            }
            return v;
        };
        return ctx;
    }
};

const std::string kRule =
    R"([{"name":"acme","repositories":["docker.io/acme/*"],"keys":[)" + json_string(kKey) + "]}]";

} // namespace

TEST_CASE("trust rules lint with JSON paths") {
    CHECK(has(errors_of("{}"), "$.trust: must be an array of trust rules"));
    CHECK(has(errors_of("[{}]"), "$.trust[0].repositories: missing"));
    CHECK(has(errors_of("[{}]"), "$.trust[0].keys: missing"));
    CHECK(
        has(errors_of(R"([{"repositories":["acme/*"],"keys":[]}])"),
            "$.trust[0].repositories[0]: resource pattern \"acme/*\" must start with a registry"));
    CHECK(has(errors_of(R"([{"repositories":["docker.io/acme/*"],"keys":[]}])"),
              "$.trust[0].keys: must hold at least one PEM public key"));
    CHECK(has(errors_of(R"([{"repositories":["docker.io/a/*"],"keys":["junk"]}])"),
              "$.trust[0].keys[0]: not a PEM public key"));
    CHECK(has(errors_of(R"([{"repositories":["docker.io/a/*"],"keys":[)" + json_string(kKey) +
                        R"(],"mode":"strict","requireDigest":"yes","color":1}])"),
              "$.trust[0].mode: unknown mode \"strict\""));
    CHECK(has(errors_of(R"([{"repositories":["docker.io/a/*"],"keys":[)" + json_string(kKey) +
                        R"(],"requireDigest":"yes"}])"),
              "$.trust[0].requireDigest: must be true or false"));
    CHECK(has(errors_of(R"([{"repositories":["docker.io/a/*"],"keys":[)" + json_string(kKey) +
                        R"(],"color":1}])"),
              "$.trust[0].color: unknown key"));
    auto p = load(kRule);
    REQUIRE(p->trust.size() == 1);
    CHECK(p->trust[0].name == "acme");
    CHECK(trust_rule_for(p->trust, "docker.io/acme/app") == &p->trust[0]);
    CHECK(trust_rule_for(p->trust, "docker.io/acmecorp/app") == nullptr);
    // The containerd verifier's cache reads the rules back from their JSON.
    auto again = load_trust_rules(p->trust_source);
    REQUIRE(again);
    CHECK(again.value()[0].key_set == p->trust[0].key_set);
}

TEST_CASE("a digest-pinned allowlist entry allows that digest only") {
    auto l = load_policy(
        R"({"organization":"acme","defaultRoles":["Reader"],"imageAccess":{"enabled":true,
        "repositoryAllowlist":["docker.io/someone/tool@)" +
            kSigned + R"("]}})",
        true);
    REQUIRE(l.policy);
    CHECK(decide_image(Action::Pull, "someone/tool@" + kSigned, "", *l.policy).allow);
    CHECK_FALSE(decide_image(Action::Pull, "someone/tool@" + kUnsigned, "", *l.policy).allow);
    CHECK_FALSE(decide_image(Action::Pull, "someone/tool:latest", "", *l.policy).allow);
    CHECK(has(errors_of("[]"), "") == false);
    auto tagged = load_policy(
        R"({"organization":"acme","imageAccess":{"repositoryAllowlist":["docker.io/someone/tool:1@)" +
            kSigned + R"("]}})",
        true);
    CHECK(tagged.has_errors());
}

TEST_CASE("a run is decided on the digests the local image was pulled at") {
    auto p = load(kRule);
    World w;
    w.images["acme/app"] = {"acme/app:latest", "acme/app@" + kSigned};
    w.images["acme/app@" + kSigned] = w.images["acme/app"];
    w.images["sha256:" + std::string(64, 'c')] = w.images["acme/app"];
    w.images["acme/fake"] = {"acme/fake:latest", "evil/x@" + kSigned};
    w.images["acme/other"] = {"acme/other:latest", "acme/other@" + kUnsigned};
    w.images["acme/built"] = {"acme/built:latest"};
    w.images["sha256:" + std::string(64, 'd')] = {};
    auto ctx = w.context(*p);

    Decision d = decide_request(create("acme/app"), ctx);
    CHECK(d.allow);
    REQUIRE(w.checks.size() == 1);
    CHECK(w.checks[0].digest == kSigned);
    CHECK(w.checks[0].registry == "docker.io");
    CHECK(w.checks[0].path == "acme/app");
    REQUIRE(!d.images.empty());
    CHECK(d.images[0].trust_rule == "acme");
    CHECK(d.images[0].key_id == p->trust[0].keys[0]->id());
    std::string line = image_decision_line(d.images[0], LogContext{});
    CHECK(line.find("\"digest\":\"" + kSigned + "\",\"trustRule\":\"acme\",\"keyId\":\"SHA256:") !=
          std::string::npos);

    CHECK(decide_request(create("acme/app@" + kSigned), ctx).allow);
    CHECK(decide_request(create("sha256:" + std::string(64, 'c')), ctx).allow);

    d = decide_request(create("acme/other"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.cause == Cause::Trust);
    CHECK(d.message.find("trust rule acme: docker.io/acme/other@" + kUnsigned) !=
          std::string::npos);

    // Tagged here from an image pulled elsewhere: its digest names evil/x, not acme/fake.
    d = decide_request(create("acme/fake"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("not pulled from docker.io/acme/fake") != std::string::npos);
    d = decide_request(create("acme/built"), ctx);
    CHECK_FALSE(d.allow);
    // A digest that does not name the image's repository is never asked about.
    for (const auto &c : w.checks)
        CHECK(c.match_name != "docker.io/evil/x");

    // Not local: dockerd answers "No such image" and the CLI pulls; a digest is checked anyway.
    CHECK(decide_request(create("acme/absent"), ctx).allow);
    CHECK_FALSE(decide_request(create("acme/absent@" + kUnsigned), ctx).allow);

    // Outside every rule: nothing to check.
    w.images["someone/tool"] = {"someone/tool:latest"};
    std::size_t before = w.checks.size();
    CHECK(decide_request(create("someone/tool"), ctx).allow);
    CHECK(w.checks.size() == before);
}

TEST_CASE("an image named only by ID is covered by every rule its names fall under") {
    auto p = load(kRule);
    World w;
    std::string id = "sha256:" + std::string(64, 'e');
    w.images[id] = {"someone/tool:latest", "acme/other@" + kUnsigned};
    auto ctx = w.context(*p);
    Decision d = decide_request(create(id), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.cause == Cause::Trust);
    // A rule on every repository also covers an image with no name.
    auto all = load(R"([{"name":"all","repositories":["*"],"keys":[)" + json_string(kKey) + "]}]");
    std::string unnamed = "sha256:" + std::string(64, 'f');
    w.images[unnamed] = {};
    auto ctx_all = w.context(*all);
    d = decide_request(create(unnamed), ctx_all);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("has no name") != std::string::npos);
}

TEST_CASE("requireDigest refuses tags at pull and run; audit mode only logs") {
    auto p =
        load(R"([{"name":"pin","repositories":["docker.io/acme/*"],"requireDigest":true,"keys":[)" +
             json_string(kKey) +
             R"(]},{"name":"watch","repositories":["docker.io/watch/*"],"mode":"audit","keys":[)" +
             json_string(kKey) + "]}]");
    ImageDecision pull = decide_image(Action::Pull, "acme/app:1", "", *p);
    CHECK_FALSE(pull.allow);
    CHECK(pull.cause == Cause::Trust);
    CHECK(pull.message.find("trust rule pin requires a digest") != std::string::npos);
    CHECK(decide_image(Action::Pull, "acme/app@" + kSigned, "", *p).allow);

    World w;
    w.images["acme/app:1"] = {"acme/app:1", "acme/app@" + kSigned};
    w.images["acme/app@" + kSigned] = w.images["acme/app:1"];
    w.images["watch/app"] = {"watch/app:latest", "watch/app@" + kUnsigned};
    auto ctx = w.context(*p);
    Decision d = decide_request(create("acme/app:1"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("requires a digest") != std::string::npos);
    CHECK(decide_request(create("acme/app@" + kSigned), ctx).allow);

    d = decide_request(create("watch/app"), ctx);
    CHECK(d.allow);
    CHECK(d.policy_denied);
    CHECK(d.cause == Cause::Trust);
    std::string line = image_decision_line(d.images[0], LogContext{});
    CHECK(line.find("\"decision\":\"deny\"") != std::string::npos);
    CHECK(line.find("\"mode\":\"audit\"") != std::string::npos);
    CHECK(line.find("\"cause\":\"trust\"") != std::string::npos);
}

TEST_CASE("without a signature check, a covered run is denied") {
    auto p = load(kRule);
    World w;
    w.images["acme/app"] = {"acme/app:latest", "acme/app@" + kSigned};
    auto ctx = w.context(*p);
    ctx.facts.verify_signature = nullptr;
    Decision d = decide_request(create("acme/app"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("signatures are not checked here") != std::string::npos);
}

TEST_CASE("registryCredentials: root's alone, docker config.json auths") {
    char dir[] = "/tmp/ig-creds-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    std::string path = std::string(dir) + "/config.json";
    {
        std::ofstream out(path);
        out << R"({"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},)"
               R"("reg.example:5000":{"username":"u","password":"p"}}})";
    }
    ::chmod(path.c_str(), 0644);
    auto open = load_registry_credentials(path);
    REQUIRE_FALSE(open);
    CHECK(open.error().find("readable by root only") != std::string::npos);
    ::chmod(path.c_str(), 0600);
    auto creds = load_registry_credentials(path);
    REQUIRE_MESSAGE(creds, creds.error());
    CHECK(creds.value().at("docker.io") == "dXNlcjpwYXNz");
    CHECK(creds.value().at("reg.example:5000") == "dTpw");
    {
        std::ofstream out(path);
        out << R"({"auths":{"docker.io":{"auth":"bm9jb2xvbg=="}}})";
    }
    auto bad = load_registry_credentials(path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("$.auths.docker.io.auth") != std::string::npos);
    std::remove(path.c_str());
    ::rmdir(dir);
}

TEST_CASE(
    "the verifier fails closed when the registry cannot be reached, and caches nothing then") {
    auto p = load(kRule);
    TrustConfig config;
    config.signature_registries.emplace_back("docker.io", "http://127.0.0.1:9");
    config.timeout_seconds = 2;
    SignatureVerifier verifier(config);
    TrustCheck check{"docker.io", "acme/app", "docker.io/acme/app", kSigned, &p->trust[0]};
    TrustVerdict v = verifier.verify(check);
    CHECK(v.state == TrustVerdict::State::Unavailable);
    CHECK(v.reason.find("cannot read docker.io/acme/app:sha256-") != std::string::npos);
    verifier.verify(check);
    CHECK(verifier.cache_hits() == 0);
    // Plain http to a registry that is not on loopback is refused before any connection.
    TrustConfig remote;
    remote.signature_registries.emplace_back("docker.io", "http://192.0.2.1");
    SignatureVerifier refusing(remote);
    v = refusing.verify(check);
    CHECK(v.state == TrustVerdict::State::Unavailable);
    CHECK(v.reason.find("refusing plain http") != std::string::npos);
}

namespace {

AuthzRequest tag(const std::string &source, const std::string &repo) {
    AuthzRequest r;
    r.method = "POST";
    r.uri = "/v1.41/images/" + source + "/tag?repo=" + repo + "&tag=1";
    return r;
}

bool checked(const World &w, const std::string &match_name, const std::string &digest) {
    for (const auto &c : w.checks)
        if (c.match_name == match_name && c.digest == digest)
            return true;
    return false;
}

} // namespace

TEST_CASE("a second name does not take an image past the rules of its other names") {
    auto p = load(kRule);
    World w;
    // acme/other (unsigned, pulled from docker.io/acme/other) tagged as acme-ci/app:1, which no
    // rule covers; dockerd resolves every spelling of the name to the same image.
    std::vector<std::string> unsigned_names = {"acme-ci/app:1", "acme/other:latest",
                                               "acme/other@" + kUnsigned};
    for (std::string ref :
         {"acme-ci/app:1", "docker.io/acme-ci/app:1", "index.docker.io/acme-ci/app:1", "abcdef12"})
        w.images[ref] = unsigned_names;
    // Pulled by digest from a repository no rule covers, as well as from acme/other.
    w.images["mirror/app@" + kUnsigned] = {"acme/other:latest", "acme/other@" + kUnsigned,
                                           "mirror/app@" + kUnsigned};
    auto ctx = w.context(*p);

    for (std::string ref : {"acme-ci/app:1", "docker.io/acme-ci/app:1",
                            "index.docker.io/acme-ci/app:1", "abcdef12"}) {
        CAPTURE(ref);
        w.checks.clear();
        Decision d = decide_request(create(ref), ctx);
        CHECK_FALSE(d.allow);
        CHECK(d.cause == Cause::Trust);
        CHECK(d.message.find("trust rule acme: ") != std::string::npos);
        CHECK(d.message.find("docker.io/acme/other@" + kUnsigned + ": no cosign signature") !=
              std::string::npos);
        CHECK(checked(w, "docker.io/acme/other", kUnsigned));
    }
    Decision d = decide_request(create("acme-ci/app:1"), ctx);
    CHECK(d.message.find("run of docker.io/acme-ci/app:1 denied: trust rule acme: the image is "
                         "also named docker.io/acme/other:latest: ") != std::string::npos);
    // The decision log has a line for the repository the rule covers, with the rule and digest.
    REQUIRE(d.images.size() == 2);
    CHECK(d.images[0].normalized == "docker.io/acme-ci/app:1");
    CHECK(d.images[1].normalized == "docker.io/acme/other@" + kUnsigned);
    CHECK_FALSE(d.images[1].allow);
    CHECK(d.images[1].trust_rule == "acme");
    CHECK(d.images[1].digest == kUnsigned);
    std::string line = image_decision_line(d.images[1], LogContext{});
    CHECK(line.find("\"reference\":\"docker.io/acme/other@" + kUnsigned +
                    "\",\"category\":\"community\"") != std::string::npos);
    CHECK(line.find("\"decision\":\"deny\"") != std::string::npos);
    CHECK(line.find("\"cause\":\"trust\"") != std::string::npos);

    // A name with a digest: that digest runs, and the image's other names are checked too.
    d = decide_request(create("mirror/app@" + kUnsigned), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("docker.io/acme/other@" + kUnsigned) != std::string::npos);
    // docker create and docker run are the same request; so is any API version.
    AuthzRequest old = create("acme-ci/app:1");
    old.uri = "/v1.12/containers/create";
    CHECK_FALSE(decide_request(old, ctx).allow);
}

TEST_CASE("a signed image with an extra local tag runs, and the log names the signed digest") {
    auto p = load(kRule);
    World w;
    w.images["mine/app:extra"] = {"acme/app:latest", "acme/app@" + kSigned, "mine/app:extra"};
    auto ctx = w.context(*p);
    Decision d = decide_request(create("mine/app:extra"), ctx);
    CHECK(d.allow);
    CHECK_FALSE(d.policy_denied);
    REQUIRE(d.images.size() == 2);
    CHECK(d.images[0].trust_rule.empty());
    CHECK(d.images[1].normalized == "docker.io/acme/app@" + kSigned);
    CHECK(d.images[1].reference == "mine/app:extra (docker.io/acme/app@" + kSigned + ")");
    CHECK(d.images[1].allow);
    CHECK(d.images[1].key_id == p->trust[0].keys[0]->id());
    std::string line = image_decision_line(d.images[1], LogContext{});
    CHECK(line.find("\"decision\":\"allow\"") != std::string::npos);
    CHECK(line.find("\"digest\":\"" + kSigned + "\",\"trustRule\":\"acme\",\"keyId\":\"SHA256:") !=
          std::string::npos);
    REQUIRE(w.checks.size() == 1);
    CHECK(w.checks[0].match_name == "docker.io/acme/app");

    // By ID, every name of the covered repository carries the outcome (policy impact replays
    // each line).
    std::string id = "sha256:" + std::string(64, 'a');
    w.images[id] = w.images["mine/app:extra"];
    d = decide_request(create(id), ctx);
    CHECK(d.allow);
    REQUIRE(d.images.size() == 3);
    CHECK(d.images[0].key_id == p->trust[0].keys[0]->id());
    CHECK(d.images[1].key_id == p->trust[0].keys[0]->id());
    CHECK(d.images[2].trust_rule.empty());
}

TEST_CASE("a name given here under a covered repository has no digest, whatever name runs") {
    auto p = load(kRule);
    World w;
    w.images["free/tool"] = {"free/tool:latest", "free/tool@" + kUnsigned, "acme/tagged:x"};
    auto ctx = w.context(*p);
    Decision d = decide_request(create("free/tool"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("the image is also named docker.io/acme/tagged:x: the local image was not "
                         "pulled from docker.io/acme/tagged") != std::string::npos);
    // Without that name, nothing covers it.
    w.images["free/tool"].pop_back();
    CHECK(decide_request(create("free/tool"), ctx).allow);
}

TEST_CASE("requireDigest: a tag of another repository does not unpin a covered image") {
    auto p =
        load(R"([{"name":"pin","repositories":["docker.io/acme/*"],"requireDigest":true,"keys":[)" +
             json_string(kKey) + "]}]");
    World w;
    w.images["mine/app:1"] = {"acme/app@" + kSigned, "mine/app:1"};
    w.images["acme/app@" + kSigned] = w.images["mine/app:1"];
    std::string id = "sha256:" + std::string(64, 'b');
    w.images[id] = w.images["mine/app:1"];
    auto ctx = w.context(*p);
    Decision d = decide_request(create("mine/app:1"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("the image is also named docker.io/acme/app@" + kSigned +
                         ": its rule requires a digest") != std::string::npos);
    CHECK(decide_request(create("acme/app@" + kSigned), ctx).allow);
    CHECK(decide_request(create(id), ctx).allow);
}

TEST_CASE("an audit rule on one name does not stop the check of another") {
    auto p = load(
        R"([{"name":"watch","repositories":["docker.io/watch/*"],"mode":"audit","keys":[)" +
        json_string(kKey) + R"(]},{"name":"acme","repositories":["docker.io/acme/*"],"keys":[)" +
        json_string(kKey) + "]}]");
    World w;
    w.images["watch/app"] = {"watch/app:latest", "watch/app@" + kUnsigned,
                             "acme/other@" + kUnsigned};
    w.images["watch/solo"] = {"watch/solo:latest", "watch/solo@" + kUnsigned};
    auto ctx = w.context(*p);
    Decision d = decide_request(create("watch/app"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("trust rule acme: ") != std::string::npos);
    d = decide_request(create("watch/solo"), ctx);
    CHECK(d.allow);
    CHECK(d.policy_denied);
}

TEST_CASE("a tag of an image that may not run under its covered names is refused") {
    auto p = load(kRule);
    World w;
    w.images["acme/other"] = {"acme/other:latest", "acme/other@" + kUnsigned};
    w.images["acme/app"] = {"acme/app:latest", "acme/app@" + kSigned};
    std::string id = "sha256:" + std::string(64, '9');
    w.images[id] = w.images["acme/other"];
    w.images["acme/built"] = {"acme/built:latest"};
    w.images["free/tool"] = {"free/tool:latest"};
    auto ctx = w.context(*p);
    Decision d = decide_request(tag("acme/other", "launder/app"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.cause == Cause::Trust);
    CHECK(d.message.find("tag of docker.io/acme/other:latest denied: trust rule acme: "
                         "docker.io/acme/other@" +
                         kUnsigned) != std::string::npos);
    CHECK_FALSE(decide_request(tag(id, "launder/app"), ctx).allow);
    // A name given here (no digest to check): refused too, or a `docker rmi` of the digest
    // would open the way.
    d = decide_request(tag("acme/built", "launder/app"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("not pulled from docker.io/acme/built") != std::string::npos);
    // Signed, or covered by no rule, or not there at all: tagged; requireDigest is for runs.
    CHECK(decide_request(tag("acme/app", "mine/app"), ctx).allow);
    CHECK(decide_request(tag("free/tool", "acme/fake"), ctx).allow);
    CHECK(decide_request(tag("acme/absent", "mine/app"), ctx).allow);
}

TEST_CASE("when dockerd cannot say which image a name is, a covered image cannot be ruled out") {
    auto p = load(kRule);
    World w;
    auto ctx = w.context(*p);
    ctx.facts.image_names = [](std::string_view) { return ImageLookup{}; }; // Unknown
    Decision d = decide_request(create("someone/tool"), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.cause == Cause::Trust);
    CHECK(d.message.find("trust rule acme: imagegate cannot ask dockerd which image "
                         "\"someone/tool\" is, so it cannot check the trust rules of its names") !=
          std::string::npos);
    ctx.facts.image_names = nullptr;
    CHECK_FALSE(decide_request(create("acme/app@" + kSigned), ctx).allow);
    // Only audit rules: logged, allowed.
    auto audit = load(R"([{"name":"watch","repositories":["docker.io/watch/*"],"mode":"audit",)"
                      R"("keys":[)" +
                      json_string(kKey) + "]}]");
    auto actx = w.context(*audit);
    actx.facts.image_names = nullptr;
    d = decide_request(create("someone/tool"), actx);
    CHECK(d.allow);
    CHECK(d.policy_denied);
}
