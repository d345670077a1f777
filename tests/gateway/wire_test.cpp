// gateway/wire.cpp and gateway/http_wire.cpp: what a registry request on the wire is, its
// decision, and the strict reading of heads and framing.
#include "gateway/ca.hpp"
#include "gateway/http_wire.hpp"
#include "gateway/wire.hpp"
#include "tests/policy/test_policies.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace imagegate;

namespace {

WireVerdict wire(std::string_view method, std::string_view target,
                 std::string_view registry = "docker.io") {
    return decide_wire_request(method, target, registry, testing::acme().get(), "");
}

std::shared_ptr<const Policy> acme_audit() {
    std::string text = testing::fixture("policies/acme.json");
    auto at = text.find("\"mode\": \"enforce\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string_view("\"mode\": \"enforce\"").size(), "\"mode\": \"audit\"");
    return testing::load(text);
}

// A Reader over bytes written into a socket pair.
struct Bytes {
    int fds[2];
    explicit Bytes(std::string_view text) {
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::shutdown(fds[1], SHUT_WR);
    }
    ~Bytes() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
};

Result<Head> head_of(std::string_view text, bool response = false) {
    Bytes bytes(text);
    FdStream stream(bytes.fds[0]);
    Reader reader(stream);
    return reader.read_head(HeadLimits{}, response);
}

} // namespace

TEST_CASE("gateway: manifests and blobs are decided as pulls of REGISTRY/NAME, no user") {
    auto official = wire("GET", "/v2/library/alpine/manifests/latest");
    CHECK(official.allow);
    CHECK(official.decided);
    REQUIRE(official.images.size() == 1);
    CHECK(official.images[0].normalized == "docker.io/library/alpine:latest");
    CHECK(official.images[0].action == Action::Pull);

    // Docker Hub's short names fold to library/.
    auto short_name = wire("HEAD", "/v2/alpine/manifests/3.19");
    REQUIRE(short_name.images.size() == 1);
    CHECK(short_name.images[0].normalized == "docker.io/library/alpine:3.19");
    CHECK(short_name.allow);

    auto community = wire("GET", "/v2/randomuser/tool/manifests/latest");
    CHECK_FALSE(community.allow);
    CHECK(community.cause == Cause::Image);
    CHECK(community.message.find("imagegate: pull of docker.io/randomuser/tool:latest denied") ==
          0);

    std::string digest = "sha256:" + std::string(64, 'a');
    CHECK_FALSE(wire("GET", "/v2/randomuser/tool/blobs/" + digest).allow);
    CHECK_FALSE(wire("GET", "/v2/randomuser/tool/manifests/" + digest).allow);
    CHECK_FALSE(wire("GET", "/v2/randomuser/tool/tags/list").allow);
    CHECK_FALSE(wire("GET", "/v2/randomuser/tool/referrers/" + digest).allow);
    CHECK(wire("GET", "/v2/library/alpine/blobs/" + digest).allow);
    // The repository allowlist holds on the wire too.
    CHECK(wire("GET", "/v2/someone/approved-tool/manifests/latest").allow);
}

TEST_CASE("gateway: roles do not apply on the wire; namespace access does") {
    // acme's defaultRoles give Manager; a policy without any role still pulls official images.
    std::string text = testing::fixture("policies/acme.json");
    auto at = text.find("\"defaultRoles\": [\"Manager\"]");
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string_view("\"defaultRoles\": [\"Manager\"]").size(),
                 "\"defaultRoles\": []");
    auto no_roles = testing::load(text);
    auto v = decide_wire_request("GET", "/v2/library/alpine/manifests/latest", "docker.io",
                                 no_roles.get(), "");
    CHECK(v.allow);
    // Pushes: uploads and manifest PUTs are image.push; namespace access forbids foreign ones.
    auto upload = wire("POST", "/v2/someoneelse/app/blobs/uploads/");
    CHECK_FALSE(upload.allow);
    REQUIRE(upload.images.size() == 1);
    CHECK(upload.images[0].action == Action::Push);
    CHECK(wire("POST", "/v2/acme/app/blobs/uploads/").allow);
    CHECK_FALSE(wire("PUT", "/v2/someoneelse/app/manifests/latest").allow);
    CHECK(wire("PUT", "/v2/acme/app/manifests/latest").allow);
    // A cross-repository mount reads the other repository.
    auto mount = wire("POST", "/v2/acme/app/blobs/uploads/?mount=sha256:" + std::string(64, 'a') +
                                  "&from=randomuser%2Ftool");
    CHECK_FALSE(mount.allow);
    REQUIRE(mount.images.size() == 2);
    CHECK(mount.images[1].normalized == "docker.io/randomuser/tool:latest");
}

