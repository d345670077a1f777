#include "policy/classify.hpp"

#include <doctest/doctest.h>

using namespace imagegate;

namespace {
AuthzRequest request(std::string method, std::string uri, std::string body = "") {
    AuthzRequest r;
    r.method = std::move(method);
    r.uri = std::move(uri);
    r.body = std::move(body);
    if (!r.body.empty())
        r.headers["content-type"] = "application/json";
    return r;
}
std::string refs(const ClassifiedRequest &c) {
    std::string out;
    for (const auto &i : c.images)
        out += (out.empty() ? "" : ",") + i.reference;
    return out;
}
} // namespace

TEST_CASE("every row of the README's 'What it decides' table maps to its action and references") {
    struct Row {
        std::string method, uri, body;
        Action action;
        std::string refs;
    } rows[] = {
        {"POST", "/images/create?fromImage=alpine&tag=3.19", "", Action::Pull, "alpine:3.19"},
        {"POST", "/v1.41/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=3.19", "",
         Action::Pull, "docker.io/library/alpine:3.19"},
        {"POST", "/v1.41/images/create?tag=3.19&fromImage=alpine", "", Action::Pull, "alpine:3.19"},
        {"POST", "/v1.41/images/create?fromImage=alpine%3A3.19", "", Action::Pull, "alpine:3.19"},
        {"POST", "/v1.41/images/create?fromImage=alpine&tag=sha256%3Aabc", "", Action::Pull,
         "alpine@sha256:abc"},
        {"POST", "/v1.41/images/create?fromImage=alpine:", "", Action::Pull, "alpine"},
        {"POST", "/v1.41/images/create?fromImage=alpine%3A3.1&tag=3.19", "", Action::Pull,
         "alpine:3.19"},
        {"POST", "/v1.41/images/create?fromImage=localhost:5000/a:1&tag=2", "", Action::Pull,
         "localhost:5000/a:2"},
        {"POST", "/v1.41/images/create?fromImage=alpine&fromImage=alpine", "", Action::Pull,
         "alpine"},
        {"POST", "/plugins/pull?remote=vieux%2Fsshfs&name=sshfs", "", Action::Pull, "vieux/sshfs"},
        {"POST", "/v1.41/plugins/sshfs:latest/upgrade?remote=vieux/sshfs:next", "", Action::Pull,
         "vieux/sshfs:next"},
        {"POST", "/services/create",
         R"({"TaskTemplate":{"ContainerSpec":{"Image":"someone/tool"}}})", Action::Pull,
         "someone/tool"},
        {"POST", "/v1.41/services/abc/update?version=3",
         R"({"TaskTemplate":{"ContainerSpec":{"Image":"alpine"}}})", Action::Pull, "alpine"},
        {"POST", "/v1.41/containers/create?name=x", R"({"Image":"someone/tool"})", Action::Run,
         "someone/tool"},
        {"POST", "/containers/create", R"({"image":"alpine"})", Action::Run, "alpine"},
        {"POST", "/v1.41/images/docker.io/acme/app/push?tag=1", "", Action::Push,
         "docker.io/acme/app:1"},
        {"POST", "/v1.41/images/alpine/tag?repo=acme%2Falpine&tag=2", "", Action::Tag,
         "alpine,acme/alpine:2"},
        {"DELETE", "/v1.41/images/someone/tool:latest", "", Action::Delete, "someone/tool:latest"},
        {"GET", "/v1.41/images/alpine/json", "", Action::Inspect, "alpine"},
        {"GET", "/images/alpine/history", "", Action::Inspect, "alpine"},
        {"GET", "/v1.41/distribution/docker.io/library/alpine/json", "", Action::Inspect,
         "docker.io/library/alpine"},
        {"GET", "/v1.41/images/json?all=1", "", Action::List, ""},
        {"GET", "/images/search?term=x", "", Action::List, ""},
        {"POST", "/v1.41/images/create?fromSrc=-&repo=acme%2Fimported&tag=1", "", Action::Import,
         "acme/imported:1"},
        {"POST", "/v1.41/images/load?quiet=1", "", Action::Import, ""},
        {"POST", "/v1.41/commit?container=abc&repo=acme/snap&tag=2", "", Action::Import,
         "acme/snap:2"},
        {"POST", "/v1.41/build?t=acme/a:1&t=acme/b:2", "", Action::Build, "acme/a:1,acme/b:2"},
        {"GET", "/_ping", "", Action::Other, ""},
        {"GET", "/v1.41/containers/json", "", Action::Other, ""},
        {"POST", "http://docker/v1.41/images/create?fromImage=alpine", "", Action::Pull, "alpine"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.uri);
        auto c = classify_request(request(row.method, row.uri, row.body));
        REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error()));
        CHECK(c->action == row.action);
        CHECK(refs(c.value()) == row.refs);
    }
}

