// install-docker --gateway / uninstall-docker --gateway (docs/gateway.md): the gateway CA where
// dockerd and BuildKit read it (certs.d, SSL_CERT_DIR), dockerd's proxy settings, and a list of
// what was created so that uninstall removes exactly that.
#include "docker_setup/install_docker.hpp"

#include "common/config.hpp"
#include "common/files.hpp"
#include "distribution/policy_source.hpp"
#include "gateway/ca.hpp"
#include "gateway/loopback_guard.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <set>

namespace imagegate {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int kOk = 0, kRefused = 1, kUsage = 2;

// What install created, kept in CA_DIR/installed.json.
struct Installed {
    std::set<std::string> files, dirs;
    std::string daemon_json; // where "proxies" was written, if it was
    std::string proxy_url;
    bool loopback_guard = false; // the loopback guard was installed
};

Installed read_installed(const std::string &path) {
    Installed in;
    auto text = read_file(path, 1024 * 1024);
    if (!text)
        return in;
    std::error_code ec;
    json::value v = json::parse(*text, ec);
    if (ec || !v.is_object())
        return in;
    auto strings = [&](std::string_view key, std::set<std::string> &out) {
        if (auto *a = v.as_object().if_contains(key); a && a->is_array())
            for (const auto &s : a->as_array())
                if (s.is_string())
                    out.emplace(s.as_string());
    };
    strings("files", in.files);
    strings("dirs", in.dirs);
    if (auto *d = v.as_object().if_contains("daemonJson"); d && d->is_string())
        in.daemon_json = std::string(d->as_string());
    if (auto *p = v.as_object().if_contains("proxyUrl"); p && p->is_string())
        in.proxy_url = std::string(p->as_string());
    if (auto *g = v.as_object().if_contains("loopbackGuard"); g && g->is_bool())
        in.loopback_guard = g->as_bool();
    return in;
}

Result<void> write_installed(const std::string &path, const Installed &in) {
    json::object o;
    o["files"] = json::array(in.files.begin(), in.files.end());
    o["dirs"] = json::array(in.dirs.begin(), in.dirs.end());
    if (!in.daemon_json.empty())
        o["daemonJson"] = in.daemon_json;
    if (!in.proxy_url.empty())
        o["proxyUrl"] = in.proxy_url;
    if (in.loopback_guard)
        o["loopbackGuard"] = true;
    AtomicWrite how;
    how.mode = 0600;
    return write_file_atomically(path, json::serialize(o) + "\n", how);
}

AtomicWrite readable() {
    AtomicWrite how;
    how.mode = 0644;
    return how;
}

// Creates DIR and its missing parents (0755), recording each one created.
Result<void> make_dirs(const fs::path &dir, Installed &installed) {
    std::vector<fs::path> missing;
    for (fs::path p = dir; !p.empty() && !fs::exists(p); p = p.parent_path())
        missing.push_back(p);
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
            return Error{"cannot create " + it->string() + ": " + std::strerror(errno)};
        installed.dirs.insert(it->string());
    }
    return {};
}

// The CA in certs.d/NAME for every intercepted registry.
Result<void> write_certs_d(const std::string &certs_dir, const std::vector<std::string> &registries,
                           const std::string &pem, Installed &installed, std::ostream &out) {
    for (const auto &registry : registries) {
        for (const auto &name : certs_d_names(registry)) {
            fs::path dir = fs::path(certs_dir) / name;
            if (auto made = make_dirs(dir, installed); !made)
                return made;
            fs::path file = dir / "ca.crt";
            bool missing = false;
            auto existing = read_file(file.string(), 1024 * 1024, Links::Follow, &missing);
            bool ours = installed.files.count(file.string()) > 0;
            if (!missing && !ours && !(existing && *existing == pem))
                file = dir / "imagegate-gateway-ca.crt"; // an admin's ca.crt stays
            bool was_there = fs::exists(file);
            if (auto w = write_file_atomically(file.string(), pem, readable()); !w)
                return Error{w.error()};
            if (!was_there || installed.files.count(file.string()))
                installed.files.insert(file.string());
            out << "imagegate: the gateway CA is in " << file.string() << "\n";
        }
    }
    return {};
}

