// gateway/loopback_guard.cpp: the firewall rules that keep dockerd off loopback registries, how
// they are checked and put in place (a fake iptables), the cgroup they name, the gateway's
// report and the plugin's reading of it.
#include "gateway/loopback_guard.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace imagegate;
namespace fs = std::filesystem;

namespace {

const std::string kReject = " -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN";

LoopbackGuardSpec docker_service() {
    LoopbackGuardSpec spec;
    spec.cgroups = {{"/system.slice/docker.service", 4242}};
    spec.allowed = {"127.0.0.1:3128", "[::1]:24224"};
    return spec;
}

// `iptables -S` of the filter table with the guard in place, as iptables-nft 1.8.9 prints it
// (quotes around the cgroup path and the comment).
std::string listing_v4(std::string id = "4242", std::string before_jump = "") {
    std::string path = "--path \"/system.slice/docker.service\" -m comment --comment \"imagegate "
                       "cgroup " +
                       id + "\" -j REJECT --reject-with tcp-reset";
    return "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-N IMAGEGATE-LOOPBACK\n" +
           before_jump + "-A OUTPUT -j IMAGEGATE-LOOPBACK\n" +
           "-A IMAGEGATE-LOOPBACK -d 127.0.0.1/32 -p tcp -m tcp --dport 3128 -j RETURN\n" +
           "-A IMAGEGATE-LOOPBACK -d 127.0.0.0/8" + kReject + " -m cgroup " + path + "\n" +
           "-A IMAGEGATE-LOOPBACK" + kReject + " -m conntrack --ctorigdst 127.0.0.0/8 -m cgroup " +
           path + "\n";
}

struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "igguard.XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::uint64_t inode(const fs::path &p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_ino;
}

// A fake iptables: one listing per family that restores replace with what the guard wants
// (or, with BROKEN, with something else, as an iptables that prints rules differently).
struct FakeIptables {
    std::map<std::string, std::string> listing{{"iptables", ""}, {"ip6tables", ""}};
    std::vector<std::string> calls;
    std::string missing; // a tool that is "not found"
    bool broken = false;
    LoopbackGuardSpec spec;
    CommandRunner runner() {
        return [this](const std::vector<std::string> &argv,
                      std::string_view input) -> Result<std::string> {
            calls.push_back(argv[0]);
            std::string tool = argv[0];
            bool restore = tool.ends_with("-restore");
            if (restore)
                tool.resize(tool.size() - 8);
            if (tool == missing)
                return Error{tool + ": not found"};
            if (!restore)
                return listing[tool];
            CHECK(std::string(input).starts_with("*filter\n"));
            std::string text = "-N IMAGEGATE-LOOPBACK\n-A OUTPUT -j IMAGEGATE-LOOPBACK\n";
            for (const auto &rule :
                 loopback_guard_rules(spec, tool == "iptables" ? IpFamily::V4 : IpFamily::V6))
                text += rule + "\n";
            listing[tool] = broken ? text + "-A IMAGEGATE-LOOPBACK -j ACCEPT\n" : text;
            return std::string();
        };
    }
};

} // namespace

TEST_CASE("loopback guard: the rules per family, allowed addresses first") {
    auto spec = docker_service();
    std::string match = " -m cgroup --path /system.slice/docker.service -m comment --comment "
                        "\"imagegate cgroup 4242\" -j REJECT --reject-with tcp-reset";
    CHECK(loopback_guard_rules(spec, IpFamily::V4) ==
          std::vector<std::string>{
              "-A IMAGEGATE-LOOPBACK -d 127.0.0.1/32 -p tcp -m tcp --dport 3128 -j RETURN",
              "-A IMAGEGATE-LOOPBACK -d 127.0.0.0/8" + kReject + match,
              "-A IMAGEGATE-LOOPBACK" + kReject + " -m conntrack --ctorigdst 127.0.0.0/8" + match,
          });
    CHECK(loopback_guard_rules(spec, IpFamily::V6) ==
          std::vector<std::string>{
              "-A IMAGEGATE-LOOPBACK -d ::1/128 -p tcp -m tcp --dport 24224 -j RETURN",
              "-A IMAGEGATE-LOOPBACK -d ::1/128" + kReject + match,
              "-A IMAGEGATE-LOOPBACK" + kReject + " -m conntrack --ctorigdst ::1" + match,
              "-A IMAGEGATE-LOOPBACK -d ::ffff:127.0.0.0/104" + kReject + match,
              "-A IMAGEGATE-LOOPBACK" + kReject + " -m conntrack --ctorigdst ::ffff:127.0.0.0/104" +
                  match,
          });
    SUBCASE("an address is written as iptables prints it") {
        spec.allowed = {"[0:0:0:0:0:0:0:1]:24224"};
        CHECK(loopback_guard_rules(spec, IpFamily::V6).front() ==
              "-A IMAGEGATE-LOOPBACK -d ::1/128 -p tcp -m tcp --dport 24224 -j RETURN");
    }
}