TEST_CASE("gateway: a path read more than one way is decided every way") {
    // "manifests" is a valid name component: both readings are decided.
    auto v = wire("GET", "/v2/library/alpine/manifests/x/manifests/latest");
    CHECK(v.images.size() >= 2);
    auto hidden = wire("GET", "/v2/randomuser/tool/blobs/x/manifests/latest");
    CHECK_FALSE(hidden.allow);
}

TEST_CASE("gateway: paths that are not plain are denied") {
    for (std::string target :
         {"/v2/randomuser%2Ftool/manifests/latest", "/v2/library//alpine/manifests/latest",
          "/v2/library/./alpine/manifests/latest",
          "/v2/library/../randomuser/tool/manifests/latest",
          "/v2/library/alpine/manifests/lat%00est", "/v2/a/manifests/%zz"}) {
        CAPTURE(target);
        auto v = wire("GET", target);
        CHECK_FALSE(v.allow);
        CHECK(v.cause == Cause::UnreadableRequest);
    }
    // An escape of an ordinary character is refused too: no registry name, tag or digest
    // needs one, and a registry decodes it (issue 26: an escaped /v2/ prefix went undecided).
    for (std::string target :
         {"/v2/randomuser/t%6fol/manifests/latest", "/%76%32/randomuser/tool/manifests/latest",
          "/v%32/randomuser/tool/blobs/sha256:aa", "/%2576%2532/randomuser/tool/manifests/x",
          "/v2%2Frandomuser/tool/manifests/latest", "/v2/library/alpine/manifests/3.19%20"}) {
        CAPTURE(target);
        auto v = wire("GET", target);
        CHECK_FALSE(v.allow);
        CHECK(v.cause == Cause::UnreadableRequest);
        CHECK(v.message.find("escaped") != std::string::npos);
    }
    // An invalid repository name where one is expected is denied.
    CHECK_FALSE(wire("GET", "/v2/Random/Tool/manifests/latest").allow);
}

TEST_CASE("gateway: paths outside the registry API are refused unless a registry named them") {
    for (std::string target : {"/token?scope=x", "/V2/randomuser/tool/manifests/latest",
                               "/artifactory/api/docker/hub/v2/randomuser/tool/manifests/latest",
                               "/", "/v1/repositories/randomuser/tool/images"}) {
        CAPTURE(target);
        auto v = wire("GET", target);
        CHECK_FALSE(v.allow);
        CHECK(v.outside_api);
        CHECK(v.cause == Cause::UnreadableRequest);
    }
    CHECK(wire("GET", "/token?scope=x").path == "/token");
    // Under /v2/, a path that is no route the gateway decides is refused the same way (and
    // passes once the registry named it as its token path): other spellings of a route, a
    // trailing slash, extension routes.
    for (std::string target :
         {"/v2/randomuser/tool/Manifests/latest", "/v2/randomuser/tool/MANIFESTS/latest",
          "/v2/randomuser/tool/Blobs/sha256:aa", "/v2/randomuser/tool/_manifests/latest",
          "/v2/randomuser/tool/tags/list/", "/v2/randomuser/tool/_oci/x", "/v2/auth",
          "/v2/token?x=1"}) {
        CAPTURE(target);
        auto v = wire("GET", target);
        CHECK_FALSE(v.allow);
        CHECK(v.outside_api);
    }
}

