// `imagegate install-docker` / `uninstall-docker`: edit daemon.json safely (docker_setup/),
// check dockerd's flags and that the plugin answers, reload.
#include "cli/install_docker_cmd.hpp"

#include "common/files.hpp"
#include "common/unix_socket.hpp"
#include "docker_setup/install_docker.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <boost/json.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace imagegate {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1; // flag conflict, plugin unreachable, write failure
constexpr int kExitUsage = 2;   // bad usage, or a daemon.json that cannot be edited

} // namespace

namespace {

struct Options {
    std::string daemon_json; // empty: /etc/docker/daemon.json
    std::string name = kDefaultPluginName;
    bool force = false;
    bool reload = false;
    bool help = false;
};

constexpr const char *kInstallUsage =
    R"(usage: imagegate install-docker [--daemon-json FILE] [--name NAME] [--reload] [--force]

Adds NAME (default "imagegate") once to "authorization-plugins" in dockerd's daemon.json
(default /etc/docker/daemon.json), keeping every other key. Creates the file if it is absent;
saves what it replaces as FILE.imagegate.bak; writes atomically with the file's mode.

  --daemon-json FILE  the daemon.json to edit
  --name NAME         the plugin name in the list: "imagegate" for the socket at
                      /run/docker/plugins/imagegate.sock, "imagegate:latest" for the managed plugin
  --reload            check that the plugin answers, then send SIGHUP to the dockerd reading FILE
  --force             write even though dockerd is started with --authorization-plugin
  --gateway           point dockerd at the registry gateway instead (--gateway --help)

Exit status: 0 done (or nothing to do), 1 refused (flag conflict, plugin not answering, write
failed), 2 bad usage or a FILE that is not a JSON object (left unchanged).
)";

constexpr const char *kUninstallUsage =
    R"(usage: imagegate uninstall-docker [--daemon-json FILE] [--name NAME] [--reload]

Removes NAME (default "imagegate") from "authorization-plugins" in dockerd's daemon.json
(default /etc/docker/daemon.json), keeping every other key; drops the key when the list becomes
empty. Saves what it replaces as FILE.imagegate.bak; writes atomically with the file's mode.

  --daemon-json FILE  the daemon.json to edit
  --name NAME         the plugin name to remove ("imagegate:latest" for the managed plugin)
  --reload            send SIGHUP to the dockerd reading FILE afterwards
  --gateway           undo install-docker --gateway instead (--gateway --help)

Exit status: 0 done (or nothing to do), 1 write failed, 2 bad usage or a FILE that is not a
JSON object (left unchanged).
)";

Result<Options> parse_options(const Args &args, bool install) {
    Options options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string &arg = args[i];
        auto value_of = [&](std::string_view flag) -> std::optional<Result<std::string>> {
            if (arg == flag) {
                if (i + 1 >= args.size())
                    return Result<std::string>(Error{std::string(flag) + " needs a value"});
                return Result<std::string>(args[++i]);
            }
            if (arg.rfind(std::string(flag) + "=", 0) == 0)
                return Result<std::string>(arg.substr(flag.size() + 1));
            return std::nullopt;
        };
        if (arg == "--help" || arg == "-h") {
            options.help = true;
        } else if (auto v = value_of("--daemon-json")) {
            if (!*v)
                return Error{v->error()};
            if (v->value().empty())
                return Error{"--daemon-json needs a file"};
            options.daemon_json = v->value();
        } else if (auto n = value_of("--name")) {
            if (!*n)
                return Error{n->error()};
            if (n->value().empty())
                return Error{"--name needs a plugin name"};
            options.name = n->value();
        } else if (arg == "--reload") {
            options.reload = true;
        } else if (install && arg == "--force") {
            options.force = true;
        } else {
            return Error{"unknown argument \"" + arg + "\""};
        }
    }
    return options;
}

constexpr const char *kGatewayUsage =
    R"(usage: imagegate install-docker --gateway [--config FILE] [--certs-dir DIR]
                                [--dockerd-version X.Y] [--daemon-json FILE]
       imagegate uninstall-docker --gateway [--config FILE]

