// docker_setup/hub_mirrors.cpp and dockerd_host.cpp: the Docker Hub mirrors of this host
// (gateway.hubMirrors, dockerd's --registry-mirror flags and daemon.json), and the dockerd the
// gateway serves (its cgroup, its network namespace).
#include "docker_setup/install_docker.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace imagegate;

namespace {

struct Scratch {
    fs::path root;
    DockerHost host;
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "igmirrors.XXXXXX").string();
        root = ::mkdtemp(pattern.data());
        host.root = root;
        fs::create_directories(root / "proc");
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    void write(const fs::path &relative, std::string_view text) const {
        fs::create_directories((root / relative).parent_path());
        std::ofstream(root / relative, std::ios::binary) << text;
    }
    // A process as /proc shows it: argv joined by NULs, its cgroup, its network namespace.
    void add_process(int pid, const std::vector<std::string> &argv, std::string cgroup = "",
                     std::string net = "", bool root_user = true) const {
        std::string cmdline;
        for (const auto &a : argv)
            cmdline += a + '\0';
        fs::path dir = fs::path("proc") / std::to_string(pid);
        write(dir / "cmdline", cmdline);
        write(dir / "status", root_user ? "Name:\tdockerd\nUid:\t0\t0\t0\t0\n"
                                        : "Name:\tdockerd\nUid:\t1000\t1000\t1000\t1000\n");
        if (!cgroup.empty())
            write(dir / "cgroup", "1:name=systemd:/x\n0::" + cgroup + "\n");
        if (!net.empty()) {
            fs::create_directories(root / dir / "ns");
            fs::create_symlink(net, root / dir / "ns/net");
        }
    }
};

} // namespace

TEST_CASE("hub mirrors: a registry-mirrors entry read as dockerd reads it") {
    struct Row {
        std::string url, host, not_intercepted;
    };
    for (const auto &row : std::vector<Row>{
             {"https://mirror.example", "mirror.example", ""},
             {"https://Mirror.EXAMPLE:443/", "mirror.example", ""},
             {"HTTPS://mirror.example:5000", "mirror.example:5000", ""},
             // dockerd refuses a path; the host is decided as Docker Hub all the same.
             {"https://mirror.example/v2/", "mirror.example", ""},
             {"http://cache.example", "cache.example:80", "plain HTTP: the gateway refuses it"},
             {"http://cache.example:5000/", "cache.example:5000",
              "plain HTTP: the gateway refuses it"},
             {"https://127.0.0.1:5000", "127.0.0.1:5000",
              "a loopback address: dockerd reaches it directly, and the loopback guard refuses it"},
             {"https://localhost", "localhost",
              "a loopback address: dockerd reaches it directly, and the loopback guard refuses it"},
         }) {
        CAPTURE(row.url);
        auto m = hub_mirror_of_url(row.url, "daemon.json");
        REQUIRE(m);
        CHECK(m->host == row.host);
        CHECK(m->written == row.url);
        CHECK(m->source == "daemon.json");
        CHECK(m->not_intercepted == row.not_intercepted);
    }
    struct Bad {
        std::string url, error;
    };
    for (const auto &bad : std::vector<Bad>{
             {"mirror.example", "is not an http:// or https:// URL"},
             {"ftp://mirror.example", "has the scheme \"ftp\": dockerd takes http or https"},
             {"https://me:secret@mirror.example", "has user info: dockerd refuses it"},
             {"https:///v2", "has no valid host: \"\" is not \"HOST\" or \"HOST:PORT\" (a Docker "
                             "Hub mirror's host, without https:// or a path)"},
         }) {
        auto m = hub_mirror_of_url(bad.url, "F");
        REQUIRE_FALSE(m);
        CHECK(m.error() == "F: registry mirror \"" + bad.url + "\" " + bad.error);
    }
}

