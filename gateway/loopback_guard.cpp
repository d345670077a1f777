#include "gateway/loopback_guard.hpp"

#include "common/files.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

extern char **environ;

namespace imagegate {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string kChain = kLoopbackGuardChain;
// The reject rules match connection attempts only (SYN without ACK): dockerd's answers on
// sockets it listens on (a -H tcp://127.0.0.1 API, docker-proxy's published ports) go on.
const std::string kSyn = "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN";
const std::string kReject = "-j REJECT --reject-with tcp-reset";

// A line of `iptables -S` as compared: no quotes (iptables quotes some values, not others),
// single spaces.
std::string normalized(std::string_view line) {
    std::string out;
    bool space = false;
    for (char c : line) {
        if (c == '"' || c == '\r')
            continue;
        if (c == ' ' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);)
        if (auto n = normalized(line); !n.empty())
            out.push_back(n);
    return out;
}

// "127.0.0.1:3128" → ("127.0.0.1", 3128, V4); "[::1]:24224" → ("::1", 24224, V6); the address
// as iptables prints it. False when it is not a literal address and port.
bool parse_address_port(std::string_view text, std::string &address, int &port, IpFamily &family) {
    std::string_view host, port_text;
    if (text.starts_with('[')) {
        auto end = text.find("]:");
        if (end == std::string_view::npos)
            return false;
        host = text.substr(1, end - 1);
        port_text = text.substr(end + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return false;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535)
        return false;
    char buffer[INET6_ADDRSTRLEN] = {};
    in_addr v4{};
    in6_addr v6{};
    std::string h(host);
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
        family = IpFamily::V4;
        address = inet_ntop(AF_INET, &v4, buffer, sizeof buffer);
        return true;
    }
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
        family = IpFamily::V6;
        address = inet_ntop(AF_INET6, &v6, buffer, sizeof buffer);
        return true;
    }
    return false;
}

std::string tool_of(IpFamily family) {
    return family == IpFamily::V4 ? "iptables" : "ip6tables";
}

// The program NAME on PATH, then in /usr/sbin and /sbin (a root shell's PATH may lack them).
std::string find_program(const std::string &name) {
    if (name.find('/') != std::string::npos)
        return name;
    std::string dirs = ::getenv("PATH") ? ::getenv("PATH") : "";
    dirs += ":/usr/sbin:/sbin:/usr/bin:/bin";
    std::istringstream in(dirs);
    for (std::string dir; std::getline(in, dir, ':');) {
        if (dir.empty())
            continue;
        std::string candidate = dir + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return "";
}

std::string first_line(std::string_view text) {
    std::string_view line = text.substr(0, text.find('\n'));
    return std::string(line.substr(0, 300));
}

} // namespace

std::vector<std::string> loopback_guard_rules(const LoopbackGuardSpec &spec, IpFamily family) {
    std::vector<std::string> rules;
    for (const auto &entry : spec.allowed) {
        std::string address;
        int port = 0;
        IpFamily f{};
        if (!parse_address_port(entry, address, port, f) || f != family)
            continue;
        rules.push_back("-A " + kChain + " -d " + address +
                        (family == IpFamily::V4 ? "/32" : "/128") + " -p tcp -m tcp --dport " +
                        std::to_string(port) + " -j RETURN");
    }
    std::vector<std::string> ranges =
        family == IpFamily::V4 ? std::vector<std::string>{"127.0.0.0/8"}
                               : std::vector<std::string>{"::1/128", "::ffff:127.0.0.0/104"};
    for (const auto &cgroup : spec.cgroups) {
        std::string match = "-m cgroup --path " + cgroup.path +
                            " -m comment --comment \"imagegate cgroup " +
                            std::to_string(cgroup.id) + "\" " + kReject;
        for (const auto &range : ranges) {
            rules.push_back("-A " + kChain + " -d " + range + " " + kSyn + " " + match);
            // iptables prints conntrack's address without a full-length prefix.
            std::string original = range == "::1/128" ? "::1" : range;
            rules.push_back("-A " + kChain + " " + kSyn + " -m conntrack --ctorigdst " + original +
                            " " + match);
        }
    }
    return rules;
}

