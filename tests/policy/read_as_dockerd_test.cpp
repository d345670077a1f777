// Issue 16: imagegate reads a request as dockerd's Go code does. These pin each fix with the
// request that got past it; tests/oracle (the differential test against dockerd's own code)
// covers the spellings nobody lists by hand.
#include "policy/classify.hpp"
#include "policy/decide.hpp"
#include "policy/go_http.hpp"

#include <doctest/doctest.h>

using namespace imagegate;

namespace {
AuthzRequest request(std::string method, std::string uri, std::string body,
                     std::string content_type = "application/json",
                     std::string content_length = "") {
    AuthzRequest r;
    r.method = std::move(method);
    r.uri = std::move(uri);
    r.body = std::move(body);
    if (!content_type.empty())
        r.headers["content-type"] = content_type;
    if (content_length.empty() && !r.body.empty())
        content_length = std::to_string(r.body.size());
    if (!content_length.empty())
        r.headers["content-length"] = content_length;
    return r;
}

// unicode.IsSpace: every rune Go's strings.TrimSpace removes.
const char *const kGoSpaces[] = {
    " ",      "\t",     "\n",     "\v",     "\f",     "\r",     "\u0085", "\u00a0", "\u1680",
    "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008",
    "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"};
} // namespace

TEST_CASE("media types are read as Go's mime.ParseMediaType reads them") {
    for (const char *space : kGoSpaces) {
        CAPTURE(space);
        auto before = go_parse_media_type(std::string(space) + "application/x-www-form-urlencoded");
        CHECK(before.type == "application/x-www-form-urlencoded");
        CHECK_FALSE(before.error);
        auto after = go_parse_media_type(std::string("application/json") + space);
        CHECK(after.type == "application/json");
        CHECK_FALSE(after.error);
        auto both = go_parse_media_type(std::string(space) + "application/json" + space +
                                        "; charset=utf-8");
        CHECK(both.type == "application/json");
        CHECK_FALSE(both.error);
    }
    struct Row {
        std::string value, type;
        bool error;
    } rows[] = {
        // each row as Go 1.19's mime.ParseMediaType answers it
        {"APPL\u0130CATION/JSON", "application/json", false}, // U+0130 lower-cases to i
        {"appl\u0130cation/x-www-form-urlencoded", "application/x-www-form-urlencoded", false},
        {"multipart/form-data; boundary=\u212a", "multipart/form-data", true}, // a value is ASCII
        {"application/js\u212aon", "application/jskon", false},
        {"x/\u212aey", "x/key", false},       // U+212A lower-cases to k
        {"\u200bapplication/json", "", true}, // zero-width space is not a space to Go
        {"application/json\u180e", "", true}, // nor U+180E (Unicode 13)
        {"application/json\xff", "", true},   // invalid UTF-8
        {"", "", true},
        {"application", "application", false}, // a type without subtype is fine
        {"application/json/x", "", true},
        {"text/plain; =x", "text/plain", true}, // bad parameter: type and error
        {"application/x-www-form-urlencoded; a=\"open", "application/x-www-form-urlencoded", true},
        {"application/json; a=1; a=2", "", true}, // duplicate parameter: "" and error
        {"application/json; a*=1; a*=2", "", true},
        {"application/json; a=1; a*=2", "application/json", false}, // different names to Go
        {"application/json;", "application/json", false}, // a trailing semicolon is no error
        {"application/json;;", "application/json", true},
        {"application/json ; charset=\"utf-8\"", "application/json", false},
        {"application/json; charset=\"a\\\"b\"", "application/json", false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.value);
        auto m = go_parse_media_type(row.value);
        CHECK(m.type == row.type);
        CHECK(m.error == row.error);
    }
}

TEST_CASE("a form body Go would read is refused, however its type is spelled") {
    const std::string uri = "/v1.41/images/create?fromImage=alpine&tag=latest";
    for (std::string type :
         {"application/x-www-form-urlencoded\u00a0", "\u0085application/x-www-form-urlencoded",
          "APPLICATION/X-WWW-FORM-URLENCODED", "appl\u0130cation/x-www-form-urlencoded",
          "application/x-www-form-urlencoded; =x", "multipart/form-data; boundary=XX"}) {
        CAPTURE(type);
        // The body is not JSON, so dockerd does not show it: the plugin sees its length only.
        auto c = classify_request(request("POST", uri, "", type, "37"));
        REQUIRE_FALSE(c);
        CHECK(c.error().find("form-encoded") != std::string::npos);
        auto put = request("PUT", "/v1.41/containers/x/archive?path=/tmp", "", type, "10");
        CHECK_FALSE(classify_request(put));
    }
}