TEST_CASE("requests that cannot be read safely are refused") {
    struct Row {
        std::string method, uri, message;
        std::string content_type = "", body = "", content_length = "";
    } rows[] = {
        {"POST", "/v1.41//images/create?fromImage=x",
         "request path \"/v1.41//images/create\" has empty, '.' or '..' segments"},
        {"POST", "/v1.41/images/../containers/create",
         "request path \"/v1.41/images/../containers/create\" has empty, '.' or '..' segments"},
        {"POST", "/v1.41/images/%2e%2e/containers/create",
         "request path \"/v1.41/images/../containers/create\" has empty, '.' or '..' segments"},
        {"POST", "/v1.41/images/create?fromImage=a%zz",
         "request query: query is not cleanly percent-encoded"},
        {"POST", "/v1.41/images/create?fromImage=someone/tool;x=1",
         "request query: query contains ';'"},
        {"POST", "/v1.41/images/create?fromImage=alpine&fromImage=someone/tool",
         "query parameter \"fromImage\" is repeated with different values"},
        {"POST", "/v1.41/containers/create?x=/auth",
         "request URI ends in \"/auth\" but its path is not /auth"},
        {"POST", "/v1.41/containers/create",
         "JSON request arrived without its body (chunked or withheld by dockerd)",
         "application/json"},
        {"POST", "/v1.41/containers/create", "POST /containers/create arrived with an empty body"},
        {"POST", "/v1.41/containers/create",
         "form-encoded POST bodies are refused: dockerd would read parameters imagegate cannot see "
         "(Content-Type \"application/x-www-form-urlencoded\" reads as "
         "application/x-www-form-urlencoded)",
         "application/x-www-form-urlencoded"},
        {"POST", "/v1.41/containers/create",
         "JSON request body of 1 MiB or more: dockerd does not show it to plugins",
         "application/json", "{}", "1048576"},
        {"POST", "/v1.41/containers/create", "request body is not valid JSON: incomplete JSON",
         "application/json", "{\"Image\":"},
        {"POST", "/v1.41/containers/create", "JSON key \"image\" is given more than once",
         "application/json", R"({"Image":"alpine","image":"someone/tool"})"},
        {"POST", "/v1.41/containers/create", "container create names no image", "application/json",
         R"({"Cmd":["sh"]})"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.uri);
        AuthzRequest r = request(row.method, row.uri);
        r.body = row.body;
        if (!row.content_type.empty())
            r.headers["content-type"] = row.content_type;
        if (!row.content_length.empty())
            r.headers["content-length"] = row.content_length;
        auto c = classify_request(r);
        REQUIRE_FALSE(c.ok());
        CHECK(c.error() == row.message);
    }
}