TEST_CASE("gateway: requests without image content pass; no policy and stale deny content") {
    for (std::string target : {"/v2/", "/v2", "/v2/_catalog", "/v2/_catalog?n=10"}) {
        CAPTURE(target);
        auto v = wire("GET", target);
        CHECK(v.allow);
        CHECK_FALSE(v.decided);
    }
    auto none =
        decide_wire_request("GET", "/v2/library/alpine/manifests/latest", "docker.io", nullptr, "");
    CHECK_FALSE(none.allow);
    CHECK(none.cause == Cause::NoPolicy);
    auto stale = decide_wire_request("GET", "/v2/library/alpine/manifests/latest", "docker.io",
                                     testing::acme().get(), "the policy is 9 days old");
    CHECK_FALSE(stale.allow);
    CHECK(stale.cause == Cause::StalePolicy);
}

TEST_CASE("gateway: a mount's from is read as the registry reads it, hidden or not") {
    const std::string upload = "/v2/acme/stolen/blobs/uploads/";
    // The plain spelling, an escaped key, an escaped value, '+', a second from, ';' (Go < 1.17).
    for (std::string query :
         {"?mount=sha256:aa&from=randomuser/tool", "?mount=sha256:aa&fr%6Fm=randomuser/tool",
          "?mount=sha256:aa&from=randomuser%2Ftool", "?from=library/alpine&from=randomuser/tool",
          "?mount=sha256:aa;from=randomuser/tool", "?%66%72%6f%6d=randomuser%2ftool"}) {
        CAPTURE(query);
        auto v = wire("POST", upload + query);
        CHECK_FALSE(v.allow);
        bool pulled = false;
        for (const auto &image : v.images)
            pulled |= image.normalized == "docker.io/randomuser/tool:latest" && !image.allow;
        CHECK(pulled);
    }
    // An official from is allowed to mount into acme's own repository.
    CHECK(wire("POST", upload + "?mount=sha256:aa&from=library/alpine").allow);
    // from is a repository name: with a tag or a pinned digest it is refused, not decided as
    // a reference (a registry might keep the name and drop the rest).
    CHECK_FALSE(wire("POST", upload + "?mount=sha256:aa&from=randomuser/tool@sha256:" +
                                 std::string(64, 'a'))
                    .allow);
    CHECK_FALSE(wire("POST", upload + "?mount=sha256:aa&from=library/alpine:3.19").allow);
    // A query the registry cannot read plainly is refused on a content request.
    CHECK_FALSE(wire("POST", upload + "?mount=sha256:aa&from=library/alpine&x=%zz").allow);
    // A form body: the registry reads from and mount from it (Go's FormValue); refused.
    for (std::string type :
         {"application/x-www-form-urlencoded", " Application/X-WWW-Form-Urlencoded ; charset=utf-8",
          "multipart/form-data; boundary=x"}) {
        CAPTURE(type);
        auto v = decide_wire_request(WireRequest{"POST", upload, {type}}, "docker.io",
                                     testing::acme().get(), "");
        CHECK_FALSE(v.allow);
        CHECK(v.cause == Cause::UnreadableRequest);
    }
    CHECK(decide_wire_request(WireRequest{"POST", upload, {"application/octet-stream"}},
                              "docker.io", testing::acme().get(), "")
              .allow);
    auto reading = read_wire_request(
        WireRequest{"POST", upload + "?mount=sha256:aa&fr%6Fm=x/y&from=a/b;from=c/d", {}});
    CHECK(reading.from == std::vector<std::string>{"x/y", "a/b", "c/d"});
    CHECK(reading.mount == std::vector<std::string>{"sha256:aa"});
}