TEST_CASE("a body dockerd does not show is denied where dockerd may read it") {
    // Pre-1.24 start: dockerd decodes a HostConfig from a JSON body over 1 MiB it never shows.
    for (std::string type :
         {"application/json\u00a0", "APPL\u0130CATION/JSON", "application/json"}) {
        CAPTURE(type);
        CHECK_FALSE(
            classify_request(request("POST", "/v1.23/containers/st2/start", "", type, "1100000")));
    }
    // Chunked (no Content-Length), behind a second Content-Type header the plugin is not shown.
    CHECK_FALSE(classify_request(request("POST", "/v1.23/containers/st2/start", "", "text/plain")));
    CHECK_FALSE(classify_request(
        request("POST", "/v1.41/images/create?fromImage=alpine", "", "text/plain", "40")));
    CHECK_FALSE(
        classify_request(request("POST", "/v1.41/containers/create", "", "text/plain", "400")));
    // Body-less requests as the docker CLI and curl send them.
    CHECK(classify_request(
        request("POST", "/v1.41/images/create?fromImage=alpine", "", "text/plain", "0")));
    CHECK(classify_request(request("POST", "/v1.41/images/create?fromImage=alpine", "", "")));
    CHECK(classify_request(request("POST", "/v1.41/containers/st2/start", "", "text/plain", "0")));
    // Raw bodies that are never JSON: a build context, an import, a load, docker cp.
    CHECK(classify_request(
        request("POST", "/v1.41/build?t=acme/x", "", "application/x-tar", "10240")));
    CHECK(classify_request(request("POST", "/v1.41/images/create?fromSrc=-&repo=acme/imp", "",
                                   "application/x-tar", "10240")));
    CHECK(
        classify_request(request("POST", "/v1.41/images/load", "", "application/x-tar", "10240")));
    CHECK(classify_request(
        request("PUT", "/v1.41/containers/x/archive?path=/tmp", "", "application/x-tar", "10240")));
}

TEST_CASE("an object that repeats a key is refused: Go applies both, Boost keeps the last") {
    for (std::string body :
         {R"({"Image":"alpine","HostConfig":{"Privileged":true,"Privileged":null}})",
          R"({"Image":"alpine","HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}})",
          R"({"Image":"randomdev/tool","Image":null})"}) {
        CAPTURE(body);
        auto c = classify_request(request("POST", "/v1.41/containers/create", body));
        REQUIRE_FALSE(c);
        CHECK(c.error().find("given twice") != std::string::npos);
    }
    CHECK_FALSE(classify_request(
        request("POST", "/v1.41/containers/x/exec", R"({"User":"0","User":null,"Cmd":["sh"]})")));
}

TEST_CASE("every mount's volume options are read, whatever the number of keys and mounts") {
    const std::string padding =
        R"("NoCopy":false,"Labels":{},"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6)";
    const std::string plain =
        R"({"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{)" + padding + "}}";
    const std::string bind_root =
        R"({"Type":"volume","Source":"w","Target":"/w","VolumeOptions":{)" + padding +
        R"(,"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}})";
    for (int count : {2, 3, 5}) {
        for (int at = 0; at < count; ++at) {
            std::string mounts;
            for (int i = 0; i < count; ++i)
                mounts += (i ? "," : "") + (i == at ? bind_root : plain);
            CAPTURE(count);
            CAPTURE(at);
            auto create = classify_request(
                request("POST", "/v1.41/containers/create",
                        R"({"Image":"alpine","HostConfig":{"Mounts":[)" + mounts + "]}}"));
            REQUIRE(create);
            REQUIRE(create->container);
            bool root = false;
            for (const auto &m : create->container->mounts)
                root |= m.host_path == "/";
            CHECK(root);
            auto service = classify_request(
                request("POST", "/v1.41/services/create",
                        R"({"TaskTemplate":{"ContainerSpec":{"Image":"alpine","Mounts":[)" +
                            mounts + "]}}}"));
            REQUIRE(service);
            root = false;
            for (const auto &m : service->container->mounts)
                root |= m.host_path == "/";
            CHECK(root);
        }
    }
}

TEST_CASE("networks named by name, ID or prefix are resolved by the decision") {
    auto networks = [](const std::string &method, const std::string &uri, const std::string &body) {
        auto c = classify_request(request(method, uri, body));
        REQUIRE(c);
        REQUIRE(c->container);
        return *c->container;
    };
    auto s = networks(
        "POST", "/v1.41/services/create",
        R"({"TaskTemplate":{"ContainerSpec":{"Image":"alpine"},"Networks":[{"Target":"4f2a9c"}]}})");
    CHECK(s.networks == std::vector<std::string>{"4f2a9c"});
    s = networks(
        "POST", "/v1.41/services/create",
        R"({"TaskTemplate":{"ContainerSpec":{"Image":"alpine"}},"Networks":[{"Target":"host"}]})");
    CHECK(s.host_network);
    // An update without a ContainerSpec still moves the tasks to the network it names.
    s = networks("POST", "/v1.41/services/web/update?version=3",
                 R"({"Networks":[{"Target":"4f2a"}],"TaskTemplate":{}})");
    CHECK(s.networks == std::vector<std::string>{"4f2a"});
    s = networks(
        "POST", "/v1.41/containers/create",
        R"({"Image":"alpine","HostConfig":{"NetworkMode":"4f2a9c"},"NetworkingConfig":{"EndpointsConfig":{"e81b":{}}}})");
    CHECK(s.networks == std::vector<std::string>{"4f2a9c", "e81b"});
    s = networks("POST", "/v1.41/networks/4f2a9c/connect", R"({"Container":"web"})");
    CHECK(s.networks == std::vector<std::string>{"4f2a9c"});
    auto build = classify_request(
        request("POST", "/v1.41/build?networkmode=4f2a9c", "", "application/x-tar", "1024"));
    REQUIRE(build);
    REQUIRE(build->container);
    CHECK(build->container->networks == std::vector<std::string>{"4f2a9c"});
    // Built-in modes are no network to look up.
    auto plain =
        classify_request(request("POST", "/v1.41/containers/create",
                                 R"({"Image":"alpine","HostConfig":{"NetworkMode":"bridge"}})"));
    REQUIRE(plain);
    CHECK(plain->container->networks.empty());
}

