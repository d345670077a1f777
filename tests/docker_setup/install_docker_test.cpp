// install-docker / uninstall-docker: the daemon.json edit, the flag-conflict checks, the reload.
#include "cli/install_docker_cmd.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace imagegate;

namespace {

// A scratch host: ROOT/proc, ROOT/etc/..., ROOT/run/docker/plugins, and the daemon.json.
struct ScratchHost {
    fs::path root;
    DockerHost host;
    std::vector<std::pair<int, int>> signals; // (pid, signal) sent
    ScratchHost() {
        std::string pattern = (fs::temp_directory_path() / "igdeploy.XXXXXX").string();
        root = ::mkdtemp(pattern.data());
        fs::create_directories(root / "proc");
        host.root = root;
        host.send_signal = [this](int pid, int signal) {
            signals.emplace_back(pid, signal);
            return 0;
        };
    }
    ~ScratchHost() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    std::string daemon_json() const { return (root / "etc/docker/daemon.json").string(); }
    void write(const fs::path &relative, std::string_view text) const {
        fs::create_directories((root / relative).parent_path());
        std::ofstream(root / relative, std::ios::binary) << text;
    }
    std::string read(const fs::path &path) const {
        std::ifstream in(path.is_absolute() ? path : root / path, std::ios::binary);
        std::stringstream buffer;
        buffer << in.rdbuf();
        return buffer.str();
    }
    // A process as /proc shows it: argv joined by NULs.
    void add_process(int pid, const std::vector<std::string> &argv) const {
        std::string cmdline;
        for (const auto &arg : argv)
            cmdline += arg + '\0';
        write(fs::path("proc") / std::to_string(pid) / "cmdline", cmdline);
    }
};

struct Run {
    int status;
    std::string out;
    std::string err;
};

Run install(ScratchHost &scratch, Args args) {
    std::ostringstream out, err;
    int status = install_docker(args, scratch.host, out, err);
    return {status, out.str(), err.str()};
}

Run uninstall(ScratchHost &scratch, Args args) {
    std::ostringstream out, err;
    int status = uninstall_docker(args, scratch.host, out, err);
    return {status, out.str(), err.str()};
}

mode_t mode_of(const std::string &path) {
    struct stat status {};
    REQUIRE(::stat(path.c_str(), &status) == 0);
    return status.st_mode & 07777;
}

// A v1 plugin that answers Plugin.Activate once, as imagegate serve does.
class FakePlugin {
  public:
    explicit FakePlugin(const fs::path &socket_path) {
        fs::create_directories(socket_path.parent_path());
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0);
        REQUIRE(::listen(fd_, 4) == 0);
        thread_ = std::thread([this] {
            int client = ::accept(fd_, nullptr, nullptr);
            if (client < 0)
                return;
            char buffer[4096];
            std::string request;
            while (request.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::read(client, buffer, sizeof(buffer));
                if (n <= 0)
                    break;
                request.append(buffer, static_cast<std::size_t>(n));
            }
            activated_ = request.rfind("POST /Plugin.Activate ", 0) == 0;
            const std::string body = "{\"Implements\":[\"authz\"]}\n";
            std::string reply =
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
                "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
            (void)!::write(client, reply.data(), reply.size());
            ::close(client);
        });
    }
    ~FakePlugin() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    bool activated() const { return activated_; }

  private:
    int fd_ = -1;
    std::thread thread_;
    std::atomic<bool> activated_{false};
};

} // namespace