TEST_CASE("gateway: what an allowed manifest pulled by digest named is part of that image") {
    const std::string pin = "sha256:" + std::string(64, 'a');
    auto text = testing::fixture("policies/acme.json");
    auto at = text.find("\"repositoryAllowlist\": [");
    REQUIRE(at != std::string::npos);
    text.insert(at + std::string_view("\"repositoryAllowlist\": [").size(),
                "\"docker.io/randomuser/tool@" + pin + "\", ");
    auto policy = testing::load(text);
    auto get = [&](std::string target, const NamedDigests *named) {
        return decide_wire_request(WireRequest{"GET", target, {}}, "docker.io", policy.get(), "",
                                   named);
    };
    auto manifest = get("/v2/randomuser/tool/manifests/" + pin, nullptr);
    CHECK(manifest.allow);
    CHECK(manifest.manifest_name == "docker.io/randomuser/tool");
    CHECK(manifest.manifest_digest == pin);
    CHECK_FALSE(get("/v2/randomuser/tool/manifests/latest", nullptr).allow);
    const std::string layer = "sha256:" + std::string(64, 'b');
    const std::string other = "sha256:" + std::string(64, 'c');
    CHECK_FALSE(get("/v2/randomuser/tool/blobs/" + layer, nullptr).allow);
    NamedDigests named;
    named.add("docker.io/randomuser/tool",
              digests_named_by_manifest(R"({"schemaVersion":2,"config":{"digest":")" + other +
                                        R"("},"layers":[{"digest":")" + layer + R"("}]})"),
              policy);
    CHECK(get("/v2/randomuser/tool/blobs/" + layer, &named).allow);
    CHECK(get("/v2/randomuser/tool/blobs/" + other, &named).allow);
    CHECK(get("/v2/randomuser/tool/manifests/" + layer, &named).allow); // an index's child
    // Only that repository, only those digests, only pulls.
    CHECK_FALSE(get("/v2/randomuser/other/blobs/" + layer, &named).allow);
    CHECK_FALSE(get("/v2/randomuser/tool/blobs/sha256:" + std::string(64, 'd'), &named).allow);
    CHECK_FALSE(get("/v2/randomuser/tool/manifests/latest", &named).allow);
    CHECK_FALSE(decide_wire_request(WireRequest{"PUT", "/v2/randomuser/tool/blobs/" + layer, {}},
                                    "docker.io", policy.get(), "", &named)
                    .allow);
    // Only under that very policy: one loaded anew with the same serial (a pin revoked without
    // a new serial) finds nothing, and a grant under it forgets the old ones.
    auto same_serial = testing::load(text);
    REQUIRE(same_serial->serial == policy->serial);
    CHECK_FALSE(decide_wire_request(WireRequest{"GET", "/v2/randomuser/tool/blobs/" + layer, {}},
                                    "docker.io", same_serial.get(), "", &named)
                    .allow);
    named.add("docker.io/randomuser/tool", {other}, same_serial);
    CHECK_FALSE(get("/v2/randomuser/tool/blobs/" + layer, &named).allow);
    NamedDigests expired(std::chrono::seconds(-1));
    expired.add("docker.io/randomuser/tool", {layer}, policy);
    CHECK_FALSE(get("/v2/randomuser/tool/blobs/" + layer, &expired).allow);
    // Index (manifests), schema 1 (fsLayers) and garbage.
    CHECK(
        digests_named_by_manifest(R"({"manifests":[{"digest":"sha256:1"},{"digest":"sha256:2"}]})")
            .size() == 2);
    CHECK(digests_named_by_manifest(R"({"fsLayers":[{"blobSum":"sha256:1"}]})").size() == 1);
    CHECK(digests_named_by_manifest("not json").empty());
}

TEST_CASE("gateway: CONNECT is decided by Registry Access Management") {
    CHECK_FALSE(decide_wire_connect("docker.io", testing::acme().get(), "").policy_denied);
    auto evil = decide_wire_connect("evil.example", testing::acme().get(), "");
    CHECK_FALSE(evil.allow);
    CHECK(evil.cause == Cause::Registry);
    CHECK(evil.message.find("Registry Access Management") != std::string::npos);
    CHECK_FALSE(decide_wire_connect("docker.io", nullptr, "").allow);
}

