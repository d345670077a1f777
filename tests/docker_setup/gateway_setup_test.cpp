// install-docker --gateway / uninstall-docker --gateway (docker_setup/gateway_setup.cpp).
#include "cli/install_docker_cmd.hpp"
#include "docker_setup/install_docker.hpp"
#include "gateway/ca.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace imagegate;

namespace {

struct GatewayHost {
    fs::path root;
    DockerHost host;
    GatewayHost() {
        std::string pattern = (fs::temp_directory_path() / "iggwsetup.XXXXXX").string();
        root = ::mkdtemp(pattern.data());
        host.root = root;
        write("policy.json", R"({"organization": "acme", "serial": 1,
            "registryAccess": {"enabled": true, "allowedRegistries": ["docker.io", "ghcr.io"]}})");
        write("imagegate.json", "{\"policyFile\": \"" + (root / "policy.json").string() +
                                    "\", \"gateway\": {\"listen\": \"127.0.0.1:3999\", "
                                    "\"caDir\": \"" +
                                    (root / "ca").string() + "\", \"certsDir\": \"" +
                                    (root / "certs.d").string() + "\"}}");
    }
    ~GatewayHost() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    void write(const fs::path &relative, std::string_view text) const {
        fs::create_directories((root / relative).parent_path());
        std::ofstream(root / relative, std::ios::binary) << text;
    }
    std::string read(const fs::path &relative) const {
        std::ifstream in(root / relative, std::ios::binary);
        std::stringstream buffer;
        buffer << in.rdbuf();
        return buffer.str();
    }
    int run(bool install, std::vector<std::string> extra, std::string *out_text = nullptr,
            std::string *err_text = nullptr) {
        Args args{"--gateway", "--config", (root / "imagegate.json").string()};
        args.insert(args.end(), extra.begin(), extra.end());
        std::ostringstream out, err;
        int rc =
            install ? install_docker(args, host, out, err) : uninstall_docker(args, host, out, err);
        if (out_text)
            *out_text = out.str();
        if (err_text)
            *err_text = err.str();
        INFO(out.str() << err.str());
        return rc;
    }
};

} // namespace

TEST_CASE(
    "install-docker --gateway: certs.d, the drop-in with the proxy environment (dockerd 20)") {
    GatewayHost h;
    REQUIRE(h.run(true, {"--dockerd-version", "Docker version 20.10.24+dfsg1, build 297e128"}) ==
            0);
    std::string ca = h.read("ca/ca.crt");
    REQUIRE(ca.find("BEGIN CERTIFICATE") != std::string::npos);
    CHECK(h.read("certs.d/docker.io/ca.crt") == ca);
    CHECK(h.read("certs.d/registry-1.docker.io/ca.crt") == ca);
    CHECK(h.read("certs.d/ghcr.io/ca.crt") == ca);
    std::string drop_in = h.read(kGatewayDropIn);
    CHECK(drop_in.find("\"HTTPS_PROXY=http://127.0.0.1:3999\"") != std::string::npos);
    CHECK(drop_in.find("\"NO_PROXY=\"") != std::string::npos);
    CHECK(drop_in.find("SSL_CERT_DIR=" + (h.root / "ca/trust").string()) != std::string::npos);
    CHECK_FALSE(fs::exists(h.root / "etc/docker/daemon.json"));
    // A second run changes nothing and still succeeds.
    REQUIRE(h.run(true, {"--dockerd-version", "20.10.24"}) == 0);
    CHECK(h.read("certs.d/ghcr.io/ca.crt") == ca);
}

