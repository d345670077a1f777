// install-docker / uninstall-docker: edit daemon.json safely, check dockerd's flags, reload.
#include "docker_setup/install_docker.hpp"
#include "common/files.hpp"
#include "common/unix_socket.hpp"

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace imagegate {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1; // flag conflict, plugin unreachable, write failure
constexpr int kExitUsage = 2;   // bad usage, or a daemon.json that cannot be edited

// ---- daemon.json text ----------------------------------------------------------------------

std::string line_and_column(std::string_view text, std::size_t offset) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

bool is_blank(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

Result<json::object> parse_daemon_json(std::string_view text, std::string_view file) {
    // dockerd treats an empty daemon.json as no configuration (daemon/config/config.go).
    if (is_blank(text))
        return json::object{};
    json::parse_options options;
    options.max_depth = kMaxDaemonJsonDepth;
    json::stream_parser parser({}, options);
    boost::system::error_code ec;
    std::size_t consumed = parser.write(text.data(), text.size(), ec);
    if (!ec)
        parser.finish(ec);
    if (ec) {
        return Error{std::string(file) + ": not valid JSON (" + ec.message() + " at " +
                     line_and_column(text, consumed) + "); not changed"};
    }
    json::value value = parser.release();
    if (!value.is_object()) {
        return Error{std::string(file) + ": not a JSON object (dockerd's daemon.json is one " +
                     "object of settings); not changed"};
    }
    return std::move(value.as_object());
}

void append_indent(std::string &out, int depth) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

// Two-space indentation, as Docker's documentation writes daemon.json.
void append_pretty(std::string &out, const json::value &value, int depth) {
    if (value.is_object() && !value.as_object().empty()) {
        out += "{\n";
        bool first = true;
        for (const auto &member : value.as_object()) {
            if (!first)
                out += ",\n";
            first = false;
            append_indent(out, depth + 1);
            out += json::serialize(json::string_view(member.key()));
            out += ": ";
            append_pretty(out, member.value(), depth + 1);
        }
        out += "\n";
        append_indent(out, depth);
        out += "}";
    } else if (value.is_array() && !value.as_array().empty()) {
        out += "[\n";
        bool first = true;
        for (const auto &element : value.as_array()) {
            if (!first)
                out += ",\n";
            first = false;
            append_indent(out, depth + 1);
            append_pretty(out, element, depth + 1);
        }
        out += "\n";
        append_indent(out, depth);
        out += "]";
    } else {
        out += json::serialize(value);
    }
}

std::string pretty(const json::object &object) {
    std::string out;
    append_pretty(out, json::value(object), 0);
    out += "\n";
    return out;
}

// The list, or null when absent; an error when it is there but not a list of strings.
Result<json::array *> plugin_list(json::object &object, std::string_view file) {
    auto it = object.find(kAuthorizationPluginsKey);
    if (it == object.end())
        return static_cast<json::array *>(nullptr);
    auto *list = it->value().if_array();
    bool strings = list && std::all_of(list->begin(), list->end(),
                                       [](const json::value &v) { return v.is_string(); });
    if (!strings) {
        return Error{std::string(file) + ": \"" + std::string(kAuthorizationPluginsKey) +
                     "\" is not a list of plugin names; not changed"};
    }
    return list;
}

} // namespace

Result<DaemonJsonEdit> add_authorization_plugin(std::string_view text, std::string_view name,
                                                std::string_view file) {
    auto object = parse_daemon_json(text, file);
    if (!object)
        return Error{object.error()};
    auto list = plugin_list(object.value(), file);
    if (!list)
        return Error{list.error()};
    DaemonJsonEdit edit;
    if (*list == nullptr) {
        object.value()[kAuthorizationPluginsKey] = json::array{json::string(name)};
        edit.changed = true;
    } else if (std::none_of((*list)->begin(), (*list)->end(),
                            [&](const json::value &v) { return v.as_string() == name; })) {
        (*list)->emplace_back(json::string(name));
        edit.changed = true;
    }
    edit.text = pretty(object.value());
    return edit;
}

Result<DaemonJsonEdit> remove_authorization_plugin(std::string_view text, std::string_view name,
                                                   std::string_view file) {
    auto object = parse_daemon_json(text, file);
    if (!object)
        return Error{object.error()};
    auto list = plugin_list(object.value(), file);
    if (!list)
        return Error{list.error()};
    DaemonJsonEdit edit;
    if (*list != nullptr) {
        json::array &plugins = **list;
        std::size_t before = plugins.size();
        json::array kept;
        for (const auto &plugin : plugins) {
            if (plugin.as_string() != name)
                kept.push_back(plugin);
        }
        edit.changed = kept.size() != before;
        if (kept.empty()) {
            object.value().erase(kAuthorizationPluginsKey);
        } else {
            plugins = std::move(kept);
        }
    }
    edit.text = pretty(object.value());
    return edit;
}

// ---- what runs on the host -----------------------------------------------------------------

namespace {

// At most limit + 1 bytes of PATH (the caller tells "larger than limit" from the size).
std::optional<std::string> read_small_file(const fs::path &path, std::size_t limit) {
    auto data = read_file_head(path.string(), limit + 1);
    if (!data)
        return std::nullopt;
    return std::move(data).value();
}

std::vector<std::string> split_nul(const std::string &data) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start < data.size()) {
        std::size_t end = data.find('\0', start);
        if (end == std::string::npos)
            end = data.size();
        parts.push_back(data.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

// pflag accepts "--flag=value" and "--flag value".
std::optional<std::string> flag_value(const std::vector<std::string> &argv, std::size_t &i,
                                      std::string_view flag) {
    const std::string &arg = argv[i];
    if (arg == flag) {
        if (i + 1 < argv.size())
            return argv[++i];
        return std::string();
    }
    if (arg.size() > flag.size() && arg.compare(0, flag.size(), flag) == 0 &&
        arg[flag.size()] == '=') {
        return arg.substr(flag.size() + 1);
    }
    return std::nullopt;
}

} // namespace

std::vector<DockerdProcess> find_dockerd_processes(const fs::path &proc_root) {
    std::vector<DockerdProcess> found;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(proc_root, ec)) {
        const std::string pid_text = entry.path().filename().string();
        if (pid_text.empty() || !std::all_of(pid_text.begin(), pid_text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        auto cmdline = read_small_file(entry.path() / "cmdline", 64 * 1024);
        if (!cmdline || cmdline->empty())
            continue;
        auto argv = split_nul(*cmdline);
        if (argv.empty() || fs::path(argv[0]).filename() != "dockerd")
            continue;
        DockerdProcess process;
        process.pid = std::stoi(pid_text);
        if (auto status = read_small_file(entry.path() / "status", 64 * 1024)) {
            auto uid = status->find("\nUid:\t");
            process.rootless = uid != std::string::npos && status->compare(uid + 6, 2, "0\t") != 0;
        }
        for (std::size_t i = 1; i < argv.size(); ++i) {
            if (auto v = flag_value(argv, i, "--authorization-plugin")) {
                process.authorization_plugin_flags.push_back(*v);
            } else if (auto c = flag_value(argv, i, "--config-file")) {
                process.config_file = *c;
            }
        }
        found.push_back(std::move(process));
    }
    std::sort(found.begin(), found.end(),
              [](const DockerdProcess &a, const DockerdProcess &b) { return a.pid < b.pid; });
    return found;
}

std::vector<std::string> find_flag_in_docker_units(const fs::path &root) {
    struct Line {
        std::string where;
        std::string text;
    };
    auto exec_start_lines = [](const fs::path &file) {
        std::vector<Line> lines;
        std::ifstream in(file);
        std::string line;
        int number = 0;
        while (std::getline(in, line)) {
            ++number;
            if (line.rfind("ExecStart=", 0) == 0)
                lines.push_back({file.string() + ":" + std::to_string(number), line});
        }
        return lines;
    };
    std::vector<Line> effective;
    for (const char *unit :
         {"etc/systemd/system/docker.service", "run/systemd/system/docker.service",
          "lib/systemd/system/docker.service", "usr/lib/systemd/system/docker.service"}) {
        if (fs::exists(root / unit)) {
            effective = exec_start_lines(root / unit);
            break;
        }
    }
    // Drop-ins apply in file-name order; an empty "ExecStart=" clears what came before.
    std::vector<fs::path> dropins;
    for (const char *dir :
         {"etc/systemd/system/docker.service.d", "run/systemd/system/docker.service.d",
          "lib/systemd/system/docker.service.d", "usr/lib/systemd/system/docker.service.d"}) {
        std::error_code ec;
        for (const auto &entry : fs::directory_iterator(root / dir, ec)) {
            if (entry.path().extension() == ".conf")
                dropins.push_back(entry.path());
        }
    }
    std::sort(dropins.begin(), dropins.end(),
              [](const fs::path &a, const fs::path &b) { return a.filename() < b.filename(); });
    for (const auto &dropin : dropins) {
        for (auto &line : exec_start_lines(dropin)) {
            if (line.text == "ExecStart=") {
                effective.clear();
            } else {
                effective.push_back(std::move(line));
            }
        }
    }
    std::vector<std::string> hits;
    for (const auto &line : effective) {
        if (line.text.find("--authorization-plugin") != std::string::npos)
            hits.push_back(line.where);
    }
    // Debian's docker.service passes $DOCKER_OPTS from /etc/default/docker.
    std::ifstream defaults(root / "etc/default/docker");
    std::string line;
    int number = 0;
    while (std::getline(defaults, line)) {
        ++number;
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#')
            continue;
        if (line.find("--authorization-plugin") != std::string::npos) {
            hits.push_back((root / "etc/default/docker").string() + ":" + std::to_string(number));
        }
    }
    return hits;
}

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
    auto text = read_small_file(current.target, kMaxDaemonJsonBytes);
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