TEST_CASE("hub mirrors: daemon.json's registry-mirrors") {
    auto mirrors = daemon_json_registry_mirrors(
        R"({"registry-mirrors": ["https://a.example", "https://b.example"], "debug": true})", "F");
    REQUIRE(mirrors);
    CHECK(*mirrors == std::vector<std::string>{"https://a.example", "https://b.example"});
    CHECK(daemon_json_registry_mirrors("", "F")->empty());
    CHECK(daemon_json_registry_mirrors("{}", "F")->empty());
    CHECK(daemon_json_registry_mirrors(R"({"registry-mirrors": "https://a"})", "F").error() ==
          "F: \"registry-mirrors\" is not a list of URLs");
    CHECK(daemon_json_registry_mirrors(R"({"registry-mirrors": [1]})", "F").error() ==
          "F: \"registry-mirrors\" is not a list of URLs");
    CHECK(daemon_json_registry_mirrors("{", "F").error() ==
          "F: not a JSON object, so its registry-mirrors are unknown");
}

TEST_CASE("hub mirrors: from the configuration, dockerd's flags and its daemon.json") {
    Scratch s;
    std::string conf = (s.root / "etc/docker/other.json").string();
    s.write("etc/docker/other.json",
            R"({"registry-mirrors": ["https://Cache.Example:443/", "http://plain.example"]})");
    s.write("etc/docker/daemon.json", R"({"registry-mirrors": ["https://default.example"]})");
    s.add_process(10,
                  {"/usr/bin/dockerd", "--registry-mirror", "https://flag.example",
                   "--registry-mirror=https://127.0.0.1:5000", "--config-file", conf},
                  "/system.slice/docker.service");
    GatewayConfig config;
    config.hub_mirrors = {"configured.example:5000"};
    auto dockerds = find_dockerd_processes(s.root / "proc");
    REQUIRE(dockerds.size() == 1);
    CHECK(dockerds[0].registry_mirror_flags ==
          std::vector<std::string>{"https://flag.example", "https://127.0.0.1:5000"});
    CHECK(dockerds[0].cgroup == "/system.slice/docker.service");
    std::vector<std::string> problems;
    auto mirrors = find_hub_mirrors(config, dockerds, s.host, problems);
    CHECK(problems.empty());
    std::vector<std::string> seen;
    for (const auto &m : mirrors)
        seen.push_back(m.host + " " + m.source);
    CHECK(seen == std::vector<std::string>{
                      "127.0.0.1:5000 dockerd (pid 10) --registry-mirror",
                      "cache.example " + conf,
                      "configured.example:5000 gateway.hubMirrors",
                      "flag.example dockerd (pid 10) --registry-mirror",
                      "plain.example:80 " + conf,
                  });
    CHECK(intercepted_hub_mirrors(mirrors) ==
          std::vector<std::string>{"cache.example", "configured.example:5000", "flag.example"});

    SUBCASE("no dockerd runs: the default daemon.json") {
        auto none = find_hub_mirrors(GatewayConfig{}, {}, s.host, problems);
        REQUIRE(none.size() == 1);
        CHECK(none[0].host == "default.example");
    }
    SUBCASE("what cannot be read is said, the rest still counts") {
        s.write("etc/docker/other.json", R"({"registry-mirrors": ["ftp://x"]})");
        auto some = find_hub_mirrors(config, dockerds, s.host, problems);
        CHECK(intercepted_hub_mirrors(some) ==
              std::vector<std::string>{"configured.example:5000", "flag.example"});
        CHECK(problems == std::vector<std::string>{conf + ": registry mirror \"ftp://x\" has the "
                                                          "scheme \"ftp\": dockerd takes http or "
                                                          "https"});
    }
}

TEST_CASE("the gateway's dockerd: root's, in this network namespace") {
    Scratch s;
    fs::create_directories(s.root / "proc/self/ns");
    fs::create_symlink("net:[100]", s.root / "proc/self/ns/net");
    s.add_process(20, {"dockerd"}, "/system.slice/docker.service", "net:[100]");
    s.add_process(21, {"dockerd", "--data-root", "/tmp/x"}, "/", "net:[200]"); // another netns
    s.add_process(22, {"dockerd", "--rootless"}, "/user.slice", "net:[100]", false);
    s.add_process(23, {"containerd"}, "/system.slice/containerd.service", "net:[100]");
    auto found = gateway_dockerds({"/var/run/docker.sock"}, s.host);
    REQUIRE(found.size() == 1);
    CHECK(found[0].pid == 20);
    CHECK(found[0].net_namespace == "net:[100]");

    SUBCASE("a socket whose listener is no dockerd (socket activation): found among the rest") {
        fs::create_directories(s.root / "run");
        fs::path path = s.root / "run/docker.sock";
        int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(listener, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
        REQUIRE(::listen(listener, 4) == 0);
        auto via_socket = gateway_dockerds({"/run/docker.sock"}, s.host);
        ::close(listener);
        REQUIRE(via_socket.size() == 1);
        CHECK(via_socket[0].pid == 20);
    }
}

TEST_CASE("hub mirrors: the hosts the gateway CA was made for stay while dockerd is down") {
    Scratch s;
    std::string ca = (s.root / "ca").string();
    fs::create_directories(ca);
    auto first = remember_hub_mirrors(ca, {"flag.example", "cache.example:5000"});
    REQUIRE(first);
    CHECK(*first == std::vector<std::string>{"cache.example:5000", "flag.example"});
    // dockerd is down: its flags are not seen, the CA's hosts stay.
    auto later = remember_hub_mirrors(ca, {});
    REQUIRE(later);
    CHECK(*later == *first);
    auto grown = remember_hub_mirrors(ca, {"new.example"});
    REQUIRE(grown);
    CHECK(grown->size() == 3);
    s.write("ca/hub-mirrors.json", "[\"x\"]");
    auto bad = remember_hub_mirrors(ca, {});
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == ca + "/hub-mirrors.json: not a list of mirror hosts ({\"hosts\": [...]})");
}