TEST_CASE("gateway: audit mode logs the denial and lets it through") {
    auto audit = acme_audit();
    auto v = decide_wire_request("GET", "/v2/randomuser/tool/manifests/latest", "docker.io",
                                 audit.get(), "");
    CHECK(v.allow);
    CHECK(v.policy_denied);
    auto c = decide_wire_connect("evil.example", audit.get(), "");
    CHECK(c.allow);
    CHECK(c.policy_denied);
}

TEST_CASE("gateway: the registry error body") {
    CHECK(registry_error_body("DENIED", "imagegate: \"x\"") ==
          R"({"errors":[{"code":"DENIED","message":"imagegate: \"x\""}]})");
}

TEST_CASE("gateway: wire hosts of registries") {
    CHECK(registry_wire_host("docker.io") == "registry-1.docker.io");
    CHECK(registry_of_wire_host("registry-1.docker.io") == "docker.io");
    CHECK(registry_of_wire_host("Index.Docker.IO:443") == "docker.io");
    CHECK(registry_of_wire_host("reg.example:5000") == "reg.example:5000");
    GatewayConfig config;
    auto registries = gateway_registries(config, testing::acme().get());
    CHECK(registries ==
          std::vector<std::string>{"docker.io", "ghcr.io", "registry.acme.example:5000"});
    config.registries = {"index.docker.io"};
    CHECK(gateway_registries(config, testing::acme().get()) ==
          std::vector<std::string>{"docker.io"});
}

TEST_CASE("http_wire: heads are read strictly") {
    auto ok = head_of("GET /v2/ HTTP/1.1\r\nHost: registry-1.docker.io\r\n\r\n");
    REQUIRE(ok);
    CHECK(ok->first == "GET");
    CHECK(*ok->find("host") == "registry-1.docker.io");
    CHECK_FALSE(head_of("GET /v2/ HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"));
    CHECK_FALSE(head_of("GET /v2/ HTTP/1.1\r\nBad Name: a\r\n\r\n"));
    CHECK_FALSE(head_of("GET /v2/ HTTP/2\r\n\r\n"));
    CHECK_FALSE(head_of("GET /v2/ HTTP/1.1\r\nA: b\rc\r\n\r\n"));
    CHECK(head_of("GET /v2/ HTTP/1.1\r\nHost: a\r\n").error().find("malformed") == 0);
    std::string flood = "GET /v2/ HTTP/1.1\r\n";
    for (int i = 0; i < 300; ++i)
        flood += "X-" + std::to_string(i) + ": y\r\n";
    CHECK(head_of(flood + "\r\n").error().find("too large") == 0);
    CHECK(head_of("GET /" + std::string(70000, 'a') + " HTTP/1.1\r\n\r\n")
              .error()
              .find("too large") == 0);
    auto response =
        head_of("HTTP/1.1 307 Temporary Redirect\r\nLocation: https://x/\r\n\r\n", true);
    REQUIRE(response);
    CHECK(response->status == 307);
}