TEST_CASE("add_authorization_plugin edits the list and keeps everything else") {
    struct Row {
        const char *name;
        const char *before;
        const char *after;
        bool changed;
    };
    const Row rows[] = {
        {"absent file (empty text)", "",
         "{\n  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n", true},
        {"blank text", " \n\t\n", "{\n  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n",
         true},
        {"empty object", "{}", "{\n  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n",
         true},
        {"other keys keep their order and values",
         R"({"log-driver":"journald","storage-driver":"overlay2","log-opts":{"tag":"{{.Name}}"},"mtu":1450,"debug":false,"dns":[]})",
         "{\n  \"log-driver\": \"journald\",\n  \"storage-driver\": \"overlay2\",\n  \"log-opts\": "
         "{\n"
         "    \"tag\": \"{{.Name}}\"\n  },\n  \"mtu\": 1450,\n  \"debug\": false,\n  \"dns\": [],\n"
         "  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n",
         true},
        {"appended after the plugins already listed",
         R"({"authorization-plugins":["opa-docker-authz"],"debug":true})",
         "{\n  \"authorization-plugins\": [\n    \"opa-docker-authz\",\n    \"imagegate\"\n  ],\n"
         "  \"debug\": true\n}\n",
         true},
        {"already present: unchanged", R"({"authorization-plugins":["imagegate"]})",
         "{\n  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n", false},
        {"another name is not this one", R"({"authorization-plugins":["imagegate:latest"]})",
         "{\n  \"authorization-plugins\": [\n    \"imagegate:latest\",\n    \"imagegate\"\n  "
         "]\n}\n",
         true},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        auto edit = add_authorization_plugin(row.before, "imagegate", "/etc/docker/daemon.json");
        REQUIRE(edit.ok());
        CHECK(edit->text == row.after);
        CHECK(edit->changed == row.changed);
    }
}

