// What the decision-log tests share: the fixture logs, a scratch directory, captured output.
#pragma once
#include "cli/commands.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace imagegate::testing {

// tests/fixtures/logs/rotated: decisions.2.jsonl (oldest, enforce, policy 41), decisions.1.jsonl
// and decisions.jsonl (audit, policy 42), with a torn line, garbage, a blank line, a line
// without "decision", a non-ASCII user and an unterminated last line.
inline std::string fixture_path(const std::string &name) {
    return std::string(IMAGEGATE_SOURCE_DIR) + "/tests/fixtures/" + name;
}
inline std::string rotated_log() {
    return fixture_path("logs/rotated/decisions.jsonl");
}
inline std::string rotated_dir() {
    return fixture_path("logs/rotated");
}

inline std::string read_text(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_text(const std::filesystem::path &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// Every occurrence of FROM in TEXT replaced by TO.
inline std::string replace_all(std::string text, const std::string &from, const std::string &to) {
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

struct ScratchDir {
    std::filesystem::path path;
    ScratchDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "iglog.XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(const std::string &name) const { return (path / name).string(); }
};

// Runs a command with std::cout and std::cerr captured.
struct Ran {
    int status;
    std::string out, err;
};
inline Ran run_captured(int (*command)(const Args &), const Args &args) {
    std::ostringstream out, err;
    auto *old_out = std::cout.rdbuf(out.rdbuf());
    auto *old_err = std::cerr.rdbuf(err.rdbuf());
    int status = command(args);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    return {status, out.str(), err.str()};
}

// A line as imagegate writes it (decision_log/writer.cpp's key order).
inline std::string log_line(const std::string &time, const std::string &user,
                            const std::string &action, const std::string &reference,
                            const std::string &decision, const std::string &mode = "audit",
                            const std::string &category = "docker-official",
                            const std::string &registry = "docker.io") {
    return "{\"time\":\"" + time + "\",\"user\":\"" + user + "\",\"action\":\"" + action +
           "\",\"reference\":\"" + reference + "\",\"category\":\"" + category +
           "\",\"registry\":\"" + registry + "\",\"decision\":\"" + decision +
           "\",\"reason\":\"\",\"organization\":\"acme\",\"policySerial\":42,\"mode\":\"" + mode +
           "\",\"source\":\"dockerd\"}\n";
}

} // namespace imagegate::testing