Points dockerd at the registry gateway (docs/gateway.md): makes the gateway CA if needed and
writes it to CERTS_DIR/HOST/ca.crt for each intercepted registry (imagegate-gateway-ca.crt
beside an admin's own ca.crt), writes the systemd drop-in
/etc/systemd/system/docker.service.d/imagegate-gateway.conf (the proxy environment for dockerd
< 23, SSL_CERT_DIR always) and, for dockerd >= 23, daemon.json "proxies". Docker Hub mirrors
(gateway.hubMirrors, dockerd's --registry-mirror and daemon.json registry-mirrors) are
intercepted too, and decided as docker.io. When dockerd runs, it installs the loopback guard:
firewall rules (iptables, ip6tables) that keep dockerd's cgroup off loopback registries, which
no proxy sees; builds are refused while it is not in place. What it created is listed in
CA_DIR/installed.json; uninstall-docker --gateway removes exactly that, and the guard (stop
imagegate gateway first, or it puts the guard back).

  --config FILE          the imagegate configuration (gateway.listen, caDir, certsDir, registries)
  --certs-dir DIR        instead of gateway.certsDir (default /etc/docker/certs.d)
  --dockerd-version X.Y  instead of asking `dockerd --version`
  --daemon-json FILE     the daemon.json of a dockerd >= 23 (default /etc/docker/daemon.json)
)";

// The flags after --gateway; nullopt when --gateway is not among ARGS.
std::optional<Result<GatewaySetup>> gateway_options(const Args &args, bool &help) {
    if (std::find(args.begin(), args.end(), "--gateway") == args.end())
        return std::nullopt;
    GatewaySetup setup;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string &arg = args[i];
        std::string *target = arg == "--config"            ? &setup.config_flag
                              : arg == "--certs-dir"       ? &setup.certs_dir
                              : arg == "--dockerd-version" ? &setup.dockerd_version
                              : arg == "--daemon-json"     ? &setup.daemon_json
                                                           : nullptr;
        if (target) {
            if (i + 1 >= args.size() || args[i + 1].empty())
                return Result<GatewaySetup>(Error{arg + " needs a value"});
            *target = args[++i];
        } else if (arg == "--help" || arg == "-h") {
            help = true;
        } else if (arg != "--gateway") {
            return Result<GatewaySetup>(Error{"unknown argument \"" + arg + "\" with --gateway"});
        }
    }
    return Result<GatewaySetup>(setup);
}

// install-docker/uninstall-docker --gateway; -1 when ARGS do not ask for it.
int maybe_gateway(const Args &args, bool install, const DockerHost &host, std::ostream &out,
                  std::ostream &err) {
    bool help = false;
    auto setup = gateway_options(args, help);
    if (!setup)
        return -1;
    if (help) {
        out << kGatewayUsage;
        return kExitOk;
    }
    if (!*setup) {
        err << "imagegate " << (install ? "install-docker" : "uninstall-docker") << ": "
            << setup->error() << "\n"
            << kGatewayUsage;
        return kExitUsage;
    }
    return install ? install_gateway(setup->value(), host, out, err)
                   : uninstall_gateway(setup->value(), host, out, err);
}

std::string errno_text() {
    return std::strerror(errno);
}

// Writes CONTENT to PATH atomically (common/files.hpp), with MODE and OWNER.
Result<bool> write_atomically(const fs::path &path, std::string_view content, mode_t mode,
                              std::optional<std::pair<uid_t, gid_t>> owner) {
    AtomicWrite how;
    how.mode = mode;
    how.owner = owner;
    if (auto written = write_file_atomically(path.string(), content, how); !written)
        return Error{written.error()};
    return true;
}

struct CurrentFile {
    fs::path target; // the file to replace: FILE, or what its symlink points to
    bool exists = false;
    std::string text;
    struct stat status {};
};

// Reads FILE (following a symlink, so the link stays a link). Errors name the file.
Result<CurrentFile> read_current(const std::string &file) {
    CurrentFile current;
    std::error_code ec;
    current.target = fs::path(file);
    if (fs::is_symlink(current.target, ec)) {
        auto resolved = fs::weakly_canonical(current.target, ec);
        if (ec)
            return Error{file + ": cannot resolve the symbolic link: " + ec.message()};
        current.target = resolved;
    }
    if (::stat(current.target.c_str(), &current.status) != 0) {
        if (errno == ENOENT)
            return current;
        return Error{file + ": " + errno_text()};
    }
    if (!S_ISREG(current.status.st_mode))
        return Error{file + ": not a regular file; not changed"};
    current.exists = true;
    // One byte more than the limit: a larger file is told from one at the limit.
    auto text = read_file_head(current.target.string(), kMaxDaemonJsonBytes + 1);
    if (!text)
        return Error{file + ": cannot read: " + errno_text()};
    if (text->size() > kMaxDaemonJsonBytes) {
        return Error{file + ": larger than " + std::to_string(kMaxDaemonJsonBytes) +
                     " bytes, not a daemon.json; not changed"};
    }
    current.text = std::move(*text);
    return current;
}

