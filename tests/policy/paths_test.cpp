#include "policy/paths.hpp"

#include "policy/decide.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <map>

using namespace imagegate;

TEST_CASE("host paths are cleaned as Go's filepath.Clean cleans them") {
    struct Row {
        std::string in, out;
    } rows[] = {
        {"/", "/"},
        {"//", "/"},
        {"/etc", "/etc"},
        {"/etc/", "/etc"},
        {"//etc", "/etc"},
        {"///etc//imagegate//", "/etc/imagegate"},
        {"/etc/./imagegate", "/etc/imagegate"},
        {"/etc/imagegate/.", "/etc/imagegate"},
        {"/tmp/../etc", "/etc"},
        {"/tmp/x/../../etc/imagegate", "/etc/imagegate"},
        {"/..", "/"},
        {"/../../etc", "/etc"},
        {"/etc/..", "/"},
        {"/a/b/../../..", "/"},
        {"/etc/imagegate..", "/etc/imagegate.."},
        {"/etc/...", "/etc/..."},
        {"/etc/.imagegate", "/etc/.imagegate"},
        {"", "."},
        {".", "."},
        {"etc", "etc"},
        {"./etc", "etc"},
        {"etc/../..", ".."},
        {"../etc", "../etc"},
        {"a//b/./c/..", "a/b"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.in);
        CHECK(normalize_path(row.in) == row.out);
    }
}

TEST_CASE(
    "a mount exposes a protected path when it is one, lies inside one, or is a parent of one") {
    const std::vector<std::string> guarded{"/etc/imagegate", "/run/docker/plugins",
                                           "/var/run/docker.sock", "/var/lib/imagegate"};
    struct Row {
        std::string host_path;
        bool exposes;
        std::string which;
    } rows[] = {
        // the protected paths themselves, in every spelling
        {"/etc/imagegate", true, "/etc/imagegate"},
        {"/etc/imagegate/", true, "/etc/imagegate"},
        {"//etc/imagegate", true, "/etc/imagegate"},
        {"/etc//imagegate", true, "/etc/imagegate"},
        {"/etc/./imagegate", true, "/etc/imagegate"},
        {"/tmp/../etc/imagegate", true, "/etc/imagegate"},
        {"/../etc/imagegate", true, "/etc/imagegate"},
        {"/var/run/docker.sock", true, "/var/run/docker.sock"},
        // inside one
        {"/etc/imagegate/policy.json", true, "/etc/imagegate"},
        {"/etc/imagegate/keys/org.pub", true, "/etc/imagegate"},
        {"/run/docker/plugins/imagegate.sock", true, "/run/docker/plugins"},
        // parents of one
        {"/", true, "/etc/imagegate"},
        {"//", true, "/etc/imagegate"},
        {"/etc", true, "/etc/imagegate"},
        {"/etc/", true, "/etc/imagegate"},
        {"/tmp/..", true, "/etc/imagegate"},
        {"/run", true, "/run/docker/plugins"},
        {"/run/docker", true, "/run/docker/plugins"},
        {"/var", true, "/var/run/docker.sock"},
        {"/var/run", true, "/var/run/docker.sock"},
        {"/var/lib", true, "/var/lib/imagegate"},
        // neighbours are not
        {"/etc/imagegatex", false, ""},
        {"/etc/imagegate.d", false, ""},
        {"/etc/imagegat", false, ""},
        {"/etc/ssl", false, ""},
        {"/run/docker/plugins2", false, ""},
        {"/run/dockerx", false, ""},
        {"/var/run/docker.sock.bak", false, ""},
        {"/var/lib/imagegate-old", false, ""},
        {"/tmp", false, ""},
        {"/tmp/x/../y", false, ""},
        {"/home/dev/project", false, ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.host_path);
        std::string which;
        CHECK(exposes_protected_path(row.host_path, guarded, &which) == row.exposes);
        CHECK(which == row.which);
    }
}

TEST_CASE("protected paths are cleaned before they are compared") {
    const std::vector<std::string> guarded{"/etc//imagegate/", "/srv/./keys/../keys"};
    std::string which;
    CHECK(exposes_protected_path("/etc/imagegate/x", guarded, &which));
    CHECK(which == "/etc/imagegate");
    CHECK(exposes_protected_path("/srv", guarded, &which));
    CHECK(which == "/srv/keys");
    CHECK_FALSE(exposes_protected_path("/srv/keysx", guarded));
    CHECK_FALSE(exposes_protected_path("/etc/imagegate2", guarded));
}