TEST_CASE("loopback guard: a listing is in place only when it is exactly the guard") {
    auto spec = docker_service();
    CHECK(loopback_guard_difference(listing_v4(), spec, IpFamily::V4) == "");
    CHECK(loopback_guard_difference("-P OUTPUT ACCEPT\n", spec, IpFamily::V4) ==
          "iptables has no chain IMAGEGATE-LOOPBACK");
    // Something that lets packets out before the chain is reached.
    CHECK(loopback_guard_difference(listing_v4("4242", "-A OUTPUT -o lo -j ACCEPT\n"), spec,
                                    IpFamily::V4) ==
          "iptables: the first rule of OUTPUT is not \"-A OUTPUT -j IMAGEGATE-LOOPBACK\" but "
          "\"-A OUTPUT -o lo -j ACCEPT\"");
    CHECK(loopback_guard_difference(listing_v4() + "-A OUTPUT -j IMAGEGATE-LOOPBACK\n", spec,
                                    IpFamily::V4) ==
          "iptables: OUTPUT jumps to IMAGEGATE-LOOPBACK 2 times");
    // A rule slipped into the chain: it would return before the reject.
    std::string slipped = listing_v4();
    slipped.insert(slipped.find("-A IMAGEGATE-LOOPBACK -d 127.0.0.1"),
                   "-A IMAGEGATE-LOOPBACK -j RETURN\n");
    CHECK(loopback_guard_difference(slipped, spec, IpFamily::V4) ==
          "iptables: rule 1 of IMAGEGATE-LOOPBACK is \"-A IMAGEGATE-LOOPBACK -j RETURN\", not "
          "\"-A IMAGEGATE-LOOPBACK -d 127.0.0.1/32 -p tcp -m tcp --dport 3128 -j RETURN\"");
    // dockerd restarted: its cgroup was made anew, the rules name the old one.
    CHECK(loopback_guard_difference(listing_v4("4000"), spec, IpFamily::V4)
              .starts_with("iptables: rule 2 of IMAGEGATE-LOOPBACK is"));
    // Another cgroup: dockerd moved.
    auto moved = spec;
    moved.cgroups = {{"/dockerd.slice", 4242}};
    CHECK(loopback_guard_difference(listing_v4(), moved, IpFamily::V4)
              .starts_with("iptables: rule 2 of IMAGEGATE-LOOPBACK is"));
    auto fewer = spec;
    fewer.allowed = {"127.0.0.1:3128", "127.0.0.1:24224"};
    CHECK(loopback_guard_difference(listing_v4(), fewer, IpFamily::V4)
              .starts_with("iptables: rule 2 of IMAGEGATE-LOOPBACK is"));
    CHECK(loopback_guard_difference(listing_v4() + "-A IMAGEGATE-LOOPBACK -j ACCEPT\n", spec,
                                    IpFamily::V4) ==
          "iptables: IMAGEGATE-LOOPBACK has a rule the guard does not make: \"-A "
          "IMAGEGATE-LOOPBACK -j ACCEPT\"");
}

TEST_CASE("loopback guard: one restore replaces the chain and OUTPUT's jump") {
    auto spec = docker_service();
    std::string twice = listing_v4() + "-A OUTPUT -j IMAGEGATE-LOOPBACK\n";
    std::string input = loopback_guard_restore_input(twice, spec, IpFamily::V4);
    std::string want = "*filter\n:IMAGEGATE-LOOPBACK - [0:0]\n-D OUTPUT -j IMAGEGATE-LOOPBACK\n"
                       "-D OUTPUT -j IMAGEGATE-LOOPBACK\n-I OUTPUT 1 -j IMAGEGATE-LOOPBACK\n";
    for (const auto &rule : loopback_guard_rules(spec, IpFamily::V4))
        want += rule + "\n";
    CHECK(input == want + "COMMIT\n");
    CHECK(loopback_guard_restore_input("", spec, IpFamily::V4)
              .starts_with("*filter\n:IMAGEGATE-LOOPBACK - [0:0]\n-I OUTPUT 1"));
    CHECK(loopback_guard_removal_input(twice) ==
          "*filter\n-D OUTPUT -j IMAGEGATE-LOOPBACK\n-D OUTPUT -j IMAGEGATE-LOOPBACK\n"
          ":IMAGEGATE-LOOPBACK - [0:0]\n-X IMAGEGATE-LOOPBACK\nCOMMIT\n");
    CHECK(loopback_guard_removal_input("-P OUTPUT ACCEPT\n") == "");
}