// Backup of the old content, then the new content; both keep the old file's mode and owner.
Result<bool> replace_with_backup(const std::string &file, const CurrentFile &current,
                                 const std::string &text, std::ostream &out) {
    mode_t mode = current.exists ? (current.status.st_mode & 07777) : 0644;
    std::optional<std::pair<uid_t, gid_t>> owner;
    if (current.exists)
        owner = std::make_pair(current.status.st_uid, current.status.st_gid);
    if (current.exists) {
        std::string backup = file + std::string(kBackupSuffix);
        auto saved = write_atomically(backup, current.text, mode, owner);
        if (!saved)
            return Error{saved.error()};
        out << "imagegate: saved the previous " << file << " as " << backup << "\n";
    } else {
        std::error_code ec;
        fs::path directory = current.target.parent_path();
        if (!directory.empty() && !fs::exists(directory, ec)) {
            fs::create_directories(directory, ec);
            if (ec)
                return Error{"cannot create " + directory.string() + ": " + ec.message()};
        }
    }
    return write_atomically(current.target, text, mode, owner);
}

bool same_file(const std::string &a, const std::string &b) {
    std::error_code ec;
    auto ca = fs::weakly_canonical(a, ec);
    if (ec)
        ca = a;
    auto cb = fs::weakly_canonical(b, ec);
    if (ec)
        cb = b;
    return ca == cb;
}

std::string default_daemon_json(const DockerHost &host) {
    return (host.root / fs::path(kDefaultDaemonJson).relative_path()).string();
}

// The daemon.json a dockerd reads: its --config-file, else /etc/docker/daemon.json for root's
// dockerd; empty for a rootless one (its user's ~/.config/docker/daemon.json).
std::string daemon_json_of(const DockerdProcess &process, const DockerHost &host) {
    if (!process.config_file.empty())
        return process.config_file;
    return process.rootless ? std::string() : default_daemon_json(host);
}

// The dockerd processes that read FILE.
std::vector<DockerdProcess> dockerd_reading(const std::string &file, const DockerHost &host) {
    std::vector<DockerdProcess> readers;
    for (auto &process : find_dockerd_processes(host.root / "proc")) {
        std::string config = daemon_json_of(process, host);
        if (!config.empty() && same_file(config, file))
            readers.push_back(std::move(process));
    }
    return readers;
}

std::string join(const std::vector<std::string> &items, std::string_view separator) {
    std::string joined;
    for (const auto &item : items) {
        if (!joined.empty())
            joined += separator;
        joined += item;
    }
    return joined;
}

// A legacy (v1) plugin NAME is found by dockerd at /run/docker/plugins/NAME.sock or
// NAME/NAME.sock (pkg/plugins/discovery.go). Managed plugins ("NAME:TAG") live elsewhere.
bool is_managed_plugin_name(const std::string &name) {
    return name.find(':') != std::string::npos;
}

std::vector<fs::path> legacy_socket_paths(const DockerHost &host, const std::string &name) {
    return {host.root / "run/docker/plugins" / (name + ".sock"),
            host.root / "run/docker/plugins" / name / (name + ".sock")};
}

// POST /Plugin.Activate as dockerd does; the plugin must answer {"Implements":["authz"]}.
Result<bool> activate_plugin(const fs::path &socket_path, std::chrono::milliseconds timeout) {
    const std::string request = "POST /Plugin.Activate HTTP/1.1\r\nHost: plugin.moby.localhost\r\n"
                                "Accept: application/vnd.docker.plugins.v1.2+json\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n";
    auto reply = unix_http_exchange(socket_path.string(), request, timeout, 64 * 1024);
    if (!reply)
        return Error{reply.error()};
    const std::string &response = reply->body;
    if (reply->status != 200)
        return Error{socket_path.string() + " answered Plugin.Activate with HTTP status " +
                     std::to_string(reply->status)};
    if (response.find("\"authz\"") == std::string::npos) {
        return Error{socket_path.string() +
                     " is not an authorization plugin (Plugin.Activate does not list authz)"};
    }
    return true;
}