TEST_CASE("a network that names the host network is the host network; unknown means denied") {
    auto load = load_policy(R"({"organization":"acme","serial":1,"defaultRoles":["Reader","Writer"],
        "hardening":{"hostNetwork":"restricted"}})",
                            false);
    REQUIRE(load.policy);
    DecisionContext ctx;
    ctx.policy = &*load.policy;
    auto create = request(
        "POST", "/v1.41/services/create",
        R"({"TaskTemplate":{"ContainerSpec":{"Image":"alpine","User":"1000"},"Networks":[{"Target":"4f2a9c"}]}})");
    // No way to ask dockerd: denied.
    CHECK_FALSE(decide_request(create, ctx).allow);
    std::vector<std::string> asked;
    ctx.facts.host_networks =
        [&](const std::vector<std::string> &names) -> std::optional<std::vector<std::string>> {
        asked = names;
        return std::vector<std::string>{"4f2a9c"};
    };
    Decision d = decide_request(create, ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("names the host network") != std::string::npos);
    CHECK(asked == std::vector<std::string>{"4f2a9c"});
    ctx.facts.host_networks =
        [](const std::vector<std::string> &) -> std::optional<std::vector<std::string>> {
        return std::vector<std::string>{};
    };
    CHECK(decide_request(create, ctx).allow);
    ctx.facts.host_networks =
        [](const std::vector<std::string> &) -> std::optional<std::vector<std::string>> {
        return std::nullopt;
    };
    CHECK_FALSE(decide_request(create, ctx).allow);
}

TEST_CASE("a start body dockerd ignores is ignored; Content-Length is a number") {
    // postContainersStart reads a body only when Content-Length > 7 (or chunked).
    CHECK(classify_request(
        request("POST", "/v1.41/containers/web/start", "null", "application/json", "4")));
    CHECK(classify_request(
        request("POST", "/v1.23/containers/web/start", "[]", "application/json", "2")));
    auto old =
        classify_request(request("POST", "/v1.23/containers/web/start", R"({"Privileged":true})"));
    REQUIRE(old);
    REQUIRE(old->container);
    CHECK(old->container->privileged);
    // "00" is 0 to Go: a body-less request, not a hidden body.
    CHECK(classify_request(
        request("POST", "/v1.41/images/create?fromImage=alpine", "", "text/plain", "00")));
    CHECK_FALSE(classify_request(
        request("POST", "/v1.41/images/create?fromImage=alpine", "", "text/plain", "01")));
}

TEST_CASE("a service's SELinux labels are security options, as swarm's executor makes them") {
    auto c = classify_request(request(
        "POST", "/v1.41/services/create",
        R"({"TaskTemplate":{"ContainerSpec":{"Image":"alpine","Privileges":{"SELinuxContext":{"Type":"spc_t"}}}}})"));
    REQUIRE(c);
    REQUIRE(c->container);
    CHECK(c->container->security_options == std::vector<std::string>{"label=type:spc_t"});
}

TEST_CASE("creating, joining or changing a swarm needs the Manager role") {
    auto load = load_policy(
        R"({"organization":"acme","serial":1,"defaultRoles":["Reader","Writer"]})", false);
    REQUIRE(load.policy);
    DecisionContext ctx;
    ctx.policy = &*load.policy;
    for (std::string uri : {"/v1.41/swarm/init", "/v1.41/swarm/join",
                            "/v1.41/swarm/update?version=3", "/v1.41/nodes/abc/update?version=2"}) {
        CAPTURE(uri);
        auto r = request("POST", uri, R"({"ListenAddr":"0.0.0.0:2377"})");
        Decision d = decide_request(r, ctx);
        CHECK_FALSE(d.allow);
        CHECK(d.message.find("Manager role") != std::string::npos);
    }
    auto leave = request("POST", "/v1.41/swarm/leave?force=1", "", "text/plain", "0");
    CHECK(decide_request(leave, ctx).allow);
    auto managers =
        load_policy(R"({"organization":"acme","serial":2,"defaultRoles":["Manager"]})", false);
    REQUIRE(managers.policy);
    ctx.policy = &*managers.policy;
    CHECK(decide_request(request("POST", "/v1.41/swarm/init", R"({"ListenAddr":"0.0.0.0:2377"})"),
                         ctx)
              .allow);
}