std::string loopback_guard_difference(std::string_view listing, const LoopbackGuardSpec &spec,
                                      IpFamily family) {
    auto lines = lines_of(listing);
    const std::string jump = "-A OUTPUT -j " + kChain;
    bool exists = false;
    std::vector<std::string> chain, output;
    for (const auto &line : lines) {
        if (line == "-N " + kChain)
            exists = true;
        else if (line.starts_with("-A " + kChain + " "))
            chain.push_back(line);
        else if (line.starts_with("-A OUTPUT "))
            output.push_back(line);
    }
    std::string tool = tool_of(family);
    if (!exists)
        return tool + " has no chain " + kChain;
    if (output.empty() || output.front() != jump)
        return tool + ": the first rule of OUTPUT is not \"" + jump + "\"" +
               (output.empty() ? "" : " but \"" + output.front() + "\"");
    auto jumps = std::count_if(output.begin(), output.end(), [&](const std::string &l) {
        return l.find(" -j " + kChain) != std::string::npos ||
               l.find(" -g " + kChain) != std::string::npos;
    });
    if (jumps != 1)
        return tool + ": OUTPUT jumps to " + kChain + " " + std::to_string(jumps) + " times";
    std::vector<std::string> want;
    for (const auto &rule : loopback_guard_rules(spec, family))
        want.push_back(normalized(rule));
    if (chain == want)
        return "";
    for (std::size_t i = 0; i < std::max(chain.size(), want.size()); ++i) {
        if (i >= chain.size())
            return tool + ": " + kChain + " lacks \"" + want[i] + "\"";
        if (i >= want.size())
            return tool + ": " + kChain + " has a rule the guard does not make: \"" + chain[i] +
                   "\"";
        if (chain[i] != want[i])
            return tool + ": rule " + std::to_string(i + 1) + " of " + kChain + " is \"" +
                   chain[i] + "\", not \"" + want[i] + "\"";
    }
    return "";
}

std::string loopback_guard_restore_input(std::string_view listing, const LoopbackGuardSpec &spec,
                                         IpFamily family) {
    std::string input = "*filter\n:" + kChain + " - [0:0]\n"; // made, or emptied
    for (const auto &line : lines_of(listing))
        if (line == "-A OUTPUT -j " + kChain)
            input += "-D OUTPUT -j " + kChain + "\n";
    input += "-I OUTPUT 1 -j " + kChain + "\n";
    for (const auto &rule : loopback_guard_rules(spec, family))
        input += rule + "\n";
    return input + "COMMIT\n";
}

std::string loopback_guard_removal_input(std::string_view listing) {
    std::string deletions;
    bool exists = false;
    for (const auto &line : lines_of(listing)) {
        if (line == "-A OUTPUT -j " + kChain)
            deletions += "-D OUTPUT -j " + kChain + "\n";
        if (line == "-N " + kChain)
            exists = true;
    }
    if (!exists && deletions.empty())
        return "";
    std::string input = "*filter\n" + deletions;
    if (exists)
        input += ":" + kChain + " - [0:0]\n-X " + kChain + "\n";
    return input + "COMMIT\n";
}

