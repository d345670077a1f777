// containerd/verifier_cache.cpp: the compact policy containerd-verify reads decides as the full
// one.
#include "containerd/verifier_cache.hpp"

#include "containerd/verify.hpp"
#include "policy/decide.hpp"
#include "tests/policy/test_policies.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace imagegate;

namespace {

// A policy that exercises every part a pull decision reads: categories, the allowlist with
// exact names and prefixes, registries, grants on patterns, groups, owners and defaults.
const char *kRichPolicy = R"({
  "organization": "acme", "serial": 7, "mode": "enforce",
  "imageAccess": {
    "enabled": true,
    "organizationNamespaces": ["acme", "acme-ci"],
    "dockerOfficial": "allowed", "verifiedPublisher": "restricted", "sponsoredOpenSource": "allowed",
    "verifiedPublisherNamespaces": ["bitnami", "grafana"],
    "sponsoredOpenSourceNamespaces": ["curlimages"],
    "repositoryAllowlist": ["docker.io/someone/approved-tool", "docker.io/trusted/*", "docker.io/bitnami/redis"]
  },
  "registryAccess": { "enabled": true, "allowedRegistries": ["docker.io", "ghcr.io", "Registry.Acme.Example:5000"] },
  "teams": { "owners": ["alice"], "nodes": ["k8s-node"] },
  "serviceIds": ["ci-runner"],
  "resourceGroups": { "internal": ["registry.acme.example:5000/acme/*", "ghcr.io/acme/tools"] },
  "accessPolicies": [
    { "subjects": ["team:nodes"], "roles": ["Reader"], "resources": ["group:internal", "docker.io/library/*", "docker.io/trusted/*", "docker.io/someone/approved-tool"] },
    { "subjects": ["serviceId:ci-runner"], "roles": ["Writer"], "resources": ["group:internal"] },
    { "subjects": ["team:owners"], "roles": ["Manager"], "resources": ["*"] }
  ],
  "defaultRoles": ["Reader"]
})";

const char *kReferences[] = {
    "alpine",
    "docker.io/library/alpine:3.19",
    "library/alpine@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "someone/tool",
    "someone/approved-tool",
    "someone/approved-tool-2",
    "trusted/a",
    "trusted/a/b",
    "trustedx/a",
    "bitnami/redis",
    "bitnami/postgresql",
    "grafana/grafana",
    "curlimages/curl",
    "acme/app",
    "acme-ci/runner",
    "acme/team/app",
    "ghcr.io/acme/tools",
    "ghcr.io/acme/tools-2",
    "ghcr.io/other/x",
    "registry.acme.example:5000/acme/app",
    "REGISTRY.ACME.EXAMPLE:5000/acme/app",
    "registry.acme.example:5000/other/app",
    "quay.io/x/y",
    "localhost:5000/acme/app",
    "Not//Valid",
    "index.docker.io/acme/app",
    "registry-1.docker.io/library/busybox",
};

const char *kUsers[] = {"", "k8s-node", "ci-runner", "alice", "nobody"};

std::shared_ptr<const Policy> rich() {
    return testing::load(kRichPolicy);
}