std::string dockerd_version_text() {
    std::string text;
    if (FILE *p = ::popen("dockerd --version 2>/dev/null", "r")) {
        char buffer[256];
        while (std::fgets(buffer, sizeof buffer, p))
            text += buffer;
        ::pclose(p);
    }
    return text;
}

Result<void> edit_daemon_json(const std::string &file, bool add, const std::string &proxy_url,
                              std::ostream &out) {
    bool missing = false;
    auto text = read_file(file, kMaxDaemonJsonBytes, Links::Follow, &missing);
    if (!text && !missing)
        return Error{text.error()};
    std::string current = text ? *text : "";
    auto edit = add ? set_gateway_proxies(current, proxy_url, file)
                    : remove_gateway_proxies(current, proxy_url, file);
    if (!edit)
        return Error{edit.error()};
    if (!edit->changed)
        return {};
    if (!missing) {
        if (auto b = write_file_atomically(file + std::string(kBackupSuffix), current, readable());
            !b)
            return Error{b.error()};
    }
    if (auto w = write_file_atomically(file, edit->text, readable()); !w)
        return Error{w.error()};
    out << "imagegate: " << (add ? "set" : "removed") << " \"proxies\" in " << file << "\n";
    return {};
}

CommandRunner runner_of(const DockerHost &host) {
    if (host.run_command)
        return host.run_command;
    return [](const std::vector<std::string> &argv, std::string_view input) {
        return run_command(argv, input);
    };
}

bool host_has_ipv6(const DockerHost &host) {
    std::error_code ec;
    return fs::exists(host.root / "proc/net/if_inet6", ec);
}

std::string host_cgroup2_mount(const DockerHost &host) {
    std::string problem;
    auto mountinfo = read_file_head((host.root / "proc/self/mountinfo").string(), 4 << 20);
    return cgroup2_mount(mountinfo ? *mountinfo : "", problem);
}

std::vector<DockerdCgroup> cgroups_of(const std::vector<DockerdProcess> &dockerds) {
    std::vector<DockerdCgroup> out;
    for (const auto &d : dockerds)
        out.push_back({d.pid, d.cgroup});
    return out;
}

// Whether something answers on the gateway's listen address (a gateway that would put the
// loopback guard back).
bool gateway_answers(const std::string &listen) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
        return false;
    std::string host = listen.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']'))
        host = host.substr(1, host.size() - 2);
    int port = std::atoi(listen.c_str() + colon + 1);
    sockaddr_storage address{};
    socklen_t length = 0;
    auto *v4 = reinterpret_cast<sockaddr_in *>(&address);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&address);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        length = sizeof *v6;
    } else {
        return false;
    }
    int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool answers = ::connect(fd, reinterpret_cast<sockaddr *>(&address), length) == 0;
    ::close(fd);
    return answers;
}

} // namespace

int docker_major_version(std::string_view text) {
    auto at = text.find("version ");
    if (at == std::string_view::npos)
        at = 0;
    else
        at += 8;
    int major = 0;
    std::size_t digits = 0;
    while (at + digits < text.size() && text[at + digits] >= '0' && text[at + digits] <= '9' &&
           digits < 4)
        major = major * 10 + (text[at + digits++] - '0');
    return digits == 0 ? -1 : major;
}