TEST_CASE("install-docker --gateway keeps an admin's ca.crt; uninstall removes exactly its own") {
    GatewayHost h;
    h.write("certs.d/ghcr.io/ca.crt", "the admin's CA\n");
    h.write("certs.d/ghcr.io/client.cert", "the admin's client certificate\n");
    h.write("etc/systemd/system/docker.service.d/http-proxy.conf",
            "[Service]\nEnvironment=\"HTTPS_PROXY=http://corp:8080\"\n");
    std::string err;
    REQUIRE(h.run(true, {"--dockerd-version", "20.10.24"}, nullptr, &err) == 0);
    CHECK(h.read("certs.d/ghcr.io/ca.crt") == "the admin's CA\n");
    CHECK(h.read("certs.d/ghcr.io/imagegate-gateway-ca.crt") == h.read("ca/ca.crt"));
    CHECK(err.find("http-proxy.conf:2: HTTPS_PROXY") != std::string::npos);

    REQUIRE(h.run(false, {}) == 0);
    CHECK(h.read("certs.d/ghcr.io/ca.crt") == "the admin's CA\n");
    CHECK(fs::exists(h.root / "certs.d/ghcr.io/client.cert"));
    CHECK_FALSE(fs::exists(h.root / "certs.d/ghcr.io/imagegate-gateway-ca.crt"));
    CHECK_FALSE(fs::exists(h.root / "certs.d/docker.io"));
    CHECK_FALSE(fs::exists(h.root / kGatewayDropIn));
    CHECK(fs::exists(h.root / "etc/systemd/system/docker.service.d/http-proxy.conf"));
    CHECK(fs::exists(h.root / "ca/ca.key")); // the CA stays
}

TEST_CASE("install-docker --gateway for dockerd 23 and later writes daemon.json proxies") {
    GatewayHost h;
    h.write("etc/docker/daemon.json", "{\"log-level\": \"info\"}\n");
    REQUIRE(h.run(true, {"--dockerd-version", "Docker version 24.0.7, build afdd53b"}) == 0);
    std::string daemon = h.read("etc/docker/daemon.json");
    CHECK(daemon.find("\"log-level\": \"info\"") != std::string::npos);
    CHECK(daemon.find("\"https-proxy\": \"http://127.0.0.1:3999\"") != std::string::npos);
    std::string drop_in = h.read(kGatewayDropIn);
    CHECK(drop_in.find("HTTPS_PROXY") == std::string::npos);
    CHECK(drop_in.find("SSL_CERT_DIR=") != std::string::npos);

    REQUIRE(h.run(false, {}) == 0);
    daemon = h.read("etc/docker/daemon.json");
    CHECK(daemon.find("proxies") == std::string::npos);
    CHECK(daemon.find("\"log-level\": \"info\"") != std::string::npos);
}

TEST_CASE("install-docker --gateway: bad input is named") {
    GatewayHost h;
    std::string err;
    CHECK(h.run(true, {"--bogus"}, nullptr, &err) == 2);
    CHECK(err.find("unknown argument \"--bogus\"") != std::string::npos);
    h.write("etc/docker/daemon.json", "[1, 2]");
    CHECK(h.run(true, {"--dockerd-version", "25.0"}, nullptr, &err) == 1);
    CHECK(err.find("daemon.json") != std::string::npos);
    CHECK(h.read("etc/docker/daemon.json") == "[1, 2]");
}

TEST_CASE("docker_major_version and proxy settings found elsewhere") {
    CHECK(docker_major_version("Docker version 20.10.24+dfsg1, build 297e128") == 20);
    CHECK(docker_major_version("Docker version 27.3.1, build ce12230") == 27);
    CHECK(docker_major_version("23.0") == 23);
    CHECK(docker_major_version("") == -1);
    GatewayHost h;
    h.write("etc/default/docker", "# comment HTTP_PROXY=x\nexport NO_PROXY=registry-1.docker.io\n");
    auto found = find_proxy_settings(h.root);
    REQUIRE(found.size() == 1);
    CHECK(found[0].find("etc/default/docker:2: NO_PROXY") != std::string::npos);
}