TEST_CASE("container settings are read as dockerd's Go decoder reads them") {
    SUBCASE("top-level HostConfig fields count (ContainerConfigWrapper embeds *HostConfig)") {
        auto c = classify_request(
            request("POST", "/containers/create",
                    R"({"Image":"alpine","Binds":["/etc:/x"],"Privileged":true})"));
        REQUIRE(c.ok());
        REQUIRE(c->container);
        CHECK(c->container->privileged);
        REQUIRE(c->container->mounts.size() == 1);
        CHECK(c->container->mounts[0].host_path == "/etc");
    }
    SUBCASE("keys fold case and U+017F as Go does") {
        auto c = classify_request(
            request("POST", "/containers/create",
                    "{\"Image\":\"alpine\",\"hostconfig\":{\"Bind\xC5\xBF\":[\"/:/h\"]}}"));
        REQUIRE(c.ok());
        REQUIRE(c->container->mounts.size() == 1);
        CHECK(c->container->mounts[0].host_path == "/");
    }
    SUBCASE("mounts, volumes with bind options, namespaces, capabilities") {
        auto c = classify_request(
            request("POST", "/containers/create", R"({"Image":"alpine","HostConfig":{
            "Mounts":[{"Type":"bind","Source":"/run","Target":"/r"},
                      {"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/etc"}}}}],
            "PidMode":"host","NetworkMode":"host","CapAdd":["SYS_ADMIN"],"SecurityOpt":["seccomp=unconfined","no-new-privileges"],
            "Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda"}],"Sysctls":{"kernel.core_pattern":"x","net.ipv4.ip_forward":"1"}}})"));
        REQUIRE(c.ok());
        const auto &s = *c->container;
        REQUIRE(s.mounts.size() == 2);
        CHECK(s.mounts[0].host_path == "/run");
        CHECK(s.mounts[1].host_path == "/etc");
        CHECK(s.host_namespaces == std::vector<std::string>{"pid"});
        CHECK(s.host_network);
        CHECK(s.cap_add == std::vector<std::string>{"SYS_ADMIN"});
        CHECK(s.security_options == std::vector<std::string>{"seccomp=unconfined"});
        CHECK(s.devices == std::vector<std::string>{"/dev/sda"});
        CHECK(s.sysctls == std::vector<std::string>{"kernel.core_pattern", "net.ipv4.ip_forward"});
    }
    SUBCASE("an old API start with a HostConfig body") {
        auto c = classify_request(
            request("POST", "/v1.23/containers/abc/start", R"({"Binds":["/:/host"]})"));
        REQUIRE(c.ok());
        REQUIRE(c->container);
        CHECK(c->container->mounts.size() == 1);
    }
}

TEST_CASE("a body list longer than 4096 items is refused, and the message says why") {
    std::string many;
    for (int i = 0; i < 4097; ++i)
        many += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
    auto strings = classify_request(
        request("POST", "/containers/create",
                R"({"Image":"alpine","HostConfig":{"VolumesFrom":[)" + many + "]}}"));
    REQUIRE_FALSE(strings);
    CHECK(strings.error() ==
          "request body field \"volumesfrom\" is not an array of at most 4096 items");
    auto objects = classify_request(request(
        "POST", "/containers/create",
        R"({"Image":"alpine","HostConfig":{"Mounts":[)" + std::string(4096 * 3, ' ') + "{}" +
            [] {
                std::string s;
                for (int i = 0; i < 4096; ++i)
                    s += ",{}";
                return s;
            }() +
            "]}}"));
    REQUIRE_FALSE(objects);
    CHECK(objects.error() == "request body field \"mounts\" is not an array of at most 4096 items");
    std::string fine;
    for (int i = 0; i < 4096; ++i)
        fine += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
    CHECK(classify_request(
        request("POST", "/containers/create",
                R"({"Image":"alpine","HostConfig":{"VolumesFrom":[)" + fine + "]}}")));
}

// The route table (docs/reading-requests.md, "The route table"); tests/oracle/routes.go holds
// it against every route dockerd registers.
TEST_CASE("the route table's patterns keep to the grammar its matcher reads as gorilla/mux does") {
    auto table = route_table();
    CHECK(table.size() >= 45);
    for (const auto &route : table) {
        CAPTURE(route);
        auto space = route.find(' ');
        REQUIRE(space != std::string::npos);
        std::string pattern = route.substr(space + 1);
        REQUIRE(pattern.starts_with("/"));
        int greedy = 0;
        for (std::size_t open = pattern.find('{'); open != std::string::npos;
             open = pattern.find('{', open + 1)) {
            auto close = pattern.find('}', open);
            REQUIRE(close != std::string::npos);
            std::string spec = pattern.substr(open + 1, close - open - 1);
            auto colon = spec.find(':');
            std::string re = colon == std::string::npos ? "" : spec.substr(colon + 1);
            CHECK((re.empty() || re == ".*" || re == ".+"));
            greedy += !re.empty();
            CHECK((close + 1 == pattern.size() || pattern[close + 1] == '/'));
        }
        CHECK(greedy <= 1);
    }
}