TEST_CASE("a protected / makes every host path protected; no protected paths protect nothing") {
    CHECK(exposes_protected_path("/tmp/anything", {"/"}));
    CHECK(exposes_protected_path("/", {"/"}));
    CHECK_FALSE(exposes_protected_path("/", {}));
    CHECK_FALSE(exposes_protected_path("/etc/imagegate", {}));
}

TEST_CASE("the message names the first protected path a mount exposes") {
    std::string which;
    CHECK(exposes_protected_path("/", {"/var/lib/imagegate", "/etc/imagegate"}, &which));
    CHECK(which == "/var/lib/imagegate");
    CHECK(exposes_protected_path("/etc", {"/var/lib/imagegate", "/etc/imagegate"}, &which));
    CHECK(which == "/etc/imagegate");
}

// The decision applies the path rule to the path as written and to where the host's symlinks
// lead (HostFacts.resolve_path), for binds, mounts and bind volumes alike.
namespace {
AuthzRequest create_request(const std::string &body) {
    AuthzRequest r;
    r.method = "POST";
    r.uri = "/v1.41/containers/create";
    r.body = body;
    r.headers["content-type"] = "application/json";
    return r;
}

struct FakeHost {
    std::map<std::string, std::string> links; // symlink → target (path prefixes)
    std::map<std::string, std::string> volume_devices;
    bool dockerd_down = false; // volume lookups get no answer
    std::optional<std::string> resolve(std::string_view path) const {
        std::string p = normalize_path(path);
        for (const auto &[link, target] : links)
            if (p == link || p.starts_with(link + "/"))
                return normalize_path(target + p.substr(link.size()));
        return p;
    }
};

Decision decide_with(const FakeHost &host, const std::string &body, const Policy &policy) {
    DecisionContext ctx;
    ctx.policy = &policy;
    ctx.protected_paths = {"/etc/imagegate", "/run/docker/plugins"};
    ctx.facts.resolve_path = [&host](std::string_view p) { return host.resolve(p); };
    ctx.facts.volume_devices =
        [&host](const std::vector<std::string> &volumes) -> std::optional<VolumeDevices> {
        if (host.dockerd_down)
            return std::nullopt;
        VolumeDevices found;
        for (const auto &v : volumes)
            if (auto it = host.volume_devices.find(v); it != host.volume_devices.end())
                found.emplace(v, it->second);
        return found;
    };
    return decide_request(create_request(body), ctx);
}

Policy hardened_policy() {
    auto load = load_policy(R"({"organization":"acme","serial":3,"defaultRoles":["Writer","Reader"],
        "hardening":{"protectedPaths":["/srv/secrets"]}})",
                            false);
    REQUIRE(load.policy);
    return *load.policy;
}
} // namespace

TEST_CASE("symlinks to protected paths are followed, however the mount is spelled") {
    const Policy policy = hardened_policy();
    FakeHost host;
    host.links["/tmp/dev/link"] = "/etc/imagegate";
    host.links["/tmp/dev/plugins"] = "/run/docker/plugins";
    host.links["/tmp/dev/up"] = "/etc";
    host.links["/home/dev/root"] = "/";
    host.volume_devices["cfg"] = "/tmp/dev/link";
    host.volume_devices["ok"] = "/tmp/dev/data";

    struct Row {
        std::string what, body, protected_path;
    } denied[] = {
        {"-v link", R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/link:/x"]}})",
         "/etc/imagegate"},
        {"-v link/inside",
         R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/link/policy.json:/x:ro"]}})",
         "/etc/imagegate"},
        {"-v link to the plugin socket directory",
         R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/plugins:/p"]}})",
         "/run/docker/plugins"},
        {"-v link to a parent, then down",
         R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/up/imagegate:/x"]}})",
         "/etc/imagegate"},
        {"-v link to /", R"({"Image":"alpine","HostConfig":{"Binds":["/home/dev/root:/host"]}})",
         "/etc/imagegate"},
        {"--mount type=bind through a link",
         R"({"Image":"alpine","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp/dev/link","Target":"/x"}]}})",
         "/etc/imagegate"},
        {"a spelled-out path through a link",
         R"({"Image":"alpine","HostConfig":{"Binds":["/tmp//dev/./link/:/x"]}})", "/etc/imagegate"},
        {"a named volume whose device is a link",
         R"({"Image":"alpine","HostConfig":{"Binds":["cfg:/x"]}})", "/etc/imagegate"},
        {"a volume mount with a bind device through a link",
         R"({"Image":"alpine","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/x",
            "VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/tmp/dev/link"}}}}]}})",
         "/etc/imagegate"},
        {"the policy's own protected path",
         R"({"Image":"alpine","HostConfig":{"Binds":["/srv/secrets/db:/x"]}})", "/srv/secrets"},
        {"a parent of the policy's protected path",
         R"({"Image":"alpine","HostConfig":{"Binds":["/srv:/x"]}})", "/srv/secrets"},
    };
    for (const auto &row : denied) {
        CAPTURE(row.what);
        Decision d = decide_with(host, row.body, policy);
        CHECK_FALSE(d.allow);
        CHECK(d.message.find("would expose the protected path " + row.protected_path) !=
              std::string::npos);
        CHECK(d.message.find("acme's hardening policy (policy 3)") != std::string::npos);
    }

    const std::string allowed[] = {
        R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/data:/x"]}})",
        R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/linkx:/x"]}})",
        R"({"Image":"alpine","HostConfig":{"Binds":["ok:/x"]}})",
        R"({"Image":"alpine","HostConfig":{"Binds":["/srv/public:/x"]}})",
        R"({"Image":"alpine","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp/dev/data","Target":"/x"}]}})",
    };
    for (const auto &body : allowed) {
        CAPTURE(body);
        Decision d = decide_with(host, body, policy);
        CHECK(d.allow);
        CHECK(d.message.empty());
    }
}