struct TempDir {
    std::string path;
    TempDir() {
        char templ[] = "/tmp/ig-verifier-cache-XXXXXX";
        REQUIRE(::mkdtemp(templ));
        path = templ;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

void write(const std::string &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

} // namespace

TEST_CASE("the compact form decides every pull as the full policy does, whole or sliced") {
    for (auto policy : {rich(), testing::acme()}) {
        ActivePolicy full{policy, "file:/etc/imagegate/policy.json", Clock::now()};
        for (const char *user : kUsers) {
            ActivePolicy compact = full;
            compact.policy = policy_for_user(*policy, user);
            std::string text = serialize_verifier_policy(compact, user, "KEY");
            auto whole = parse_verifier_policy(text, user, "KEY");
            REQUIRE_MESSAGE(whole.ok(), whole.error());
            CHECK(whole->source == full.source);
            CHECK(whole->synced_at == full.synced_at);
            for (const char *reference : kReferences) {
                CAPTURE(user);
                CAPTURE(reference);
                auto sliced = parse_verifier_policy(text, user, "KEY", std::string_view(reference));
                REQUIRE_MESSAGE(sliced.ok(), sliced.error());
                ImageDecision want = decide_image(Action::Pull, reference, user, *policy);
                for (const Policy *p : {whole->policy.get(), sliced->policy.get()}) {
                    ImageDecision got = decide_image(Action::Pull, reference, user, *p);
                    CHECK(got.allow == want.allow);
                    CHECK(got.category == want.category);
                    CHECK(got.reason == want.reason);
                    CHECK(got.message == want.message);
                    CHECK(p->mode == policy->mode);
                    CHECK(p->require_sign_in == policy->require_sign_in);
                }
            }
        }
    }
}

TEST_CASE("a sliced compact form holds only what one reference can look up") {
    auto policy = rich();
    ActivePolicy compact{policy_for_user(*policy, "k8s-node"), "file:p", Clock::now()};
    std::string text = serialize_verifier_policy(compact, "k8s-node", "KEY");
    auto sliced = parse_verifier_policy(text, "k8s-node", "KEY", std::string_view("trusted/a"));
    REQUIRE(sliced.ok());
    const Policy &p = *sliced->policy;
    CHECK(p.organization_namespaces.empty());
    CHECK(p.verified_publisher_namespaces.empty());
    CHECK(p.allowed_registries == StringSet{"docker.io"});
    CHECK(p.repository_allowlist.prefixes == StringSet{"docker.io/trusted"});
    CHECK(p.repository_allowlist.exact.empty());
}

TEST_CASE("a compact form that is cut short, altered or made for something else is refused") {
    ActivePolicy compact{policy_for_user(*rich(), ""), "file:p", Clock::now()};
    std::string text = serialize_verifier_policy(compact, "", "KEY");
    CHECK(parse_verifier_policy(text, "", "OTHER").error() ==
          "compact policy: made from other sources");
    CHECK(parse_verifier_policy(text, "k8s-node", "KEY").error() ==
          "compact policy: made for another containerdUser");
    CHECK(parse_verifier_policy(text.substr(0, text.size() / 2), "", "KEY")
              .error()
              .starts_with("compact policy: "));
    CHECK(parse_verifier_policy(text.substr(0, text.size() - 1), "", "KEY").error() ==
          "compact policy: cut short");
    CHECK(parse_verifier_policy(text + "registry evil.example\n", "", "KEY").error() ==
          "compact policy: bad line \"end\"");
    std::string dropped = text;
    auto line = dropped.find("\nregistries\t");
    REQUIRE(line != std::string::npos);
    dropped.erase(line, dropped.find('\n', line + 1) - line);
    CHECK(parse_verifier_policy(dropped, "", "KEY").error() == "compact policy: bad line \"end\"");
    CHECK(parse_verifier_policy("", "", "KEY").error() ==
          "compact policy: not one (or another version)");
}

TEST_CASE("a policy whose names the set lines cannot hold is not stored") {
    auto policy = std::make_shared<Policy>(*rich());
    policy->organization_namespaces.emplace("odd\tname");
    CHECK(serialize_verifier_policy(ActivePolicy{policy, "file:p", Clock::now()}, "", "K") == "");
}

TEST_CASE("values with newlines and backslashes survive the compact form") {
    auto policy = std::make_shared<Policy>(*rich());
    policy->organization = "ac\\me\nco";
    ActivePolicy compact{policy, "file:/odd\npath", Clock::now()};
    auto back = parse_verifier_policy(serialize_verifier_policy(compact, "", "K"), "", "K");
    REQUIRE_MESSAGE(back.ok(), back.error());
    CHECK(back->policy->organization == "ac\\me\nco");
    CHECK(back->source == "file:/odd\npath");
}

TEST_CASE(
    "the compact form is used while its sources are unchanged, and rebuilt when they change") {
    TempDir dir;
    std::string policy_path = dir.path + "/policy.json";
    std::string cache_dir = dir.path + "/cache";
    write(policy_path, kRichPolicy);
    Config config;
    config.path = dir.path + "/imagegate.json";
    config.policy_file = policy_path;
    config.cache_dir = cache_dir;
    config.containerd_user = "k8s-node";

    SUBCASE("a source changed in the last seconds is not cached") {
        bool from_cache = true;
        auto first = load_verifier_policy(config, "trusted/a", nullptr, &from_cache);
        REQUIRE(first.ok());
        CHECK_FALSE(from_cache);
        CHECK_FALSE(std::filesystem::exists(cache_dir + "/" + kVerifierCacheFile));
    }
    SUBCASE("settled sources are cached; a change is seen at once") {
        auto later =
            std::chrono::system_clock::now() + kVerifierCacheSettle + std::chrono::seconds(1);
        bool from_cache = true;
        auto first = load_verifier_policy(config, "trusted/a", nullptr, &from_cache, later);
        REQUIRE(first.ok());
        CHECK_FALSE(from_cache);
        std::string cached = cache_dir + "/" + std::string(kVerifierCacheFile);
        REQUIRE(std::filesystem::exists(cached));
        struct stat st {};
        REQUIRE(::stat(cached.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);

        auto second = load_verifier_policy(config, "trusted/a", nullptr, &from_cache, later);
        REQUIRE(second.ok());
        CHECK(from_cache);
        CHECK(decide_image(Action::Pull, "trusted/a", "k8s-node", *second.value()->policy).allow);

        SUBCASE("another containerdUser does not read it") {
            config.containerd_user = "ci-runner";
            auto other = load_verifier_policy(config, "trusted/a", nullptr, &from_cache, later);
            REQUIRE(other.ok());
            CHECK_FALSE(from_cache);
            CHECK_FALSE(
                decide_image(Action::Pull, "trusted/a", "ci-runner", *other.value()->policy).allow);
        }
        SUBCASE("a rewritten policy file is read in full") {
            std::string changed = kRichPolicy;
            changed.replace(changed.find("\"serial\": 7"), 11,
                            "\"serial\": 8000"); // another size, too
            write(policy_path, changed);
            auto third = load_verifier_policy(config, "trusted/a", nullptr, &from_cache, later);
            REQUIRE(third.ok());
            CHECK_FALSE(from_cache);
            CHECK(third.value()->policy->serial == 8000);
        }
        SUBCASE("a policy file that became invalid fails, whatever the compact form says") {
            write(policy_path, "{ not json");
            auto broken = load_verifier_policy(config, "trusted/a", nullptr, &from_cache, later);
            CHECK_FALSE(broken.ok());
        }
        SUBCASE("a compact form others can write is not trusted") {
            REQUIRE(::chmod(cached.c_str(), 0622) == 0);
            auto again = load_verifier_policy(config, "trusted/a", nullptr, &from_cache, later);
            REQUIRE(again.ok());
            CHECK_FALSE(from_cache);
        }
    }
    SUBCASE("the key names the imagegate binary by its file, not its path") {
        // imagegate-containerd-verify computes it for the imagegate it would hand over to.
        auto now = std::chrono::system_clock::now();
        std::string real = std::filesystem::canonical("/proc/self/exe").string();
        std::string link = dir.path + "/link";
        std::filesystem::create_symlink(real, link);
        CHECK(verifier_cache_key(config, now, "/proc/self/exe").key ==
              verifier_cache_key(config, now, real).key);
        CHECK(verifier_cache_key(config, now, link).key ==
              verifier_cache_key(config, now, real).key);
        CHECK(verifier_cache_key(config, now, policy_path).key !=
              verifier_cache_key(config, now, real).key);
    }
    SUBCASE("--policy without a configuration file writes nothing") {
        config.path.clear();
        CHECK(verifier_cache_key(config, std::chrono::system_clock::now(), "/proc/self/exe")
                  .key.empty());
    }
}

TEST_CASE("every field of the pull field lists survives the compact policy") {
    // Each listed field set away from its default, one at a time: a field the compact form
    // dropped or mixed up with another would come back with its default.
    auto round_trip = [](const std::shared_ptr<Policy> &policy) {
        ActivePolicy active{policy, "file:p", Clock::now()};
        auto back = parse_verifier_policy(serialize_verifier_policy(active, "", "KEY"), "", "KEY");
        REQUIRE(back);
        return back.value().policy;
    };
    for (const auto &f : kPullFlags) {
        auto policy = std::make_shared<Policy>();
        policy->organization = "acme";
        (*policy).*f.member = !((*policy).*f.member);
        auto back = round_trip(policy);
        CAPTURE(f.name);
        CHECK((*back).*f.member == (*policy).*f.member);
        for (const auto &other : kPullFlags)
            CHECK((*back).*other.member == (*policy).*other.member);
    }
    for (const auto &f : kPullSettings) {
        auto policy = std::make_shared<Policy>();
        policy->organization = "acme";
        (*policy).*f.member =
            (*policy).*f.member == Setting::Allowed ? Setting::Restricted : Setting::Allowed;
        auto back = round_trip(policy);
        CAPTURE(f.name);
        for (const auto &other : kPullSettings)
            CHECK((*back).*other.member == (*policy).*other.member);
    }
    for (const auto &f : kPullSets) {
        auto policy = std::make_shared<Policy>();
        policy->organization = "acme";
        ((*policy).*f.member).emplace(std::string(f.name) + "-member");
        auto back = round_trip(policy);
        CAPTURE(f.name);
        for (const auto &other : kPullSets)
            CHECK(((*back).*other.member).size() == ((*policy).*other.member).size());
        CHECK(((*back).*f.member).contains(std::string(f.name) + "-member"));
    }
}