Result<std::string> run_command(const std::vector<std::string> &argv, std::string_view input,
                                std::chrono::milliseconds timeout) {
    std::string command;
    for (const auto &a : argv)
        command += (command.empty() ? "" : " ") + a;
    if (argv.empty())
        return Error{"no command"};
    std::string program = find_program(argv[0]);
    if (program.empty())
        return Error{argv[0] + ": not found (install it: the loopback guard needs it; "
                               "docs/gateway.md, \"Loopback registries\")"};
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0)
        return Error{command + ": " + std::strerror(errno)};
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in[0]);
        ::close(in[1]);
        return Error{command + ": " + std::strerror(errno)};
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        for (int fd : {in[0], in[1], out[0], out[1]})
            ::close(fd);
        return Error{command + ": " + std::strerror(errno)};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    // The gateway blocks SIGHUP/SIGTERM and ignores SIGPIPE; the command gets the defaults.
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char *> args;
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    int spawned = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    for (int fd : {in[0], out[1], err[1]})
        ::close(fd);
    if (spawned != 0) {
        for (int fd : {in[1], out[0], err[0]})
            ::close(fd);
        return Error{command + ": cannot start: " + std::strerror(spawned)};
    }
    for (int fd : {in[1], out[0], err[0]})
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string stdout_text, stderr_text;
    std::size_t written = 0;
    int to_child = in[1];
    if (input.empty()) {
        ::close(to_child);
        to_child = -1;
    }
    int from_out = out[0], from_err = err[0];
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    while (from_out >= 0 || from_err >= 0 || to_child >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p[3] = {{from_out, POLLIN, 0}, {from_err, POLLIN, 0}, {to_child, POLLOUT, 0}};
        int n = ::poll(p, 3, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        char buffer[8192];
        for (int i = 0; i < 2; ++i) {
            int &fd = i == 0 ? from_out : from_err;
            if (fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = ::read(fd, buffer, sizeof buffer);
            if (got > 0) {
                std::string &text = i == 0 ? stdout_text : stderr_text;
                if (text.size() < (4u << 20))
                    text.append(buffer, static_cast<std::size_t>(got));
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                ::close(fd);
                fd = -1;
            }
        }
        if (to_child >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t put = ::write(to_child, input.data() + written, input.size() - written);
            if (put > 0)
                written += static_cast<std::size_t>(put);
            if ((put < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
                ::close(to_child);
                to_child = -1;
            }
        }
    }
    for (int fd : {to_child, from_out, from_err})
        if (fd >= 0)
            ::close(fd);
    if (timed_out)
        ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return Error{command + ": no answer within " + std::to_string(timeout.count() / 1000) +
                     " s"};
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return Error{command + ": " +
                     (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : std::string("killed by a signal")) +
                     (stderr_text.empty() ? "" : ": " + first_line(stderr_text))};
    return stdout_text;
}

namespace {
// The families the guard covers: IPv4, and IPv6 when the host has it.
std::vector<IpFamily> guarded_families(bool ipv6) {
    std::vector<IpFamily> families{IpFamily::V4};
    if (ipv6)
        families.push_back(IpFamily::V6);
    return families;
}

// `iptables -S` of the filter table, and iptables-restore --noflush of INPUT, for FAMILY.
Result<std::string> filter_listing(const CommandRunner &run, IpFamily family) {
    return run({tool_of(family), "-w", "-t", "filter", "-S"}, "");
}
Result<std::string> restore(const CommandRunner &run, IpFamily family, std::string_view input) {
    return run({tool_of(family) + "-restore", "-w", "--noflush"}, input);
}
} // namespace

LoopbackGuardOutcome keep_loopback_guard(const LoopbackGuardSpec &spec, const CommandRunner &run,
                                         bool ipv6, bool install) {
    LoopbackGuardOutcome outcome;
    for (IpFamily family : guarded_families(ipv6)) {
        auto listing = filter_listing(run, family);
        if (!listing) {
            outcome.problem = listing.error();
            return outcome;
        }
        std::string difference = loopback_guard_difference(*listing, spec, family);
        if (difference.empty())
            continue;
        if (!install) {
            outcome.problem = difference;
            return outcome;
        }
        auto restored = restore(run, family, loopback_guard_restore_input(*listing, spec, family));
        if (!restored) {
            outcome.problem = restored.error();
            return outcome;
        }
        auto after = filter_listing(run, family);
        if (!after) {
            outcome.problem = after.error();
            return outcome;
        }
        if (std::string still = loopback_guard_difference(*after, spec, family); !still.empty()) {
            outcome.problem = "installed, but " + still;
            return outcome;
        }
        outcome.changed = true;
    }
    outcome.in_place = true;
    return outcome;
}

Result<bool> remove_loopback_guard(const CommandRunner &run, bool ipv6) {
    bool removed = false;
    for (IpFamily family : guarded_families(ipv6)) {
        auto listing = filter_listing(run, family);
        if (!listing)
            return Error{listing.error()};
        std::string input = loopback_guard_removal_input(*listing);
        if (input.empty())
            continue;
        if (auto r = restore(run, family, input); !r)
            return Error{r.error()};
        removed = true;
    }
    return removed;
}

bool ipv6_enabled() {
    std::error_code ec;
    return fs::exists("/proc/net/if_inet6", ec);
}

std::string cgroup2_mount(std::string_view mountinfo, std::string &problem) {
    std::istringstream in{std::string(mountinfo)};
    for (std::string line; std::getline(in, line);) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos)
            continue;
        std::istringstream after(line.substr(dash + 3));
        std::string type;
        after >> type;
        if (type != "cgroup2")
            continue;
        std::istringstream before(line.substr(0, dash));
        std::string id, parent, device, root, mount_point;
        before >> id >> parent >> device >> root >> mount_point;
        std::string unescaped;
        for (std::size_t i = 0; i < mount_point.size(); ++i) {
            if (mount_point[i] == '\\' && i + 3 < mount_point.size() &&
                std::isdigit(static_cast<unsigned char>(mount_point[i + 1]))) {
                unescaped += static_cast<char>(std::stoi(mount_point.substr(i + 1, 3), nullptr, 8));
                i += 3;
            } else {
                unescaped += mount_point[i];
            }
        }
        if (root != "/") {
            problem = "the cgroup v2 hierarchy at " + unescaped + " shows the subtree " + root +
                      ", not its root (a cgroup namespace): the firewall matches paths from the "
                      "root";
            continue;
        }
        problem.clear();
        return unescaped;
    }
    if (problem.empty())
        problem = "no cgroup v2 hierarchy is mounted (a cgroup v1-only host): the loopback guard "
                  "matches dockerd by its cgroup v2 path";
    return "";
}