TEST_CASE("a bind source that is not absolute is refused: dockerd would resolve it from its own "
          "directory") {
    const Policy policy = hardened_policy();
    FakeHost host;
    Decision d = decide_with(
        host, R"({"Image":"alpine","HostConfig":{"Mounts":[{"Type":"volume","Source":"v",
        "Target":"/x","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"etc"}}}}]}})",
        policy);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("host path \"etc\" is not absolute") != std::string::npos);
}

TEST_CASE("binds of the host kernel's /proc, /sys and /dev are refused under hardening.devices") {
    const Policy policy = hardened_policy();
    FakeHost host;
    host.links["/tmp/dev/p"] = "/proc";
    host.volume_devices["procbind"] = "/proc";
    struct Row {
        std::string what, body, filesystem;
    } denied[] = {
        {"-v /proc", R"({"Image":"alpine","HostConfig":{"Binds":["/proc:/hostproc"]}})", "/proc"},
        {"-v /proc/sys", R"({"Image":"alpine","HostConfig":{"Binds":["/proc/sys:/x:ro"]}})",
         "/proc"},
        {"-v /sys/fs/cgroup", R"({"Image":"alpine","HostConfig":{"Binds":["/sys/fs/cgroup:/cg"]}})",
         "/sys"},
        {"-v //sys/", R"({"Image":"alpine","HostConfig":{"Binds":["//sys/:/s"]}})", "/sys"},
        {"-v /dev", R"({"Image":"alpine","HostConfig":{"Binds":["/dev:/hostdev"]}})", "/dev"},
        {"a symlink to /proc", R"({"Image":"alpine","HostConfig":{"Binds":["/tmp/dev/p:/x"]}})",
         "/proc"},
        {"--mount type=bind",
         R"({"Image":"alpine","HostConfig":{"Mounts":[{"Type":"bind","Source":"/sys","Target":"/s"}]}})",
         "/sys"},
        {"a volume binding /proc", R"({"Image":"alpine","HostConfig":{"Binds":["procbind:/p"]}})",
         "/proc"},
    };
    for (const auto &row : denied) {
        CAPTURE(row.what);
        Decision d = decide_with(host, row.body, policy);
        CHECK_FALSE(d.allow);
        CHECK(d.message.find("would expose the host kernel's " + row.filesystem) !=
              std::string::npos);
    }
    // neighbours are not the kernel's
    for (const std::string body : {R"({"Image":"alpine","HostConfig":{"Binds":["/process:/x"]}})",
                                   R"({"Image":"alpine","HostConfig":{"Binds":["/srv/dev:/x"]}})",
                                   R"({"Image":"alpine","HostConfig":{"Binds":["/system:/x"]}})"}) {
        CAPTURE(body);
        CHECK(decide_with(host, body, policy).allow);
    }

    auto devices_allowed =
        load_policy(R"({"organization":"acme","serial":4,"defaultRoles":["Writer"],
        "hardening":{"devices":"allowed"}})",
                    false);
    REQUIRE(devices_allowed.policy);
    CHECK(decide_with(host, R"({"Image":"alpine","HostConfig":{"Binds":["/proc:/hostproc:ro"]}})",
                      *devices_allowed.policy)
              .allow);
}

