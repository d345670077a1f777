// Hardening decisions that need what dockerd knows (HostFacts): what another container lends
// (--volumes-from, container:X namespaces), the user a container runs as, and how Go-side
// spellings (uid "+0", MaskedPaths) reach the runtime. The e2e corpora try these against a
// real dockerd; these pin the decision itself.
#include "policy/decide.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace imagegate;

namespace {
AuthzRequest request(std::string method, std::string uri, std::string body) {
    AuthzRequest r;
    r.method = std::move(method);
    r.uri = std::move(uri);
    r.body = std::move(body);
    r.headers["content-type"] = "application/json";
    return r;
}

Policy hardened(bool root_restricted = false) {
    std::string text = R"({"organization":"acme","serial":9,"defaultRoles":["Reader","Writer"],
        "hardening":{"protectedPaths":["/etc/imagegate"],"rootInContainer":")" +
                       std::string(root_restricted ? "restricted" : "allowed") + R"("}})";
    auto load = load_policy(text, false);
    REQUIRE(load.policy);
    return *load.policy;
}

// Containers an admin made before imagegate: one binding /etc, one in the host's pid namespace.
struct Host {
    std::map<std::string, ContainerSettings> containers;
    int lookups = 0;
    DecisionContext context(const Policy &p) {
        DecisionContext ctx;
        ctx.policy = &p;
        ctx.protected_paths = {"/run/docker.sock"};
        ctx.facts.container = [this](std::string_view name) {
            ++lookups;
            ContainerLookup found;
            auto it = containers.find(std::string(name));
            found.state = it == containers.end() ? ContainerLookup::State::NotFound
                                                 : ContainerLookup::State::Found;
            if (it != containers.end())
                found.settings = it->second;
            return found;
        };
        ctx.facts.image_user = [](std::string_view) -> std::optional<std::string> {
            return std::string("nobody");
        };
        return ctx;
    }
    Host() {
        ContainerSettings etc;
        etc.mounts.push_back({"/etc", "-v /etc:/host-etc"});
        containers["admin-etc"] = etc;
        ContainerSettings pid;
        pid.host_namespaces.push_back("pid");
        containers["admin-pid"] = pid;
        ContainerSettings chain;
        chain.volumes_from.push_back("admin-etc");
        containers["middle"] = chain;
        containers["plain"] = ContainerSettings{};
    }
};

Decision create(Host &host, const Policy &p, const std::string &body) {
    return decide_request(request("POST", "/v1.41/containers/create", body), host.context(p));
}
} // namespace

TEST_CASE("what another container lends is checked as if the request asked for it") {
    const Policy p = hardened();
    Host host;
    Decision lent =
        create(host, p, R"({"Image":"alpine","HostConfig":{"VolumesFrom":["admin-etc:ro"]}})");
    CHECK_FALSE(lent.allow);
    CHECK(lent.message.find("--volumes-from admin-etc") != std::string::npos);
    CHECK(lent.message.find("/etc/imagegate") != std::string::npos);

    Decision chained =
        create(host, p, R"({"Image":"alpine","HostConfig":{"VolumesFrom":["middle"]}})");
    CHECK_FALSE(chained.allow); // middle lends what admin-etc lends it

    Decision pid =
        create(host, p, R"({"Image":"alpine","HostConfig":{"PidMode":"container:admin-pid"}})");
    CHECK_FALSE(pid.allow);
    CHECK(pid.message.find("the host pid namespace (through container admin-pid)") !=
          std::string::npos);

    CHECK(
        create(
            host, p,
            R"({"Image":"alpine","HostConfig":{"VolumesFrom":["plain"],"PidMode":"container:plain"}})")
            .allow);
}

TEST_CASE("a container imagegate cannot look up lends nothing it can check: denied") {
    const Policy p = hardened();
    Host host;
    DecisionContext ctx = host.context(p);
    ctx.facts.container = [](std::string_view) {
        return ContainerLookup{};
    }; // dockerd not answering
    Decision d =
        decide_request(request("POST", "/v1.41/containers/create",
                               R"({"Image":"alpine","HostConfig":{"VolumesFrom":["admin-etc"]}})"),
                       ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("cannot look that container up") != std::string::npos);
}

TEST_CASE("a lender named many times is looked up once") {
    const Policy p = hardened();
    Host host;
    std::string many;
    for (int i = 0; i < 1000; ++i)
        many += std::string(i ? "," : "") + "\"plain\"";
    CHECK(
        create(host, p, R"({"Image":"alpine","HostConfig":{"VolumesFrom":[)" + many + "]}}").allow);
    CHECK(host.lookups == 1);
}

TEST_CASE(
    "root in the container: every spelling of uid 0 counts under rootInContainer restricted") {
    const Policy p = hardened(true);
    Host host;
    for (const char *user : {"root", "0", "+0", "-0", "000", "0:0", "root:root", "+0:1000"}) {
        CAPTURE(user);
        Decision d = create(host, p, std::string(R"({"Image":"alpine","User":")") + user + "\"}");
        CHECK_FALSE(d.allow);
    }
    for (const char *user : {"1000", "nobody", "10", "1000:0"}) {
        CAPTURE(user);
        CHECK(create(host, p, std::string(R"({"Image":"alpine","User":")") + user + "\"}").allow);
    }
}

TEST_CASE("MaskedPaths and ReadonlyPaths may not drop the defaults that hide the host kernel") {
    const Policy p = hardened();
    Host host;
    Decision unmasked = create(host, p, R"({"Image":"alpine","HostConfig":{"MaskedPaths":[]}})");
    CHECK_FALSE(unmasked.allow);
    Decision writable = create(host, p, R"({"Image":"alpine","HostConfig":{"ReadonlyPaths":[]}})");
    CHECK_FALSE(writable.allow);
    CHECK(create(host, p, R"({"Image":"alpine","HostConfig":{}})").allow);
}