TEST_CASE("loopback guard: kept in place with iptables and ip6tables") {
    FakeIptables fake;
    fake.spec = docker_service();
    SUBCASE("missing: installed, then in place without another restore") {
        auto outcome = keep_loopback_guard(fake.spec, fake.runner(), true, true);
        CHECK(outcome.in_place);
        CHECK(outcome.changed);
        CHECK(outcome.problem == "");
        CHECK(fake.calls == std::vector<std::string>{"iptables", "iptables-restore", "iptables",
                                                     "ip6tables", "ip6tables-restore",
                                                     "ip6tables"});
        fake.calls.clear();
        auto again = keep_loopback_guard(fake.spec, fake.runner(), true, true);
        CHECK(again.in_place);
        CHECK_FALSE(again.changed);
        CHECK(fake.calls == std::vector<std::string>{"iptables", "ip6tables"});
    }
    SUBCASE("checked only: what differs, nothing changed") {
        auto outcome = keep_loopback_guard(fake.spec, fake.runner(), true, false);
        CHECK_FALSE(outcome.in_place);
        CHECK(outcome.problem == "iptables has no chain IMAGEGATE-LOOPBACK");
        CHECK(fake.calls == std::vector<std::string>{"iptables"});
    }
    SUBCASE("no IPv6 on the host: ip6tables is not asked") {
        CHECK(keep_loopback_guard(fake.spec, fake.runner(), false, true).in_place);
        CHECK(std::find(fake.calls.begin(), fake.calls.end(), "ip6tables") == fake.calls.end());
    }
    SUBCASE("ip6tables missing: not in place, and it says so") {
        fake.missing = "ip6tables";
        auto outcome = keep_loopback_guard(fake.spec, fake.runner(), true, true);
        CHECK_FALSE(outcome.in_place);
        CHECK(outcome.problem == "ip6tables: not found");
    }
    SUBCASE("a restore that does not give the guard is not taken for it") {
        fake.broken = true;
        auto outcome = keep_loopback_guard(fake.spec, fake.runner(), true, true);
        CHECK_FALSE(outcome.in_place);
        CHECK(outcome.problem == "installed, but iptables: IMAGEGATE-LOOPBACK has a rule the guard "
                                 "does not make: \"-A IMAGEGATE-LOOPBACK -j ACCEPT\"");
    }
    SUBCASE("removed") {
        REQUIRE(keep_loopback_guard(fake.spec, fake.runner(), true, true).in_place);
        auto removed = remove_loopback_guard(fake.runner(), true);
        REQUIRE(removed);
        CHECK(*removed);
    }
}

TEST_CASE("loopback guard: commands run with their input, and fail by name") {
    auto ok = run_command({"sh", "-c", "tr a-z A-Z"}, "filter\n");
    REQUIRE(ok);
    CHECK(*ok == "FILTER\n");
    auto failed = run_command({"sh", "-c", "echo 'iptables: Permission denied' >&2; exit 4"}, "");
    REQUIRE_FALSE(failed);
    CHECK(failed.error() ==
          "sh -c echo 'iptables: Permission denied' >&2; exit 4: exit status 4: iptables: "
          "Permission denied");
    auto missing = run_command({"iptables-imagegate-absent", "-S"}, "");
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == "iptables-imagegate-absent: not found (install it: the loopback "
                             "guard needs it; docs/gateway.md, \"Loopback registries\")");
    auto slow = run_command({"sleep", "5"}, "", std::chrono::milliseconds(200));
    REQUIRE_FALSE(slow);
    CHECK(slow.error() == "sleep 5: no answer within 0 s");
}

