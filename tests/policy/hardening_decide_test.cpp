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

namespace {
// A message without its "imagegate: METHOD PATH denied: " opening.
std::string reason(const Decision &d) {
    auto at = d.message.find(" denied: ");
    return at == std::string::npos ? d.message : d.message.substr(at);
}

AuthzRequest bodiless(std::string method, std::string uri) {
    AuthzRequest r;
    r.method = std::move(method);
    r.uri = std::move(uri);
    return r;
}
} // namespace

TEST_CASE("POST /containers/{id}/copy (docker cp, API < 1.24) is decided exactly as archive") {
    const Policy p = hardened();
    Host host;
    for (const char *name : {"admin-etc", "admin-pid", "middle", "plain"}) {
        CAPTURE(name);
        std::string c = name;
        Decision archive = decide_request(
            bodiless("GET", "/v1.41/containers/" + c + "/archive?path=/host-etc/shadow"),
            host.context(p));
        Decision head = decide_request(
            bodiless("HEAD", "/v1.41/containers/" + c + "/archive?path=/host-etc/shadow"),
            host.context(p));
        CHECK(archive.allow == (c == "plain"));
        for (const char *version : {"/v1.23", "/v1.12", ""}) {
            CAPTURE(version);
            Decision copy =
                decide_request(request("POST", std::string(version) + "/containers/" + c + "/copy",
                                       R"({"Resource":"/host-etc/shadow"})"),
                               host.context(p));
            CHECK(copy.allow == archive.allow);
            CHECK(copy.cause == archive.cause);
            CHECK(reason(copy) == reason(archive));
            CHECK(reason(head) == reason(archive));
        }
    }
    Decision etc = decide_request(
        request("POST", "/v1.23/containers/admin-etc/copy", R"({"Resource":"/host-etc"})"),
        host.context(p));
    CHECK(etc.message.find("container admin-etc may not be entered or started") !=
          std::string::npos);
}

TEST_CASE("a checkpoint directory is decided as a host path dockerd writes and removes as root") {
    const Policy p = hardened();
    Host host;
    auto decide = [&](AuthzRequest r) { return decide_request(std::move(r), host.context(p)); };
    Decision protected_path =
        decide(bodiless("DELETE", "/v1.41/containers/plain/checkpoints/imagegate?dir=/etc"));
    CHECK_FALSE(protected_path.allow);
    CHECK(protected_path.message.find("checkpoint directory /etc/imagegate would expose the "
                                      "protected path /etc/imagegate") != std::string::npos);
    Decision elsewhere =
        decide(bodiless("GET", "/v1.41/containers/plain/checkpoints?dir=/tmp/checkpoints"));
    CHECK_FALSE(elsewhere.allow);
    CHECK(elsewhere.message.find("host device checkpoint directory /tmp/checkpoints") !=
          std::string::npos);
    Decision create = decide(request("POST", "/v1.41/containers/plain/checkpoints",
                                     R"({"CheckpointID":"c1","CheckpointDir":"/srv"})"));
    CHECK_FALSE(create.allow);
    // Without a directory: the container's own (under dockerd's data root).
    CHECK(decide(bodiless("GET", "/v1.41/containers/plain/checkpoints")).allow);
    CHECK(decide(bodiless("DELETE", "/v1.41/containers/plain/checkpoints/c1")).allow);
    CHECK(decide(request("POST", "/v1.41/containers/plain/checkpoints", R"({"CheckpointID":"c1"})"))
              .allow);
    // A checkpoint dumps the container's memory: it enters the container.
    Decision admin = decide(
        request("POST", "/v1.41/containers/admin-pid/checkpoints", R"({"CheckpointID":"c1"})"));
    CHECK_FALSE(admin.allow);
    CHECK(admin.message.find("container admin-pid may not be entered") != std::string::npos);
}