std::string gateway_drop_in(std::string_view proxy_url, std::string_view trust_dir,
                            bool environment_proxy) {
    std::string p(proxy_url);
    std::string text =
        "# Written by `imagegate install-docker --gateway`; `imagegate uninstall-docker "
        "--gateway` removes it.\n"
        "# dockerd sends its registry connections through imagegate's registry gateway "
        "(docs/gateway.md).\n"
        "# SSL_CERT_DIR: dockerd 20.10 verifies registry-1.docker.io against the system roots "
        "only (never\n"
        "# certs.d); Go reads SSL_CERT_DIR as extra root directories and keeps the system "
        "bundle.\n"
        "[Service]\n";
    if (environment_proxy)
        text += "Environment=\"HTTP_PROXY=" + p + "\" \"HTTPS_PROXY=" + p +
                "\" \"NO_PROXY=\" \"http_proxy=" + p + "\" \"https_proxy=" + p +
                "\" \"no_proxy=\"\n";
    text += "Environment=\"SSL_CERT_DIR=" + std::string(trust_dir) + "\"\n";
    return text;
}

std::vector<std::string> find_proxy_settings(const fs::path &root) {
    static const char *kNames[] = {"HTTP_PROXY",    "HTTPS_PROXY",  "NO_PROXY",
                                   "http_proxy",    "https_proxy",  "no_proxy",
                                   "SSL_CERT_FILE", "SSL_CERT_DIR", "ALL_PROXY"};
    std::vector<fs::path> files{root / "etc/default/docker"};
    for (const char *dir :
         {"etc/systemd/system/docker.service.d", "run/systemd/system/docker.service.d",
          "lib/systemd/system/docker.service.d", "usr/lib/systemd/system/docker.service.d"}) {
        std::error_code ec;
        for (const auto &e : fs::directory_iterator(root / dir, ec))
            if (e.path().extension() == ".conf" && e.path() != root / kGatewayDropIn)
                files.push_back(e.path());
    }
    std::vector<std::string> found;
    for (const auto &file : files) {
        std::ifstream in(file);
        std::string line;
        for (int number = 1; std::getline(in, line); ++number) {
            if (line.starts_with('#'))
                continue;
            for (const char *name : kNames) {
                std::string n(name);
                auto at = line.find(n + "=");
                if (at != std::string::npos &&
                    (at == 0 || line[at - 1] == ' ' || line[at - 1] == '"' || line[at - 1] == '='))
                    found.push_back(file.string() + ":" + std::to_string(number) + ": " + n);
            }
        }
    }
    return found;
}