std::string cgroup_v2_path(std::string_view proc_cgroup) {
    std::istringstream in{std::string(proc_cgroup)};
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("0::"))
            return line.substr(3);
    return "";
}

std::optional<std::uint64_t> cgroup_id(const std::string &mount, const std::string &path) {
    struct stat st {};
    std::string dir = path == "/" ? mount : mount + path;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return std::nullopt;
    return static_cast<std::uint64_t>(st.st_ino);
}

Result<LoopbackGuardSpec> loopback_guard_spec(const GatewayConfig &config,
                                              const std::vector<DockerdCgroup> &dockerds,
                                              const std::string &own_cgroup,
                                              const std::string &mount,
                                              const std::vector<GuardedCgroup> &previous) {
    LoopbackGuardSpec spec;
    std::string address;
    int port = 0;
    IpFamily family{};
    if (!parse_address_port(config.listen, address, port, family) ||
        !is_loopback_host(config.listen))
        return Error{"gateway.listen \"" + config.listen +
                     "\" is not a loopback IP address and port: the guard lets dockerd reach the "
                     "gateway there and nowhere else on loopback"};
    spec.allowed.push_back(config.listen);
    for (const auto &a : config.loopback_allow)
        spec.allowed.push_back(a);
    if (mount.empty())
        return Error{"no cgroup v2 hierarchy is mounted (a cgroup v1-only host): the loopback "
                     "guard matches dockerd by its cgroup v2 path"};
    std::vector<std::string> paths;
    auto inside = [](const std::string &path, const std::string &cgroup) {
        return path == cgroup || (cgroup != "/" && path.starts_with(cgroup + "/"));
    };
    if (!config.dockerd_cgroup.empty()) {
        paths.push_back(config.dockerd_cgroup);
        for (const auto &d : dockerds)
            if (!inside(d.cgroup, config.dockerd_cgroup))
                return Error{"dockerd (pid " + std::to_string(d.pid) + ") runs in cgroup \"" +
                             d.cgroup + "\", outside gateway.dockerdCgroup \"" +
                             config.dockerd_cgroup + "\""};
    } else {
        if (dockerds.empty()) {
            for (const auto &p : previous)
                if (auto id = cgroup_id(mount, p.path); id && *id == p.id)
                    spec.cgroups.push_back(p);
            if (!spec.cgroups.empty())
                return spec;
            return Error{"no dockerd is running (none answers on dockerSockets): nothing to guard "
                         "yet (or set gateway.dockerdCgroup)"};
        }
        for (const auto &d : dockerds) {
            if (d.cgroup.empty())
                return Error{"dockerd (pid " + std::to_string(d.pid) +
                             ") has no cgroup v2 path (a cgroup v1-only host)"};
            if (d.cgroup == "/")
                return Error{"dockerd (pid " + std::to_string(d.pid) +
                             ") runs in the root cgroup, with every other process: run it in a "
                             "cgroup of its own (systemd's docker.service does) or set "
                             "gateway.dockerdCgroup"};
            if (std::find(paths.begin(), paths.end(), d.cgroup) == paths.end())
                paths.push_back(d.cgroup);
        }
    }
    for (const auto &path : paths) {
        if (path.find_first_of(" \t\n\"'") != std::string::npos || !path.starts_with('/'))
            return Error{"dockerd's cgroup \"" + path + "\" cannot be named in a firewall rule"};
        if (inside(own_cgroup, path))
            return Error{"dockerd's cgroup \"" + path + "\" also holds imagegate gateway itself (" +
                         own_cgroup +
                         "): run dockerd in a cgroup of its own (systemd's docker.service does)"};
        auto id = cgroup_id(mount, path);
        if (!id)
            return Error{"dockerd's cgroup \"" + path + "\" does not exist under " + mount};
        spec.cgroups.push_back({path, *id});
    }
    return spec;
}