// A reload that names a plugin dockerd cannot reach makes dockerd exit (cmd/dockerd/daemon.go
// reload: logrus.Fatalf on validateAuthzPlugins), so install --reload checks it first.
Result<bool> check_plugin_answers(const DockerHost &host, const std::string &name) {
    if (is_managed_plugin_name(name))
        return true; // enabled or not, `docker plugin ls` says
    std::string tried;
    for (const auto &path : legacy_socket_paths(host, name)) {
        std::error_code ec;
        if (!fs::exists(path, ec))
            continue;
        auto answered = activate_plugin(path, std::chrono::seconds(10));
        if (answered)
            return true;
        return Error{answered.error()};
    }
    return Error{"no plugin socket at " + legacy_socket_paths(host, name)[0].string()};
}

void print_reload_hint(std::ostream &out, const DockerHost &host) {
    std::error_code ec;
    if (fs::exists(host.root / "run/systemd/system", ec)) {
        out << "Reload dockerd to apply it: systemctl reload docker\n";
    } else {
        out << "Reload dockerd to apply it: kill -HUP $(pidof dockerd)\n";
    }
}

int reload_dockerd(const std::string &file, const DockerHost &host, std::ostream &out,
                   std::ostream &err) {
    auto readers = dockerd_reading(file, host);
    if (readers.empty()) {
        out << "imagegate: no running dockerd reads " << file
            << "; it takes effect when dockerd starts\n";
        return kExitOk;
    }
    int status = kExitOk;
    for (const auto &process : readers) {
        int rc =
            host.send_signal ? host.send_signal(process.pid, SIGHUP) : ::kill(process.pid, SIGHUP);
        if (rc != 0) {
            err << "imagegate: cannot send SIGHUP to dockerd (pid " << process.pid
                << "): " << errno_text() << "\n";
            status = kExitRefused;
        } else {
            out << "imagegate: sent SIGHUP to dockerd (pid " << process.pid << "): it re-reads "
                << file << "\n";
        }
    }
    return status;
}

// Prints the conflicts; true when there is one.
bool report_flag_conflicts(const std::string &file, const DockerHost &host, std::ostream &err) {
    bool conflict = false;
    for (const auto &process : dockerd_reading(file, host)) {
        if (process.authorization_plugin_flags.empty())
            continue;
        conflict = true;
        err << "imagegate: dockerd (pid " << process.pid << ") runs with --authorization-plugin="
            << join(process.authorization_plugin_flags, ",") << "\n";
    }
    for (const auto &where : find_flag_in_docker_units(host.root)) {
        conflict = true;
        err << "imagegate: " << where << " starts dockerd with --authorization-plugin\n";
    }
    if (conflict) {
        err << "imagegate: dockerd refuses to start when \"authorization-plugins\" is set both "
               "by flag and in "
            << file << ", and a reload empties a list given only by flag.\n"
            << "imagegate: remove the --authorization-plugin flags (list the plugins in " << file
            << " instead), then run this again; --force writes the file anyway\n";
    }
    return conflict;
}

void warn_other_config_files(const std::string &file, const DockerHost &host, std::ostream &err) {
    for (const auto &process : find_dockerd_processes(host.root / "proc")) {
        std::string config = daemon_json_of(process, host);
        if (!config.empty() && !same_file(config, file)) {
            err << "imagegate: warning: dockerd (pid " << process.pid << ") reads " << config
                << ", not " << file << "\n";
        }
    }
}

} // namespace