int install_gateway(const GatewaySetup &setup, const DockerHost &host, std::ostream &out,
                    std::ostream &err) {
    auto config = resolve_config(setup.config_flag, "");
    if (!config) {
        err << "imagegate: " << config.error() << "\n";
        return kUsage;
    }
    const GatewayConfig &g = config->gateway;
    std::string certs_dir = setup.certs_dir.empty() ? g.certs_dir : setup.certs_dir;
    auto policy = load_configured_policy(*config);
    if (!policy)
        err << "imagegate: warning: " << policy.error()
            << ": the gateway intercepts gateway.registries or docker.io alone\n";
    auto registries = gateway_registries(g, policy ? policy.value()->policy.get() : nullptr);
    // Docker Hub mirrors (docs/gateway.md, "Registry mirrors"): intercepted and decided as
    // docker.io, so the CA covers them and dockerd finds it in certs.d/MIRROR.
    auto dockerds = gateway_dockerds(config->docker_sockets, host);
    std::vector<std::string> mirror_problems;
    auto mirrors = find_hub_mirrors(g, dockerds, host, mirror_problems);
    for (const auto &p : mirror_problems)
        err << "imagegate: warning: " << p << "\n";
    for (const auto &m : mirrors) {
        if (!m.not_intercepted.empty())
            out << "imagegate: registry mirror " << m.written << " (" << m.source
                << "): not intercepted: " << m.not_intercepted << "\n";
        else
            out << "imagegate: Docker Hub mirror " << m.host << " (" << m.source
                << "): the gateway decides its requests as docker.io\n";
    }
    std::error_code ignored; // ensure_gateway_ca says what is wrong with the directory
    fs::create_directories(g.ca_dir, ignored);
    auto mirror_hosts = remember_hub_mirrors(g.ca_dir, intercepted_hub_mirrors(mirrors));
    if (!mirror_hosts) {
        err << "imagegate: " << mirror_hosts.error() << "\n";
        return kRefused;
    }
    for (const auto &h : *mirror_hosts)
        if (std::find(registries.begin(), registries.end(), h) == registries.end())
            registries.push_back(h);
    std::sort(registries.begin(), registries.end());
    auto ca = ensure_gateway_ca(g.ca_dir, registries);
    if (!ca) {
        err << "imagegate: gateway CA: " << ca.error() << "\n";
        return kRefused;
    }
    std::string manifest = g.ca_dir + "/" + kGatewayManifest;
    Installed installed = read_installed(manifest);
    std::string proxy_url = "http://" + g.listen;
    auto done = [&](Result<void> step) {
        if (step)
            return true;
        err << "imagegate: " << step.error() << "\n";
        if (auto w = write_installed(manifest, installed); !w)
            err << "imagegate: " << w.error() << "\n";
        return false;
    };
    if (!done(write_certs_d(certs_dir, registries, ca->cert_pem, installed, out)))
        return kRefused;

    std::string version =
        setup.dockerd_version.empty() ? dockerd_version_text() : setup.dockerd_version;
    int major = docker_major_version(version);
    if (major < 0)
        err << "imagegate: warning: cannot tell dockerd's version (`dockerd --version`: \""
            << version.substr(0, 80) << "\"): writing the proxy environment, as for 20.10\n";
    bool daemon_json_proxies = major >= 23;
    if (daemon_json_proxies) {
        std::string file = setup.daemon_json.empty()
                               ? (host.root / "etc/docker/daemon.json").string()
                               : setup.daemon_json;
        if (!done(edit_daemon_json(file, true, proxy_url, out)))
            return kRefused;
        installed.daemon_json = file;
        installed.proxy_url = proxy_url;
    }
    fs::path drop_in = host.root / kGatewayDropIn;
    if (!done(make_dirs(drop_in.parent_path(), installed)))
        return kRefused;
    std::string trust = g.ca_dir + "/" + kGatewayTrustDir;
    if (!done(write_file_atomically(
            drop_in.string(), gateway_drop_in(proxy_url, trust, !daemon_json_proxies), readable())))
        return kRefused;
    installed.files.insert(drop_in.string());
    int status = kOk;
    if (!g.loopback_guard) {
        err << "imagegate: warning: gateway.loopbackGuard is false: builds may pull FROM a "
               "loopback registry that nothing decides (docs/gateway.md, \"Loopback "
               "registries\")\n";
    } else if (dockerds.empty() && g.dockerd_cgroup.empty()) {
        out << "imagegate: loopback guard: no dockerd runs yet; imagegate gateway installs it "
               "once dockerd runs (builds are refused until then)\n";
    } else {
        auto own = read_file_head((host.root / "proc/self/cgroup").string(), 64 * 1024);
        auto spec = loopback_guard_spec(g, cgroups_of(dockerds), own ? cgroup_v2_path(*own) : "",
                                        host_cgroup2_mount(host));
        LoopbackGuardOutcome outcome;
        if (spec)
            outcome = keep_loopback_guard(*spec, runner_of(host), host_has_ipv6(host), true);
        else
            outcome.problem = spec.error();
        if (outcome.in_place) {
            installed.loopback_guard = true;
            std::string paths;
            for (const auto &c : spec->cgroups)
                paths += (paths.empty() ? "" : ", ") + c.path;
            std::string allowed;
            for (const auto &a : spec->allowed)
                allowed += (allowed.empty() ? "" : ", ") + a;
            out << "imagegate: loopback guard: " << kLoopbackGuardChain
                << " (iptables, ip6tables) refuses TCP from dockerd's cgroup " << paths
                << " to loopback except " << allowed << "\n";
        } else {
            err << "imagegate: loopback guard: " << outcome.problem
                << "\nimagegate: builds are refused until it is in place; gateway.loopbackGuard "
                   "false accepts that builds may pull from loopback registries undecided "
                   "(docs/gateway.md, \"Loopback registries\")\n";
            status = kRefused;
        }
    }
    if (!done(write_installed(manifest, installed)))
        return kRefused;
    out << "imagegate: wrote " << drop_in.string() << " (dockerd " << (major < 0 ? 20 : major)
        << ": proxy " << (daemon_json_proxies ? "in daemon.json" : "in its environment")
        << ", SSL_CERT_DIR=" << trust << ")\n";
    for (const auto &found : find_proxy_settings(host.root))
        err << "imagegate: warning: " << found
            << " is also set: values from an EnvironmentFile= or a later drop-in override the "
               "gateway's and may route pulls around it\n";
    out << "imagegate: next: systemctl enable --now imagegate-gateway.service; then "
           "systemctl daemon-reload && systemctl restart docker (a proxy change needs a "
           "restart; SIGHUP is not enough)\n";
    return status;
}