namespace {

// A host with a root dockerd in docker.service (cgroup v2 at ROOT/cg) and a fake iptables that
// records what it is given.
struct GuardedHost : GatewayHost {
    std::vector<std::string> calls;
    std::string restored;                       // every restore's input
    std::map<std::string, std::string> listing; // by tool: what the last restore made
    std::string fail;                           // a tool that fails
    GuardedHost(const std::string &dockerd_cgroup = "/system.slice/docker.service") {
        fs::create_directories(root / "cg/system.slice/docker.service");
        write("proc/self/mountinfo",
              "36 25 0:31 / " + (root / "cg").string() + " rw - cgroup2 cgroup2 rw\n");
        write("proc/self/cgroup", "0::/user.slice/session-1.scope\n");
        write("proc/net/if_inet6", "");
        std::string cmdline;
        for (const char *arg : {"dockerd", "--registry-mirror", "https://Mirror.Example:443/"})
            cmdline += std::string(arg) + '\0';
        write("proc/4242/cmdline", cmdline);
        write("proc/4242/status", "Name:\tdockerd\nUid:\t0\t0\t0\t0\n");
        write("proc/4242/cgroup", "0::" + dockerd_cgroup + "\n");
        host.run_command = [this](const std::vector<std::string> &argv,
                                  std::string_view input) -> Result<std::string> {
            calls.push_back(argv[0]);
            if (argv[0] == fail)
                return Error{fail + ": exit status 4: Permission denied (you must be root)"};
            std::string tool = argv[0];
            if (!tool.ends_with("-restore"))
                return listing[tool];
            restored += std::string(input);
            std::string made = "-N IMAGEGATE-LOOPBACK\n-A OUTPUT -j IMAGEGATE-LOOPBACK\n";
            std::istringstream lines{std::string(input)};
            for (std::string line; std::getline(lines, line);)
                if (line.starts_with("-A "))
                    made += line + "\n";
            listing[tool.substr(0, tool.size() - 8)] = made;
            return std::string();
        };
    }
};

} // namespace

TEST_CASE("install-docker --gateway: dockerd's Docker Hub mirror is intercepted, in certs.d") {
    GuardedHost h;
    h.fail = "iptables"; // the guard is another test's
    std::string out, err;
    CHECK(h.run(true, {"--dockerd-version", "20.10.24"}, &out, &err) == 1);
    CHECK(out.find("imagegate: Docker Hub mirror mirror.example (dockerd (pid 4242) "
                   "--registry-mirror): the gateway decides its requests as docker.io") !=
          std::string::npos);
    CHECK(h.read("certs.d/mirror.example/ca.crt") == h.read("ca/ca.crt"));
    CHECK(h.read("ca/hub-mirrors.json") == "{\"hosts\":[\"mirror.example\"]}\n");
    auto minter = LeafMinter::load((h.root / "ca").string());
    REQUIRE(minter);
    CHECK((*minter)->permits("mirror.example"));
    CHECK(err.find("imagegate: loopback guard: iptables: exit status 4: Permission denied") !=
          std::string::npos);
    CHECK(err.find("builds are refused until it is in place") != std::string::npos);
}

TEST_CASE("install-docker --gateway installs the loopback guard; uninstall removes it") {
    GuardedHost h;
    std::string out, err;
    REQUIRE(h.run(true, {"--dockerd-version", "20.10.24"}, &out, &err) == 0);
    CHECK(out.find("imagegate: loopback guard: IMAGEGATE-LOOPBACK (iptables, ip6tables) refuses "
                   "TCP from dockerd's cgroup /system.slice/docker.service to loopback except "
                   "127.0.0.1:3999") != std::string::npos);
    CHECK(h.restored.find("-m cgroup --path /system.slice/docker.service") != std::string::npos);
    CHECK(h.restored.find("-d ::1/128") != std::string::npos);
    CHECK(h.read("ca/installed.json").find("\"loopbackGuard\":true") != std::string::npos);
    h.calls.clear();
    REQUIRE(h.run(false, {}, &out, &err) == 0);
    CHECK(h.calls == std::vector<std::string>{"iptables", "iptables-restore", "ip6tables",
                                              "ip6tables-restore"});
    CHECK(out.find("imagegate: removed the loopback guard (IMAGEGATE-LOOPBACK)") !=
          std::string::npos);
}

TEST_CASE("install-docker --gateway refuses a guard on dockerd in the root cgroup") {
    GuardedHost h("/");
    std::string out, err;
    CHECK(h.run(true, {"--dockerd-version", "20.10.24"}, &out, &err) == 1);
    CHECK(err.find("imagegate: loopback guard: dockerd (pid 4242) runs in the root cgroup") !=
          std::string::npos);
    CHECK(h.calls.empty());
    CHECK(h.read("ca/installed.json").find("loopbackGuard") == std::string::npos);
}