TEST_CASE("add_authorization_plugin refuses what it cannot edit, naming the file") {
    struct Row {
        const char *text;
        const char *error;
    };
    const Row rows[] = {
        {"{\"debug\": true,\n  \"x\": }",
         "/etc/docker/daemon.json: not valid JSON (syntax error at line 2, column 8); not changed"},
        {"{\"debug\": true",
         "/etc/docker/daemon.json: not valid JSON (incomplete JSON at line 1, column 15); "
         "not changed"},
        {"[\"imagegate\"]",
         "/etc/docker/daemon.json: not a JSON object (dockerd's daemon.json is one object of "
         "settings); not changed"},
        {"\"imagegate\"",
         "/etc/docker/daemon.json: not a JSON object (dockerd's daemon.json is one object of "
         "settings); not changed"},
        {"null", "/etc/docker/daemon.json: not a JSON object (dockerd's daemon.json is one object "
                 "of settings); "
                 "not changed"},
        {R"({"authorization-plugins":"imagegate"})",
         "/etc/docker/daemon.json: \"authorization-plugins\" is not a list of plugin names; not "
         "changed"},
        {R"({"authorization-plugins":[1]})", "/etc/docker/daemon.json: \"authorization-plugins\" "
                                             "is not a list of plugin names; not changed"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        auto edit = add_authorization_plugin(row.text, "imagegate", "/etc/docker/daemon.json");
        REQUIRE_FALSE(edit.ok());
        CHECK(edit.error() == row.error);
        auto removal =
            remove_authorization_plugin(row.text, "imagegate", "/etc/docker/daemon.json");
        REQUIRE_FALSE(removal.ok());
        CHECK(removal.error() == row.error);
    }
}

TEST_CASE("remove_authorization_plugin removes every occurrence and drops an emptied list") {
    struct Row {
        const char *before;
        const char *after;
        bool changed;
    };
    const Row rows[] = {
        {R"({"debug":true,"authorization-plugins":["imagegate"],"mtu":1450})",
         "{\n  \"debug\": true,\n  \"mtu\": 1450\n}\n", true},
        {R"({"authorization-plugins":["a","imagegate","b","imagegate"]})",
         "{\n  \"authorization-plugins\": [\n    \"a\",\n    \"b\"\n  ]\n}\n", true},
        {R"({"authorization-plugins":["a"]})",
         "{\n  \"authorization-plugins\": [\n    \"a\"\n  ]\n}\n", false},
        {R"({"debug":true})", "{\n  \"debug\": true\n}\n", false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.before);
        auto edit = remove_authorization_plugin(row.before, "imagegate", "daemon.json");
        REQUIRE(edit.ok());
        CHECK(edit->text == row.after);
        CHECK(edit->changed == row.changed);
    }
}

TEST_CASE("install-docker creates an absent daemon.json and its directory") {
    ScratchHost scratch;
    auto run = install(scratch, {"--daemon-json", scratch.daemon_json()});
    CHECK(run.status == 0);
    CHECK(scratch.read("etc/docker/daemon.json") ==
          "{\n  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n");
    CHECK(mode_of(scratch.daemon_json()) == 0644);
    CHECK_FALSE(fs::exists(scratch.daemon_json() + ".imagegate.bak"));
    CHECK(run.out.find("created " + scratch.daemon_json()) != std::string::npos);
    CHECK(run.out.find("Reload dockerd to apply it: kill -HUP $(pidof dockerd)") !=
          std::string::npos);
    // Nothing listens on ROOT/run/docker/plugins/imagegate.sock: the operator is told.
    CHECK(run.err.find("warning: plugin \"imagegate\" does not answer") != std::string::npos);
}

TEST_CASE("install-docker keeps the other keys, the mode, and a backup of the old file") {
    ScratchHost scratch;
    const std::string before = "{\n    \"log-driver\": \"journald\",\n    \"debug\": true\n}\n";
    scratch.write("etc/docker/daemon.json", before);
    fs::permissions(scratch.daemon_json(), fs::perms::owner_read | fs::perms::owner_write);
    scratch.write("run/systemd/system/.keep", "");
    auto run = install(scratch, {"--daemon-json=" + scratch.daemon_json()});
    CHECK(run.status == 0);
    CHECK(scratch.read("etc/docker/daemon.json") ==
          "{\n  \"log-driver\": \"journald\",\n  \"debug\": true,\n  \"authorization-plugins\": [\n"
          "    \"imagegate\"\n  ]\n}\n");
    CHECK(mode_of(scratch.daemon_json()) == 0600);
    CHECK(scratch.read(scratch.daemon_json() + ".imagegate.bak") == before);
    CHECK(mode_of(scratch.daemon_json() + ".imagegate.bak") == 0600);
    CHECK(run.out.find("Reload dockerd to apply it: systemctl reload docker") != std::string::npos);

    SUBCASE("a second run changes nothing") {
        auto again = install(scratch, {"--daemon-json", scratch.daemon_json()});
        CHECK(again.status == 0);
        CHECK(again.out == "imagegate: \"imagegate\" is already in \"authorization-plugins\" of " +
                               scratch.daemon_json() + "; nothing changed\n");
        CHECK(scratch.read(scratch.daemon_json() + ".imagegate.bak") == before);
    }
    SUBCASE("uninstall-docker restores the other keys") {
        auto undo = uninstall(scratch, {"--daemon-json", scratch.daemon_json()});
        CHECK(undo.status == 0);
        CHECK(scratch.read("etc/docker/daemon.json") ==
              "{\n  \"log-driver\": \"journald\",\n  \"debug\": true\n}\n");
        CHECK(mode_of(scratch.daemon_json()) == 0600);
        CHECK(undo.out.find("removed \"imagegate\" from \"authorization-plugins\" of " +
                            scratch.daemon_json()) != std::string::npos);
    }
}

TEST_CASE("install-docker writes through a symlinked daemon.json and leaves the link") {
    ScratchHost scratch;
    scratch.write("srv/managed/daemon.json", "{\"debug\":true}");
    fs::create_directories(scratch.root / "etc/docker");
    fs::create_symlink(scratch.root / "srv/managed/daemon.json", scratch.daemon_json());
    auto run = install(scratch, {"--daemon-json", scratch.daemon_json()});
    CHECK(run.status == 0);
    CHECK(fs::is_symlink(scratch.daemon_json()));
    CHECK(scratch.read("srv/managed/daemon.json").find("\"imagegate\"") != std::string::npos);
}

TEST_CASE(
    "install-docker and uninstall-docker refuse a file that is not a JSON object, unchanged") {
    const char *texts[] = {"{\"debug\": tru}", "[]", "# comment\n{}",
                           "{\"authorization-plugins\": {}}"};
    for (const char *text : texts) {
        CAPTURE(text);
        ScratchHost scratch;
        scratch.write("etc/docker/daemon.json", text);
        auto run = install(scratch, {"--daemon-json", scratch.daemon_json()});
        CHECK(run.status == 2);
        CHECK(run.out.empty());
        CHECK(run.err.rfind("imagegate: " + scratch.daemon_json() + ": ", 0) == 0);
        CHECK(run.err.find("; not changed\n") != std::string::npos);
        CHECK(scratch.read("etc/docker/daemon.json") == text);
        CHECK_FALSE(fs::exists(scratch.daemon_json() + ".imagegate.bak"));
        auto undo = uninstall(scratch, {"--daemon-json", scratch.daemon_json()});
        CHECK(undo.status == 2);
        CHECK(scratch.read("etc/docker/daemon.json") == text);
    }
}

TEST_CASE("a daemon.json of kMaxDaemonJsonBytes is read; one byte more is refused") {
    ScratchHost scratch;
    std::string at_limit = "{}" + std::string(kMaxDaemonJsonBytes - 2, ' ');
    scratch.write("etc/docker/daemon.json", at_limit);
    CHECK(install(scratch, {"--daemon-json", scratch.daemon_json()}).status == 0);

    std::string past_limit = "{}" + std::string(kMaxDaemonJsonBytes - 1, ' ');
    scratch.write("etc/docker/daemon.json", past_limit);
    auto run = install(scratch, {"--daemon-json", scratch.daemon_json()});
    CHECK(run.status == 2);
    CHECK(run.err == "imagegate: " + scratch.daemon_json() +
                         ": larger than 1048576 bytes, not a daemon.json; "
                         "not changed\n");
    CHECK(scratch.read("etc/docker/daemon.json") == past_limit);
}

TEST_CASE("a dockerd started with --authorization-plugin is a conflict: refused unless --force") {
    ScratchHost scratch;
    scratch.write("etc/docker/daemon.json", "{\"debug\":true}");
    // The default daemon.json is what this dockerd reads, so point it at the scratch file.
    scratch.add_process(4242, {"/usr/sbin/dockerd", "-H", "fd://", "--config-file",
                               scratch.daemon_json(), "--authorization-plugin=opa"});
    scratch.add_process(
        4243, {"/usr/bin/containerd", "--authorization-plugin=nothing-to-do-with-docker"});
    auto run = install(scratch, {"--daemon-json", scratch.daemon_json()});
    CHECK(run.status == 1);
    CHECK(run.err.find("imagegate: dockerd (pid 4242) runs with --authorization-plugin=opa\n") !=
          std::string::npos);
    CHECK(run.err.find("pid 4243") == std::string::npos);
    CHECK(
        run.err.find(
            "dockerd refuses to start when \"authorization-plugins\" is set both by flag and in") !=
        std::string::npos);
    CHECK(scratch.read("etc/docker/daemon.json") == "{\"debug\":true}");

    auto forced = install(scratch, {"--daemon-json", scratch.daemon_json(), "--force"});
    CHECK(forced.status == 0);
    CHECK(scratch.read("etc/docker/daemon.json").find("\"imagegate\"") != std::string::npos);
}

TEST_CASE("find_dockerd_processes reads both flag spellings") {
    ScratchHost scratch;
    scratch.add_process(10, {"dockerd", "--authorization-plugin", "a", "--authorization-plugin=b",
                             "--config-file=/srv/daemon.json"});
    scratch.add_process(11, {"/usr/bin/dockerd"});
    scratch.add_process(12, {"/usr/bin/dockerd-rootless.sh"});
    scratch.write("proc/self/cmdline", std::string("dockerd\0", 8));
    scratch.add_process(13, {"dockerd", "--rootless"});
    scratch.write(
        "proc/13/status",
        "Name:\tdockerd\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\n");
    scratch.write("proc/11/status", "Name:\tdockerd\nUid:\t0\t0\t0\t0\n");
    auto found = find_dockerd_processes(scratch.root / "proc");
    REQUIRE(found.size() == 3);
    CHECK(found[0].pid == 10);
    CHECK(found[0].authorization_plugin_flags == std::vector<std::string>{"a", "b"});
    CHECK(found[0].config_file == "/srv/daemon.json");
    CHECK(found[1].pid == 11);
    CHECK(found[1].authorization_plugin_flags.empty());
    CHECK(found[1].config_file.empty());
    CHECK_FALSE(found[1].rootless);
    CHECK(found[2].pid == 13);
    CHECK(found[2].rootless);
}

TEST_CASE("without --config-file, root's dockerd reads /etc/docker/daemon.json, a rootless one "
          "does not") {
    ScratchHost scratch;
    scratch.add_process(20, {"dockerd"});
    scratch.write("proc/20/status", "Name:\tdockerd\nUid:\t1000\t1000\t1000\t1000\n");
    scratch.add_process(21, {"/usr/sbin/dockerd", "-H", "fd://"});
    scratch.write("proc/21/status", "Name:\tdockerd\nUid:\t0\t0\t0\t0\n");
    FakePlugin plugin(scratch.root / "run/docker/plugins/imagegate.sock");
    // No --daemon-json: ROOT/etc/docker/daemon.json, as dockerd's default is
    // /etc/docker/daemon.json.
    auto run = install(scratch, {"--reload"});
    CHECK(run.status == 0);
    CHECK(scratch.read("etc/docker/daemon.json") ==
          "{\n  \"authorization-plugins\": [\n    \"imagegate\"\n  ]\n}\n");
    CHECK(scratch.signals == std::vector<std::pair<int, int>>{{21, SIGHUP}});
    CHECK(run.err.find("pid 20") == std::string::npos);
}

TEST_CASE("find_flag_in_docker_units follows the effective ExecStart") {
    ScratchHost scratch;
    const std::string unit =
        "[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --authorization-plugin=opa\n";
    SUBCASE("the packaged unit") {
        scratch.write("lib/systemd/system/docker.service", unit);
        CHECK(find_flag_in_docker_units(scratch.root) ==
              std::vector<std::string>{
                  (scratch.root / "lib/systemd/system/docker.service").string() + ":2"});
    }
    SUBCASE("a drop-in that resets ExecStart clears it") {
        scratch.write("lib/systemd/system/docker.service", unit);
        scratch.write("etc/systemd/system/docker.service.d/override.conf",
                      "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd://\n");
        CHECK(find_flag_in_docker_units(scratch.root).empty());
    }
    SUBCASE("a drop-in that adds it") {
        scratch.write("lib/systemd/system/docker.service",
                      "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n");
        scratch.write("etc/systemd/system/docker.service.d/authz.conf",
                      "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --authorization-plugin "
                      "imagegate\n");
        CHECK(
            find_flag_in_docker_units(scratch.root) ==
            std::vector<std::string>{
                (scratch.root / "etc/systemd/system/docker.service.d/authz.conf").string() + ":3"});
    }
    SUBCASE("DOCKER_OPTS in /etc/default/docker, comments ignored") {
        scratch.write("etc/default/docker", "# DOCKER_OPTS=\"--authorization-plugin=x\"\n"
                                            "DOCKER_OPTS=\"--authorization-plugin=opa\"\n");
        CHECK(find_flag_in_docker_units(scratch.root) ==
              std::vector<std::string>{(scratch.root / "etc/default/docker").string() + ":2"});
    }
}

TEST_CASE("a flag in docker.service is a conflict too") {
    ScratchHost scratch;
    scratch.write(
        "etc/systemd/system/docker.service.d/authz.conf",
        "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --authorization-plugin=opa\n");
    auto run = install(scratch, {"--daemon-json", scratch.daemon_json()});
    CHECK(run.status == 1);
    CHECK(run.err.find("authz.conf:3 starts dockerd with --authorization-plugin\n") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(scratch.daemon_json()));
}

TEST_CASE("install-docker --reload checks the plugin answers, then signals the dockerd reading the "
          "file") {
    ScratchHost scratch;
    scratch.add_process(500, {"dockerd", "--config-file", scratch.daemon_json()});
    scratch.add_process(501, {"dockerd", "--config-file", "/elsewhere/daemon.json"});

    SUBCASE("no plugin socket: refused, file unchanged, nothing signalled") {
        auto run = install(scratch, {"--daemon-json", scratch.daemon_json(), "--reload"});
        CHECK(run.status == 1);
        CHECK(run.err.find("plugin \"imagegate\" does not answer: no plugin socket at " +
                           (scratch.root / "run/docker/plugins/imagegate.sock").string()) !=
              std::string::npos);
        CHECK_FALSE(fs::exists(scratch.daemon_json()));
        CHECK(scratch.signals.empty());
    }
    SUBCASE("a plugin that answers Plugin.Activate") {
        FakePlugin plugin(scratch.root / "run/docker/plugins/imagegate.sock");
        auto run = install(scratch, {"--daemon-json", scratch.daemon_json(), "--reload"});
        CHECK(run.status == 0);
        CHECK(plugin.activated());
        CHECK(scratch.signals == std::vector<std::pair<int, int>>{{500, SIGHUP}});
        CHECK(run.out.find("sent SIGHUP to dockerd (pid 500)") != std::string::npos);
        CHECK(run.err.find("warning: dockerd (pid 501) reads /elsewhere/daemon.json, not " +
                           scratch.daemon_json()) != std::string::npos);
    }
    SUBCASE("a managed plugin name is not looked for in /run/docker/plugins") {
        auto run = install(scratch, {"--daemon-json", scratch.daemon_json(), "--name",
                                     "imagegate:latest", "--reload"});
        CHECK(run.status == 0);
        CHECK(scratch.read("etc/docker/daemon.json").find("\"imagegate:latest\"") !=
              std::string::npos);
        CHECK(scratch.signals == std::vector<std::pair<int, int>>{{500, SIGHUP}});
    }
}

TEST_CASE("uninstall-docker") {
    ScratchHost scratch;
    SUBCASE("an absent file: nothing to do") {
        auto run = uninstall(scratch, {"--daemon-json", scratch.daemon_json()});
        CHECK(run.status == 0);
        CHECK(run.out ==
              "imagegate: " + scratch.daemon_json() + " does not exist; nothing changed\n");
        CHECK_FALSE(fs::exists(scratch.daemon_json()));
    }
    SUBCASE("not listed: unchanged, no backup") {
        scratch.write("etc/docker/daemon.json", "{\"authorization-plugins\":[\"opa\"]}");
        auto run = uninstall(scratch, {"--daemon-json", scratch.daemon_json()});
        CHECK(run.status == 0);
        CHECK(scratch.read("etc/docker/daemon.json") == "{\"authorization-plugins\":[\"opa\"]}");
        CHECK_FALSE(fs::exists(scratch.daemon_json() + ".imagegate.bak"));
    }
    SUBCASE("--reload signals dockerd; a flag that still names the plugin is reported") {
        const std::string before = "{\"authorization-plugins\":[\"opa\",\"imagegate\"]}";
        scratch.write("etc/docker/daemon.json", before);
        scratch.add_process(77, {"dockerd", "--config-file=" + scratch.daemon_json(),
                                 "--authorization-plugin=imagegate"});
        auto run = uninstall(scratch, {"--daemon-json", scratch.daemon_json(), "--reload"});
        CHECK(run.status == 0);
        CHECK(scratch.read("etc/docker/daemon.json") ==
              "{\n  \"authorization-plugins\": [\n    \"opa\"\n  ]\n}\n");
        CHECK(scratch.read(scratch.daemon_json() + ".imagegate.bak") == before);
        CHECK(scratch.signals == std::vector<std::pair<int, int>>{{77, SIGHUP}});
        CHECK(run.err.find(
                  "warning: dockerd (pid 77) still runs with --authorization-plugin=imagegate") !=
              std::string::npos);
    }
}

TEST_CASE("install-docker and uninstall-docker usage") {
    ScratchHost scratch;
    auto help = install(scratch, {"--help"});
    CHECK(help.status == 0);
    CHECK(help.out.rfind("usage: imagegate install-docker [--daemon-json FILE]", 0) == 0);
    auto undo_help = uninstall(scratch, {"-h"});
    CHECK(undo_help.status == 0);
    CHECK(undo_help.out.rfind("usage: imagegate uninstall-docker [--daemon-json FILE]", 0) == 0);

    auto unknown = install(scratch, {"--daemon-jsn", "x"});
    CHECK(unknown.status == 2);
    CHECK(unknown.err.rfind("imagegate install-docker: unknown argument \"--daemon-jsn\"\n", 0) ==
          0);
    auto missing = install(scratch, {"--daemon-json"});
    CHECK(missing.status == 2);
    CHECK(missing.err.rfind("imagegate install-docker: --daemon-json needs a value\n", 0) == 0);
    auto no_force = uninstall(scratch, {"--force"});
    CHECK(no_force.status == 2);
    CHECK(no_force.err.rfind("imagegate uninstall-docker: unknown argument \"--force\"\n", 0) == 0);
}
