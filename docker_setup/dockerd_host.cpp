// What runs on the host: the dockerd processes (/proc) and the places that start dockerd with
// --authorization-plugin (systemd units, /etc/default/docker).
#include "docker_setup/install_docker.hpp"

#include "common/files.hpp"

#include <algorithm>
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

} // namespace imagegate
