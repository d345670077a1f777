// install-docker --gateway / uninstall-docker --gateway (docker_setup/gateway_setup.cpp).
#include "cli/install_docker_cmd.hpp"
#include "docker_setup/install_docker.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
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