TEST_CASE("http_wire: ambiguous framing is refused") {
    auto framing = [](std::string head) {
        auto h = head_of("PUT /v2/a/b/manifests/c HTTP/1.1\r\n" + head + "\r\n");
        REQUIRE(h);
        return request_framing(*h);
    };
    CHECK(framing("Content-Length: 5\r\n")->length == 5);
    CHECK(framing("Transfer-Encoding: chunked\r\n")->kind == Framing::Kind::Chunked);
    CHECK(framing("")->kind == Framing::Kind::None);
    CHECK_FALSE(framing("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"));
    CHECK_FALSE(framing("Content-Length: 5\r\nContent-Length: 6\r\n"));
    CHECK(framing("Content-Length: 5\r\nContent-Length: 5\r\n")->length == 5);
    CHECK_FALSE(framing("Content-Length: +5\r\n"));
    CHECK_FALSE(framing("Transfer-Encoding: gzip, chunked\r\n"));
    CHECK_FALSE(framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"));
}

TEST_CASE("http_wire: heads are written anew without hop-by-hop headers") {
    auto h = head_of("GET /v2/ HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\n"
                     "X-Secret: 1\r\nProxy-Authorization: p\r\nAuthorization: Bearer t\r\n"
                     "Expect: 100-continue\r\n\r\n");
    REQUIRE(h);
    std::string text = request_head_text(*h, Framing{Framing::Kind::Length, 0});
    CHECK(text == "GET /v2/ HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n"
                  "Content-Length: 0\r\n\r\n");
}

TEST_CASE("http_wire: an answer without a body keeps its Content-Length") {
    // dockerd's pull reads the manifest's size from the answer to HEAD ("missing or empty
    // Content-Length header" without it).
    auto h =
        head_of("HTTP/1.1 200 OK\r\nContent-Length: 528\r\nDocker-Content-Digest: d\r\n\r\n", true);
    REQUIRE(h);
    auto framing = response_framing(*h, "HEAD");
    REQUIRE(framing);
    CHECK(framing->kind == Framing::Kind::None);
    CHECK(response_head_text(*h, *framing, false) ==
          "HTTP/1.1 200 OK\r\nContent-Length: 528\r\nDocker-Content-Digest: d\r\n\r\n");
    auto get = response_framing(*h, "GET");
    REQUIRE(get);
    CHECK(get->kind == Framing::Kind::Length);
    CHECK(get->length == 528);
}

TEST_CASE("http_wire: a chunked body is relayed whole, trailers dropped") {
    Bytes in("5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT");
    int out[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, out) == 0);
    FdStream source(in.fds[0]), sink(out[1]);
    Reader reader(source);
    auto n = relay_body(reader, sink, Framing{Framing::Kind::Chunked, 0}, Millis(1000));
    REQUIRE(n);
    CHECK(*n == 5);
    ::shutdown(out[1], SHUT_WR);
    char buffer[256];
    ssize_t got = ::read(out[0], buffer, sizeof buffer);
    CHECK(std::string(buffer, static_cast<std::size_t>(got)) == "5\r\nhello\r\n0\r\n\r\n");
    char next[4];
    CHECK(reader.read_some(next, 4, Millis(1000)) == 4);
    ::close(out[0]);
    ::close(out[1]);
}

TEST_CASE("gateway CA: name constraints, key permissions, a new CA when the hosts change") {
    std::string dir = std::filesystem::temp_directory_path() / ("igca." + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    auto made = ensure_gateway_ca(dir, {"docker.io", "ghcr.io"});
    REQUIRE(made);
    CHECK(made->created);
    CHECK(made->hosts == std::vector<std::string>{"ghcr.io", "registry-1.docker.io"});
    struct stat st {};
    REQUIRE(::stat((dir + "/ca.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(std::filesystem::exists(dir + "/trust/imagegate-gateway-ca.pem"));

    auto again = ensure_gateway_ca(dir, {"ghcr.io", "docker.io"});
    REQUIRE(again);
    CHECK_FALSE(again->created);
    CHECK(again->cert_pem == made->cert_pem);

    auto minter = LeafMinter::load(dir);
    REQUIRE(minter);
    CHECK((*minter)->permits("registry-1.docker.io"));
    CHECK_FALSE((*minter)->permits("evil.example"));
    CHECK((*minter)->server_context("ghcr.io"));
    CHECK_FALSE((*minter)->server_context("evil.example"));

    auto changed = ensure_gateway_ca(dir, {"docker.io"});
    REQUIRE(changed);
    CHECK(changed->created);

    ::chmod((dir + "/ca.key").c_str(), 0644);
    auto loose = ensure_gateway_ca(dir, {"docker.io"});
    REQUIRE_FALSE(loose);
    CHECK(loose.error().find(dir + "/ca.key") != std::string::npos);
    CHECK(loose.error().find("0644") != std::string::npos);
    CHECK_FALSE(LeafMinter::load(dir));
    std::filesystem::remove_all(dir);
}