std::string loopback_guard_status_json(const LoopbackGuardStatus &s) {
    json::object o;
    o["checkedAt"] = s.checked_at;
    o["enabled"] = s.enabled;
    o["inPlace"] = s.in_place;
    o["problem"] = s.problem;
    json::array cgroups;
    for (const auto &c : s.cgroups)
        cgroups.push_back(json::object{{"path", c.path}, {"id", c.id}});
    o["cgroups"] = std::move(cgroups);
    o["allowed"] = json::array(s.allowed.begin(), s.allowed.end());
    o["dockerdPids"] = json::array(s.dockerd_pids.begin(), s.dockerd_pids.end());
    o["hubMirrors"] = json::array(s.hub_mirrors.begin(), s.hub_mirrors.end());
    o["hubMirrorSources"] = json::array(s.hub_mirror_lines.begin(), s.hub_mirror_lines.end());
    return json::serialize(o);
}

Result<LoopbackGuardStatus> parse_loopback_guard_status(std::string_view text,
                                                        std::string_view file) {
    std::error_code ec;
    json::value v = json::parse(text, ec);
    auto bad = [&] { return Error{std::string(file) + ": not a loopback guard report"}; };
    if (ec || !v.is_object())
        return bad();
    const json::object &o = v.as_object();
    LoopbackGuardStatus s;
    auto *checked = o.if_contains("checkedAt");
    auto *in_place = o.if_contains("inPlace");
    if (!checked || !checked->is_int64() || !in_place || !in_place->is_bool())
        return bad();
    s.checked_at = checked->as_int64();
    s.in_place = in_place->as_bool();
    if (auto *e = o.if_contains("enabled"); e && e->is_bool())
        s.enabled = e->as_bool();
    if (auto *p = o.if_contains("problem"); p && p->is_string())
        s.problem = std::string(p->as_string());
    if (auto *c = o.if_contains("cgroups"); c && c->is_array())
        for (const auto &e : c->as_array()) {
            if (!e.is_object())
                return bad();
            auto *path = e.as_object().if_contains("path");
            auto *id = e.as_object().if_contains("id");
            if (!path || !path->is_string() || !id || !(id->is_uint64() || id->is_int64()))
                return bad();
            s.cgroups.push_back(
                {std::string(path->as_string()),
                 id->is_uint64() ? id->as_uint64() : static_cast<std::uint64_t>(id->as_int64())});
        }
    auto strings = [&](std::string_view key, std::vector<std::string> &out) {
        if (auto *a = o.if_contains(key); a && a->is_array())
            for (const auto &e : a->as_array())
                if (e.is_string())
                    out.emplace_back(e.as_string());
    };
    strings("allowed", s.allowed);
    strings("hubMirrors", s.hub_mirrors);
    strings("hubMirrorSources", s.hub_mirror_lines);
    if (auto *a = o.if_contains("dockerdPids"); a && a->is_array())
        for (const auto &e : a->as_array())
            if (e.is_int64())
                s.dockerd_pids.push_back(static_cast<int>(e.as_int64()));
    return s;
}