TEST_CASE("loopback guard: the cgroup v2 hierarchy and a process's place in it") {
    std::string problem;
    CHECK(cgroup2_mount("25 30 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                        "36 25 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
                        problem) == "/sys/fs/cgroup/unified");
    CHECK(problem == "");
    CHECK(cgroup2_mount("36 25 0:31 / /sys/fs/cgroup\\040v2 rw,nosuid - cgroup2 cgroup2 rw\n",
                        problem) == "/sys/fs/cgroup v2");
    CHECK(cgroup2_mount("25 30 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", problem) ==
          "");
    CHECK(problem == "no cgroup v2 hierarchy is mounted (a cgroup v1-only host): the loopback "
                     "guard matches dockerd by its cgroup v2 path");
    problem.clear();
    CHECK(cgroup2_mount("36 25 0:31 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                        problem) == "");
    CHECK(problem.find("shows the subtree /docker/abc, not its root") != std::string::npos);
    CHECK(cgroup_v2_path("12:pids:/system.slice\n0::/system.slice/docker.service\n") ==
          "/system.slice/docker.service");
    CHECK(cgroup_v2_path("4:memory:/x\n") == "");
}

TEST_CASE("loopback guard: whose cgroup it names, and when it cannot") {
    TempDir mount;
    fs::create_directories(mount.path / "system.slice/docker.service");
    fs::create_directories(mount.path / "dockerd.slice");
    GatewayConfig config;
    std::string m = mount.path.string();
    std::vector<DockerdCgroup> dockerd{{7, "/system.slice/docker.service"}};
    auto spec = loopback_guard_spec(config, dockerd, "/system.slice/imagegate-gateway.service", m);
    REQUIRE(spec);
    CHECK(spec->cgroups ==
          std::vector<GuardedCgroup>{
              {"/system.slice/docker.service", inode(mount.path / "system.slice/docker.service")}});
    CHECK(spec->allowed == std::vector<std::string>{"127.0.0.1:3128"});

    auto error_of = [&](const GatewayConfig &c, std::vector<DockerdCgroup> d,
                        std::string own = "/user.slice", std::string at = "") {
        auto s = loopback_guard_spec(c, d, own, at.empty() ? m : at);
        REQUIRE_FALSE(s);
        return s.error();
    };
    CHECK(error_of(config, {{7, "/"}}) ==
          "dockerd (pid 7) runs in the root cgroup, with every other process: run it in a cgroup "
          "of its own (systemd's docker.service does) or set gateway.dockerdCgroup");
    CHECK(error_of(config, {{7, ""}}) ==
          "dockerd (pid 7) has no cgroup v2 path (a cgroup v1-only host)");
    CHECK(error_of(config, {}) == "no dockerd is running (none answers on dockerSockets): nothing "
                                  "to guard yet (or set gateway.dockerdCgroup)");
    CHECK(error_of(config, {{7, "/system.slice"}}, "/system.slice/imagegate-gateway.service") ==
          "dockerd's cgroup \"/system.slice\" also holds imagegate gateway itself "
          "(/system.slice/imagegate-gateway.service): run dockerd in a cgroup of its own "
          "(systemd's docker.service does)");
    CHECK(error_of(config, {{7, "/gone.slice"}}) ==
          "dockerd's cgroup \"/gone.slice\" does not exist under " + m);
    CHECK(error_of(config, dockerd, "/user.slice", "-").find("does not exist") !=
          std::string::npos);
    GatewayConfig remote = config;
    remote.listen = "10.0.0.1:3128";
    CHECK(error_of(remote, dockerd) ==
          "gateway.listen \"10.0.0.1:3128\" is not a loopback IP address and port: the guard lets "
          "dockerd reach the gateway there and nowhere else on loopback");
    SUBCASE("gateway.dockerdCgroup: that cgroup, and dockerd must be inside it") {
        GatewayConfig pinned = config;
        pinned.dockerd_cgroup = "/dockerd.slice";
        pinned.loopback_allow = {"127.0.0.1:24224"};
        auto s = loopback_guard_spec(pinned, {{7, "/dockerd.slice/docker.service"}}, "/", m);
        REQUIRE(s);
        CHECK(s->cgroups.front().path == "/dockerd.slice");
        CHECK(s->allowed == std::vector<std::string>{"127.0.0.1:3128", "127.0.0.1:24224"});
        CHECK(loopback_guard_spec(pinned, {}, "/", m)); // dockerd not running yet
        CHECK(error_of(pinned, dockerd) ==
              "dockerd (pid 7) runs in cgroup \"/system.slice/docker.service\", outside "
              "gateway.dockerdCgroup \"/dockerd.slice\"");
    }
    SUBCASE("dockerd restarting: what was guarded stays, if it is still the same cgroup") {
        std::vector<GuardedCgroup> before = spec->cgroups;
        auto kept = loopback_guard_spec(config, {}, "/user.slice", m, before);
        REQUIRE(kept);
        CHECK(kept->cgroups == before);
        auto anew = before;
        anew.front().id += 1; // systemd made the cgroup anew: the old id names nothing
        CHECK(error_of(config, {}, "/user.slice").starts_with("no dockerd is running"));
        auto gone = loopback_guard_spec(config, {}, "/user.slice", m, anew);
        REQUIRE_FALSE(gone);
        CHECK(gone.error().starts_with("no dockerd is running"));
    }
    SUBCASE("no cgroup v2") {
        CHECK(error_of(config, dockerd, "/", "x").find("does not exist") != std::string::npos);
        auto none = loopback_guard_spec(config, dockerd, "/", "");
        REQUIRE_FALSE(none);
        CHECK(none.error().starts_with("no cgroup v2 hierarchy is mounted"));
    }
}

TEST_CASE("loopback guard: the gateway's report, and the plugin's reading of it") {
    TempDir dir;
    fs::create_directories(dir.path / "cg/system.slice/docker.service");
    std::string mount = (dir.path / "cg").string();
    GatewayConfig config;
    config.ca_dir = (dir.path / "ca").string();
    fs::create_directories(config.ca_dir);
    std::uint64_t id = inode(dir.path / "cg/system.slice/docker.service");
    std::vector<DockerdCgroup> dockerd{{7, "/system.slice/docker.service"}};
    std::int64_t now = 1700000000;

    // No gateway in use: builds go on.
    CHECK(loopback_guard_problem(config, dockerd, mount, now) == "");
    config.present = true;
    std::string file = config.ca_dir + "/loopback-guard.json";
    CHECK(loopback_guard_problem(config, dockerd, mount, now) ==
          "the registry gateway has not reported it (" + file +
              " is missing): is `imagegate gateway` running?");

    LoopbackGuardStatus status;
    status.checked_at = now - 1;
    status.in_place = true;
    status.cgroups = {{"/system.slice/docker.service", id}};
    status.allowed = {"127.0.0.1:3128"};
    status.dockerd_pids = {7};
    status.hub_mirrors = {"mirror.example"};
    status.hub_mirror_lines = {"mirror.example  (/etc/docker/daemon.json)"};
    REQUIRE(write_loopback_guard_status(config.ca_dir, status));
    auto back = read_loopback_guard_status(config.ca_dir);
    REQUIRE(back);
    CHECK(back->cgroups == status.cgroups);
    CHECK(back->hub_mirrors == status.hub_mirrors);
    CHECK(back->hub_mirror_lines == status.hub_mirror_lines);
    CHECK(back->dockerd_pids == status.dockerd_pids);
    CHECK(loopback_guard_problem(config, dockerd, mount, now) == "");
    // dockerd in a cgroup below the guarded one is covered (the match takes descendants).
    CHECK(loopback_guard_problem(config, {{7, "/system.slice/docker.service/sub"}}, mount, now) ==
          "");
    CHECK(loopback_guard_problem(config, {{8, "/system.slice/other.service"}}, mount, now) ==
          "dockerd (pid 8) runs in cgroup \"/system.slice/other.service\", which the guard does "
          "not cover (it covers /system.slice/docker.service): dockerd moved or restarted; the "
          "gateway renews the guard within 2 s");
    CHECK(loopback_guard_problem(config, {}, mount, now) ==
          "no dockerd found (dockerSockets) whose cgroup could be checked");
    CHECK(loopback_guard_problem(config, dockerd, mount, now + 20) ==
          "the registry gateway last checked it 21 s ago (" + file +
              "): is `imagegate gateway` running?");
    config.loopback_guard = false;
    CHECK(loopback_guard_problem(config, dockerd, mount, now + 20) == "");
    config.loopback_guard = true;

    SUBCASE("the cgroup was made anew since") {
        status.cgroups = {{"/system.slice/docker.service", id + 1}};
        REQUIRE(write_loopback_guard_status(config.ca_dir, status));
        CHECK(loopback_guard_problem(config, dockerd, mount, now) ==
              "dockerd's cgroup \"/system.slice/docker.service\" was made anew since the guard "
              "named it (dockerd restarted): the gateway renews the guard within 2 s");
    }
    SUBCASE("not in place: the gateway's reason") {
        status.in_place = false;
        status.problem = "iptables: not found";
        REQUIRE(write_loopback_guard_status(config.ca_dir, status));
        CHECK(loopback_guard_problem(config, dockerd, mount, now) == "iptables: not found");
    }
    SUBCASE("a report that is not one") {
        std::ofstream(file) << "{\"checkedAt\": \"yesterday\"}";
        CHECK(loopback_guard_problem(config, dockerd, mount, now) ==
              file + ": not a loopback guard report");
    }
    SUBCASE("install-docker --gateway ran: the gateway is in use without a gateway key") {
        config.present = false;
        fs::remove(file);
        CHECK(loopback_guard_problem(config, dockerd, mount, now) == "");
        std::ofstream(config.ca_dir + "/installed.json") << "{}";
        CHECK(loopback_guard_problem(config, dockerd, mount, now).find("is missing") !=
              std::string::npos);
    }
}
