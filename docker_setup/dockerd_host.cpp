// What runs on the host: the dockerd processes (/proc: flags, cgroup, network namespace), the
// dockerd behind a Docker socket, and the places that start dockerd with
// --authorization-plugin (systemd units, /etc/default/docker).
#include "docker_setup/install_docker.hpp"

#include "common/files.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace imagegate {

namespace fs = std::filesystem;

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

std::optional<DockerdProcess> read_dockerd_process(const fs::path &proc_root, int pid) {
    fs::path dir = proc_root / std::to_string(pid);
    auto cmdline = read_small_file(dir / "cmdline", 64 * 1024);
    if (!cmdline || cmdline->empty())
        return std::nullopt;
    auto argv = split_nul(*cmdline);
    if (argv.empty() || fs::path(argv[0]).filename() != "dockerd")
        return std::nullopt;
    DockerdProcess process;
    process.pid = pid;
    if (auto status = read_small_file(dir / "status", 64 * 1024)) {
        auto uid = status->find("\nUid:\t");
        process.rootless = uid != std::string::npos && status->compare(uid + 6, 2, "0\t") != 0;
    }
    for (std::size_t i = 1; i < argv.size(); ++i) {
        if (auto v = flag_value(argv, i, "--authorization-plugin")) {
            process.authorization_plugin_flags.push_back(*v);
        } else if (auto c = flag_value(argv, i, "--config-file")) {
            process.config_file = *c;
        } else if (auto m = flag_value(argv, i, "--registry-mirror")) {
            process.registry_mirror_flags.push_back(*m);
        }
    }
    if (auto cgroups = read_small_file(dir / "cgroup", 64 * 1024)) {
        std::istringstream lines(*cgroups);
        for (std::string line; std::getline(lines, line);)
            if (line.starts_with("0::"))
                process.cgroup = line.substr(3);
    }
    std::error_code ec;
    auto ns = fs::read_symlink(dir / "ns" / "net", ec);
    if (!ec)
        process.net_namespace = ns.string();
    return process;
}

std::vector<DockerdProcess> find_dockerd_processes(const fs::path &proc_root) {
    std::vector<DockerdProcess> found;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(proc_root, ec)) {
        const std::string pid_text = entry.path().filename().string();
        if (pid_text.empty() || pid_text.size() > 9 ||
            !std::all_of(pid_text.begin(), pid_text.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        if (auto process = read_dockerd_process(proc_root, std::stoi(pid_text)))
            found.push_back(std::move(*process));
    }
    std::sort(found.begin(), found.end(),
              [](const DockerdProcess &a, const DockerdProcess &b) { return a.pid < b.pid; });
    return found;
}

namespace {

// The pid of the process that listens on the Unix socket PATH (its peer credentials); 0 when
// nothing answers.
int socket_listener_pid(const fs::path &path) {
    if (path.string().size() >= sizeof(sockaddr_un{}.sun_path))
        return 0;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    int pid = 0;
    if (::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0) {
        ucred credentials{};
        socklen_t length = sizeof credentials;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0)
            pid = credentials.pid;
    }
    ::close(fd);
    return pid;
}

} // namespace

std::vector<DockerdProcess> gateway_dockerds(const std::vector<std::string> &docker_sockets,
                                             const DockerHost &host) {
    fs::path proc = host.root / "proc";
    for (const auto &socket : docker_sockets) {
        fs::path path = fs::path(socket).is_absolute()
                            ? host.root / fs::path(socket).relative_path()
                            : fs::path(socket);
        int pid = socket_listener_pid(path);
        if (pid <= 0)
            continue;
        if (auto process = read_dockerd_process(proc, pid))
            return {std::move(*process)};
        break; // systemd's socket (fd://): find dockerd among the processes
    }
    std::error_code ec;
    std::string own_namespace = fs::read_symlink(proc / "self" / "ns" / "net", ec).string();
    std::vector<DockerdProcess> found;
    for (auto &process : find_dockerd_processes(proc)) {
        // A rootless dockerd has its own proxy settings; one in another network namespace is
        // out of reach of this namespace's firewall and this gateway's loopback address.
        if (process.rootless || (!own_namespace.empty() && !process.net_namespace.empty() &&
                                 process.net_namespace != own_namespace))
            continue;
        found.push_back(std::move(process));
    }
    return found;
}

std::string daemon_json_path(const DockerdProcess &process, const DockerHost &host) {
    if (!process.config_file.empty())
        return process.config_file;
    return (host.root / "etc/docker/daemon.json").string();
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

} // namespace imagegate