int install_docker(const Args &args, const DockerHost &host, std::ostream &out, std::ostream &err) {
    if (int gateway = maybe_gateway(args, true, host, out, err); gateway >= 0)
        return gateway;
    auto options = parse_options(args, true);
    if (!options) {
        err << "imagegate install-docker: " << options.error() << "\n" << kInstallUsage;
        return kExitUsage;
    }
    if (options->help) {
        out << kInstallUsage;
        return kExitOk;
    }
    const std::string file =
        options->daemon_json.empty() ? default_daemon_json(host) : options->daemon_json;
    auto current = read_current(file);
    if (!current) {
        err << "imagegate: " << current.error() << "\n";
        return kExitUsage;
    }
    auto edit = add_authorization_plugin(current->text, options->name, file);
    if (!edit) {
        err << "imagegate: " << edit.error() << "\n";
        return kExitUsage;
    }
    warn_other_config_files(file, host, err);
    if (report_flag_conflicts(file, host, err) && !options->force) {
        err << "imagegate: " << file << " not changed\n";
        return kExitRefused;
    }
    auto answers = check_plugin_answers(host, options->name);
    if (options->reload && !answers) {
        err << "imagegate: plugin \"" << options->name << "\" does not answer: " << answers.error()
            << "\n"
            << "imagegate: start it first (systemctl enable --now imagegate.socket): a dockerd "
               "reload that names an unreachable plugin makes dockerd exit. "
            << file << " not changed\n";
        return kExitRefused;
    }
    if (edit->changed) {
        auto written = replace_with_backup(file, current.value(), edit->text, out);
        if (!written) {
            err << "imagegate: " << written.error() << "; " << file << " not changed\n";
            return kExitRefused;
        }
        if (current->exists) {
            out << "imagegate: added \"" << options->name << "\" to \"" << kAuthorizationPluginsKey
                << "\" in " << file << "\n";
        } else {
            out << "imagegate: created " << file << " with \"" << kAuthorizationPluginsKey
                << "\": [\"" << options->name << "\"]\n";
        }
    } else {
        out << "imagegate: \"" << options->name << "\" is already in \"" << kAuthorizationPluginsKey
            << "\" of " << file << "; nothing changed\n";
    }
    if (options->reload)
        return reload_dockerd(file, host, out, err);
    if (!answers) {
        err << "imagegate: warning: plugin \"" << options->name << "\" does not answer ("
            << answers.error()
            << "): start it before reloading or starting dockerd (systemctl enable --now "
               "imagegate.socket), or dockerd exits on the reload and refuses to start\n";
    }
    if (edit->changed)
        print_reload_hint(out, host);
    return kExitOk;
}

int uninstall_docker(const Args &args, const DockerHost &host, std::ostream &out,
                     std::ostream &err) {
    if (int gateway = maybe_gateway(args, false, host, out, err); gateway >= 0)
        return gateway;
    auto options = parse_options(args, false);
    if (!options) {
        err << "imagegate uninstall-docker: " << options.error() << "\n" << kUninstallUsage;
        return kExitUsage;
    }
    if (options->help) {
        out << kUninstallUsage;
        return kExitOk;
    }
    const std::string file =
        options->daemon_json.empty() ? default_daemon_json(host) : options->daemon_json;
    auto current = read_current(file);
    if (!current) {
        err << "imagegate: " << current.error() << "\n";
        return kExitUsage;
    }
    if (!current->exists) {
        out << "imagegate: " << file << " does not exist; nothing changed\n";
        return kExitOk;
    }
    auto edit = remove_authorization_plugin(current->text, options->name, file);
    if (!edit) {
        err << "imagegate: " << edit.error() << "\n";
        return kExitUsage;
    }
    for (const auto &process : dockerd_reading(file, host)) {
        for (const auto &flag : process.authorization_plugin_flags) {
            if (flag == options->name) {
                err << "imagegate: warning: dockerd (pid " << process.pid
                    << ") still runs with --authorization-plugin=" << flag
                    << "; remove the flag from how dockerd is started\n";
            }
        }
    }
    if (!edit->changed) {
        out << "imagegate: \"" << options->name << "\" is not in \"" << kAuthorizationPluginsKey
            << "\" of " << file << "; nothing changed\n";
        return kExitOk;
    }
    auto written = replace_with_backup(file, current.value(), edit->text, out);
    if (!written) {
        err << "imagegate: " << written.error() << "; " << file << " not changed\n";
        return kExitRefused;
    }
    out << "imagegate: removed \"" << options->name << "\" from \"" << kAuthorizationPluginsKey
        << "\" of " << file << "\n";
    if (options->reload)
        return reload_dockerd(file, host, out, err);
    print_reload_hint(out, host);
    return kExitOk;
}

int run_install_docker(const Args &args) {
    return install_docker(args, DockerHost{}, std::cout, std::cerr);
}

int run_uninstall_docker(const Args &args) {
    return uninstall_docker(args, DockerHost{}, std::cout, std::cerr);
}

} // namespace imagegate