Result<void> write_loopback_guard_status(const std::string &ca_dir,
                                         const LoopbackGuardStatus &status) {
    AtomicWrite how;
    how.mode = 0644;
    how.sync = false; // rewritten every 2 s; a crash loses nothing the next check does not redo
    return write_file_atomically(ca_dir + "/" + kLoopbackGuardStatusFile,
                                 loopback_guard_status_json(status) + "\n", how);
}

Result<LoopbackGuardStatus> read_loopback_guard_status(const std::string &ca_dir, bool *missing) {
    std::string file = ca_dir + "/" + kLoopbackGuardStatusFile;
    auto text = read_file(file, 1024 * 1024, Links::Refuse, missing);
    if (!text)
        return Error{text.error()};
    return parse_loopback_guard_status(*text, file);
}

bool gateway_in_use(const GatewayConfig &config) {
    std::error_code ec;
    // install-docker --gateway's list of what it made (docker_setup: kGatewayManifest).
    return config.present || fs::exists(config.ca_dir + "/installed.json", ec);
}

std::string loopback_guard_problem(const GatewayConfig &config,
                                   const std::vector<DockerdCgroup> &dockerds,
                                   const std::string &mount, std::int64_t now) {
    if (!config.loopback_guard || !gateway_in_use(config))
        return "";
    bool missing = false;
    auto status = read_loopback_guard_status(config.ca_dir, &missing);
    std::string file = config.ca_dir + "/" + kLoopbackGuardStatusFile;
    if (!status)
        return missing ? "the registry gateway has not reported it (" + file +
                             " is missing): is `imagegate gateway` running?"
                       : status.error();
    std::int64_t age = now - status->checked_at;
    if (age > kLoopbackGuardFreshSeconds || age < -kLoopbackGuardFreshSeconds)
        return "the registry gateway last checked it " + std::to_string(age) + " s ago (" + file +
               "): is `imagegate gateway` running?";
    if (!status->in_place)
        return status->problem.empty() ? "the registry gateway reports it missing"
                                       : status->problem;
    if (dockerds.empty())
        return "no dockerd found (dockerSockets) whose cgroup could be checked";
    for (const auto &d : dockerds) {
        const GuardedCgroup *cover = nullptr;
        for (const auto &c : status->cgroups)
            if (d.cgroup == c.path || (c.path != "/" && d.cgroup.starts_with(c.path + "/")))
                cover = &c;
        std::string covered;
        for (const auto &c : status->cgroups)
            covered += (covered.empty() ? "" : ", ") + c.path;
        if (!cover)
            return "dockerd (pid " + std::to_string(d.pid) + ") runs in cgroup \"" + d.cgroup +
                   "\", which the guard does not cover (it covers " +
                   (covered.empty() ? "none" : covered) +
                   "): dockerd moved or restarted; the gateway renews the guard within 2 s";
        auto id = cgroup_id(mount, cover->path);
        if (!id || *id != cover->id)
            return "dockerd's cgroup \"" + cover->path +
                   "\" was made anew since the guard named it (dockerd restarted): the gateway "
                   "renews the guard within 2 s";
    }
    return "";
}

} // namespace imagegate