TEST_CASE("named volumes are checked in one lookup, and a lookup with no answer denies") {
    const Policy policy = hardened_policy();
    FakeHost host;
    host.volume_devices["cfg"] = "/etc/imagegate";
    std::string binds;
    for (int i = 0; i < 3000; ++i)
        binds += "\"vol" + std::to_string(i) + ":/v" + std::to_string(i) + "\",";
    std::string body = R"({"Image":"alpine","HostConfig":{"Binds":[)" + binds + R"("cfg:/x"]}})";

    DecisionContext ctx;
    ctx.policy = &policy;
    ctx.protected_paths = {"/etc/imagegate"};
    int calls = 0;
    std::size_t asked = 0;
    ctx.facts.volume_devices =
        [&](const std::vector<std::string> &volumes) -> std::optional<VolumeDevices> {
        ++calls;
        asked = volumes.size();
        VolumeDevices found;
        for (const auto &v : volumes)
            if (auto it = host.volume_devices.find(v); it != host.volume_devices.end())
                found.emplace(v, it->second);
        return found;
    };
    Decision d = decide_request(create_request(body), ctx);
    CHECK_FALSE(d.allow);
    CHECK(d.message.find("volume cfg binds /etc/imagegate") != std::string::npos);
    CHECK(calls == 1);
    CHECK(asked == 3001);

    host.dockerd_down = true;
    Decision down =
        decide_with(host, R"({"Image":"alpine","HostConfig":{"Binds":["data:/data"]}})", policy);
    CHECK_FALSE(down.allow);
    CHECK(down.message.find("named volume data: imagegate cannot ask dockerd") !=
          std::string::npos);
    host.dockerd_down = false;
    CHECK(decide_with(host, R"({"Image":"alpine","HostConfig":{"Binds":["data:/data"]}})", policy)
              .allow);
}

TEST_CASE("the protected path index answers as the rule does, the path it names included") {
    const std::vector<std::vector<std::string>> lists = {
        {"/etc/imagegate", "/run/docker/plugins", "/var/lib/imagegate"},
        {"/var/lib/imagegate", "/etc/imagegate", "/etc", "/etc/imagegate"},
        {"/", "/etc"},
        {"/srv/a/b/c", "/srv/a", "/srv/a/b"},
        {"//srv/./x/../y/", "/opt"},
        {}};
    const char *hosts[] = {"/",
                           "/etc",
                           "/etc/",
                           "/etc/imagegate",
                           "/etc/imagegate/policy.json",
                           "/etcetera",
                           "/run",
                           "/run/docker",
                           "/run/docker/plugins/x.sock",
                           "/var",
                           "/var/lib",
                           "/srv",
                           "/srv/a",
                           "/srv/a/b",
                           "/srv/a/b/c/d",
                           "/srv/y",
                           "/srv/x",
                           "/opt/z",
                           "//etc//imagegate/",
                           "/tmp/../etc",
                           "/home/user",
                           "relative/etc",
                           "."};
    for (const auto &list : lists) {
        PathIndex index(list);
        for (const char *host : hosts) {
            CAPTURE(host);
            std::string rule_which, index_which;
            bool rule = exposes_protected_path(host, list, &rule_which);
            CHECK(index.exposes(host, &index_which) == rule);
            CHECK(index_which == rule_which);
        }
    }
}

TEST_CASE("a policy with 20000 protected paths decides a create with 1024 mounts quickly") {
    std::string paths;
    for (int i = 0; i < 20000; ++i)
        paths += (i ? ",\"/srv/guarded/p" : "\"/srv/guarded/p") + std::to_string(i) + "\"";
    auto load = load_policy(R"({"organization":"acme","serial":1,"defaultRoles":["Reader","Writer"],
        "hardening":{"protectedPaths":[)" +
                                paths + "]}}",
                            false);
    REQUIRE(load.policy);
    std::string binds;
    for (int i = 0; i < 1024; ++i)
        binds +=
            (i ? ",\"/data/d" : "\"/data/d") + std::to_string(i) + ":/m" + std::to_string(i) + "\"";
    DecisionContext ctx;
    ctx.policy = load.policy.get();
    auto started = std::chrono::steady_clock::now();
    Decision fine = decide_request(
        create_request(R"({"Image":"alpine","HostConfig":{"Binds":[)" + binds + "]}}"), ctx);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(fine.allow);
    MESSAGE("1024 mounts against 20000 protected paths: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    Decision caught = decide_request(create_request(R"({"Image":"alpine","HostConfig":{"Binds":[)" +
                                                    binds + R"(,"/srv/guarded:/g"]}})"),
                                     ctx);
    CHECK_FALSE(caught.allow);
    CHECK(caught.message.find("the protected path /srv/guarded/p0") != std::string::npos);
}