int uninstall_gateway(const GatewaySetup &setup, const DockerHost &host, std::ostream &out,
                      std::ostream &err) {
    auto config = resolve_config(setup.config_flag, "");
    if (!config) {
        err << "imagegate: " << config.error() << "\n";
        return kUsage;
    }
    std::string manifest = config->gateway.ca_dir + "/" + kGatewayManifest;
    Installed installed = read_installed(manifest);
    int status = kOk;
    if (!installed.daemon_json.empty()) {
        if (auto r = edit_daemon_json(installed.daemon_json, false, installed.proxy_url, out); !r) {
            err << "imagegate: " << r.error() << "\n";
            status = kRefused;
        }
    }
    // The loopback guard: put in by install-docker --gateway or by the gateway itself.
    auto reported = read_loopback_guard_status(config->gateway.ca_dir);
    if (installed.loopback_guard || (reported && !reported->cgroups.empty())) {
        if (gateway_answers(config->gateway.listen)) {
            err << "imagegate: imagegate gateway still answers on " << config->gateway.listen
                << " and would put the loopback guard back within 2 s: stop it (systemctl "
                   "disable --now imagegate-gateway.service), then run uninstall-docker "
                   "--gateway again to remove "
                << kLoopbackGuardChain << "\n";
            status = kRefused;
        } else if (auto removed = remove_loopback_guard(runner_of(host), host_has_ipv6(host));
                   !removed) {
            err << "imagegate: loopback guard: " << removed.error() << "\n";
            status = kRefused;
        } else {
            if (*removed)
                out << "imagegate: removed the loopback guard (" << kLoopbackGuardChain << ")\n";
            std::error_code ec;
            fs::remove(config->gateway.ca_dir + "/" + kLoopbackGuardStatusFile, ec);
        }
    }
    installed.files.insert((host.root / kGatewayDropIn).string());
    for (const auto &file : installed.files) {
        std::error_code ec;
        if (fs::remove(file, ec))
            out << "imagegate: removed " << file << "\n";
    }
    // Deepest first; a directory that now holds an admin's file stays.
    for (auto it = installed.dirs.rbegin(); it != installed.dirs.rend(); ++it) {
        if (::rmdir(it->c_str()) == 0)
            out << "imagegate: removed " << *it << "/\n";
    }
    std::error_code ec;
    if (status == kOk || !installed.loopback_guard)
        fs::remove(manifest, ec);
    out << "imagegate: the gateway CA stays in " << config->gateway.ca_dir
        << "; next: systemctl daemon-reload && systemctl restart docker\n";
    return status;
}

std::string build_loopback_guard_problem(const Config &config, const DockerHost &host,
                                         std::int64_t now) {
    if (!config.gateway.loopback_guard || !gateway_in_use(config.gateway))
        return "";
    return loopback_guard_problem(config.gateway,
                                  cgroups_of(gateway_dockerds(config.docker_sockets, host)),
                                  host_cgroup2_mount(host), now);
}

} // namespace imagegate