TEST_CASE("routes are matched as dockerd's router matches them") {
    struct Row {
        std::string method, uri, route;
    } rows[] = {
        {"HEAD", "/v1.41/containers/x/archive?path=/", "HEAD /containers/{name:.*}/archive"},
        {"GET", "/containers/a/b/archive", "GET /containers/{name:.*}/archive"},
        {"post", "/v1.23/containers/x/copy", "POST /containers/{name:.*}/copy"},
        {"POST", "/v1.12/containers/x/copy", "POST /containers/{name:.*}/copy"},
        {"POST", "/containers/x/copy", "POST /containers/{name:.*}/copy"},
        {"POST", "/containers/x/copy/", ""}, // mux: no route (no strict slash)
        {"GET", "/containers/x/copy", ""},
        {"HEAD", "/containers/x/json", ""}, // mux matches methods exactly
        {"POST", "/containers/copy", ""},
        {"POST", "/containers/x%0A/copy", ""}, // Go's '.' does not match a newline
        {"POST", "/services/a/update", "POST /services/{id}/update"},
        {"POST", "/services/a/b/update", ""}, // {id} is one segment
        {"DELETE", "/containers/x/checkpoints/c",
         "DELETE /containers/{name}/checkpoints/{checkpoint}"},
        {"DELETE", "/containers/x/y/checkpoints/c", ""}, // DELETE /containers/{name:.*}: other
        {"GET", "/v1.41/containers/x/checkpoints", "GET /containers/{name:.*}/checkpoints"},
        {"DELETE", "/images/", "DELETE /images/{name:.*}"}, // {name:.*} may be empty
        {"DELETE", "/images/a/b:1", "DELETE /images/{name:.*}"},
        {"GET", "/images/json", "GET /images/json"},
        {"GET", "/images/json/json", "GET /images/{name:.*}/json"},
        {"OPTIONS", "/containers/x/copy", ""},
        {"GET", "/debug/pprof/heap", ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.method);
        CAPTURE(row.uri);
        auto route = route_of(row.method, row.uri);
        REQUIRE_MESSAGE(route.ok(), (route.ok() ? "" : route.error()));
        CHECK(route.value() == row.route);
    }
    auto refused = route_of("POST", "/v1.23/containers//copy");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().find("empty, '.' or '..' segments") != std::string::npos);
}

TEST_CASE(
    "docker cp's deprecated POST /containers/{id}/copy enters the container as archive does") {
    for (const char *uri : {"/v1.23/containers/admin/copy", "/v1.12/containers/admin/copy",
                            "/containers/admin/copy", "/v1.41/containers/admin/copy"}) {
        CAPTURE(uri);
        auto copy = classify_request(request("POST", uri, R"({"Resource":"/hostsecret/shadow"})"));
        REQUIRE_MESSAGE(copy.ok(), (copy.ok() ? "" : copy.error()));
        CHECK(copy->entered_container == "admin");
        CHECK(copy->action == Action::Other);
        CHECK(copy->images.empty());
        CHECK_FALSE(copy->container);
    }
    for (const char *method : {"GET", "HEAD"}) {
        auto archive =
            classify_request(request(method, "/v1.41/containers/admin/archive?path=/hostsecret"));
        REQUIRE(archive.ok());
        CHECK(archive->entered_container == "admin");
    }
    // A name holding '/' is dockerd's {name:.*} too.
    auto nested = classify_request(request("POST", "/v1.23/containers/a/b/copy", "{}"));
    REQUIRE(nested.ok());
    CHECK(nested->entered_container == "a/b");
}

TEST_CASE("a checkpoint directory the client names is a host path (experimental dockerd)") {
    auto list = classify_request(request("GET", "/v1.41/containers/c/checkpoints?dir=/etc"));
    REQUIRE(list.ok());
    REQUIRE(list->container);
    REQUIRE(list->container->mounts.size() == 1);
    CHECK(list->container->mounts[0].host_path == "/etc");
    CHECK(list->container->devices.size() == 1);
    CHECK(list->entered_container.empty());

    auto own = classify_request(request("GET", "/v1.41/containers/c/checkpoints"));
    REQUIRE(own.ok());
    CHECK_FALSE(own->container);

    auto create =
        classify_request(request("POST", "/v1.41/containers/c/checkpoints",
                                 R"({"CheckpointID":"c1","checkpointdir":"/var/lib/docker"})"));
    REQUIRE(create.ok());
    REQUIRE(create->container);
    CHECK(create->container->mounts[0].host_path == "/var/lib/docker");
    CHECK(create->entered_container == "c"); // CRIU dumps the container's memory

    // dockerd decodes the body even when it does not show it (no CheckForJSON).
    auto unseen = classify_request(request("POST", "/v1.41/containers/c/checkpoints"));
    REQUIRE_FALSE(unseen);
    CHECK(unseen.error() == "POST /containers/c/checkpoints arrived with an empty body");

    auto remove =
        classify_request(request("DELETE", "/v1.41/containers/c/checkpoints/lib?dir=/var"));
    REQUIRE(remove.ok());
    REQUIRE(remove->container);
    CHECK(remove->container->mounts[0].host_path == "/var/lib"); // os.RemoveAll(DIR/CHECKPOINT)
    auto remove_own = classify_request(request("DELETE", "/v1.41/containers/c/checkpoints/lib"));
    REQUIRE(remove_own.ok());
    CHECK_FALSE(remove_own->container);
}

TEST_CASE("a plugin name with '..' is refused wherever a request names a driver") {
    // dockerd dials /run/docker/plugins/NAME.sock for a name that is no plugin reference: with
    // "..", a socket any local user may serve, a volume driver that mounts "/" (issue 26 review).
    const std::string evil = "../../../tmp/evil";
    struct Row {
        std::string uri, body, field;
    } rows[] = {
        {"/v1.41/volumes/create", R"({"Name":"v","Driver":")" + evil + R"("})", "Driver"},
        {"/v1.41/containers/create",
         R"({"Image":"alpine","HostConfig":{"VolumeDriver":")" + evil + R"("}})",
         "HostConfig.VolumeDriver"},
        {"/v1.41/containers/create", R"({"Image":"alpine","VolumeDriver":")" + evil + R"("})",
         "HostConfig.VolumeDriver"},
        {"/v1.41/containers/create",
         R"({"Image":"alpine","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/h",)"
         R"("VolumeOptions":{"DriverConfig":{"Name":")" +
             evil + R"("}}}]}})",
         "Mounts.VolumeOptions.DriverConfig.Name"},
        {"/v1.41/containers/create",
         R"({"Image":"alpine","HostConfig":{"LogConfig":{"Type":"a/../../b"}}})",
         "HostConfig.LogConfig.Type"},
        {"/v1.41/networks/create", R"({"Name":"n","Driver":")" + evil + R"("})", "Driver"},
        {"/v1.41/networks/create", R"({"Name":"n","IPAM":{"Driver":")" + evil + R"("}})",
         "IPAM.Driver"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.body);
        auto c = classify_request(request("POST", row.uri, row.body));
        REQUIRE_FALSE(c.ok());
        CHECK(c.error().find("\"" + row.field + "\" names the plugin") != std::string::npos);
    }
    // Plugin references and the built-in drivers still pass.
    for (std::string body : {R"({"Name":"v","Driver":"local"})", R"({"Name":"v"})",
                             R"({"Name":"v","Driver":"vieux/sshfs:latest"})"})
        CHECK(classify_request(request("POST", "/v1.41/volumes/create", body)).ok());
    CHECK(classify_request(request("POST", "/v1.41/networks/create",
                                   R"({"Name":"n","Driver":"bridge","IPAM":{"Driver":"default"}})"))
              .ok());
}

TEST_CASE("top's ps_args may hold options only: no column relabelled as PID") {
    // dockerd keeps the ps lines whose "PID" column is the container's; with `f`, `ps -q`
    // fails and it lists every host process: "-ovsz=PID" would let host processes through.
    for (std::string args :
         {"-ovsz%3DPID,user,args%20-e%20e%20f", "-o%20vsz:PID", "aux%3B", "-o%20pid,args%0A"}) {
        CAPTURE(args);
        auto c = classify_request(request("GET", "/v1.41/containers/c/top?ps_args=" + args));
        REQUIRE_FALSE(c.ok());
        CHECK(c.error().find("ps_args") != std::string::npos);
    }
    for (std::string uri : {"/v1.41/containers/c/top", "/v1.41/containers/c/top?ps_args=aux",
                            "/v1.41/containers/c/top?ps_args=-o%20pid,user,args"})
        CHECK(classify_request(request("GET", uri)).ok());
}
