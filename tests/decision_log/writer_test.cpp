// The decision log writer: whole lines, nothing lost across threads, flush, size rotation.
#include "decision_log/writer.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace imagegate;
namespace fs = std::filesystem;

namespace {
struct TempDir {
    fs::path path;
    TempDir() {
        std::string t = (fs::temp_directory_path() / "imagegate-log-test.XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~TempDir() { fs::remove_all(path); }
};

ImageDecision image(int n) {
    ImageDecision d;
    d.action = Action::Pull;
    d.normalized = "docker.io/acme/app" + std::to_string(n) + ":latest";
    d.registry = "docker.io";
    d.category = Category::Organization;
    d.allow = true;
    d.reason = "an organization namespace of acme";
    return d;
}

// Every line of every file of the log: each must be a JSON object; returns the references.
std::multiset<std::string> references_in(const fs::path &dir, std::size_t *files,
                                         std::uintmax_t *largest) {
    std::multiset<std::string> refs;
    *files = 0;
    *largest = 0;
    for (const auto &entry : fs::directory_iterator(dir)) {
        ++*files;
        *largest = std::max(*largest, fs::file_size(entry.path()));
        std::ifstream in(entry.path());
        std::string line;
        while (std::getline(in, line)) {
            boost::system::error_code ec;
            auto v = boost::json::parse(line, ec);
            REQUIRE_MESSAGE(!ec, "not a whole JSON line in " << entry.path() << ": " << line);
            refs.insert(std::string(v.as_object().at("reference").as_string()));
        }
    }
    return refs;
}
} // namespace

TEST_CASE("the asynchronous decision log loses no line across threads, flushes, and rotates on "
          "line boundaries") {
    TempDir dir;
    std::string path = (dir.path / "decisions.jsonl").string();
    const int threads = 4, per_thread = 2000;
    {
        DecisionLog log(path, 64 * 1024, 1000, true);
        LogContext context;
        context.organization = "acme";
        context.policy_serial = 7;
        std::vector<std::thread> writers;
        for (int t = 0; t < threads; ++t)
            writers.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i)
                    log.write_image(image(t * per_thread + i), context);
            });
        for (auto &w : writers)
            w.join();
        log.flush();
        std::size_t files = 0;
        std::uintmax_t largest = 0;
        auto refs = references_in(dir.path, &files, &largest);
        CHECK(refs.size() == threads * per_thread); // flushed: all there before the log closes
        CHECK(files > 1);                           // rotated
        CHECK(largest <= 64 * 1024);                // no file over the cap
        CHECK(fs::exists(dir.path / "decisions.1.jsonl"));
        for (int n = 0; n < threads * per_thread; ++n)
            REQUIRE(refs.count("docker.io/acme/app" + std::to_string(n) + ":latest") == 1);
    }
}

TEST_CASE("closing the asynchronous decision log writes what is pending; max files are kept") {
    TempDir dir;
    std::string path = (dir.path / "decisions.jsonl").string();
    {
        DecisionLog log(path, 4096, 2, true);
        LogContext context;
        for (int i = 0; i < 500; ++i)
            log.write_image(image(i), context);
    } // no flush: the destructor drains
    std::size_t files = 0;
    std::uintmax_t largest = 0;
    auto refs = references_in(dir.path, &files, &largest);
    CHECK(files == 3); // decisions.jsonl, .1, .2: older ones dropped
    CHECK(largest <= 4096);
    CHECK(refs.count("docker.io/acme/app499:latest") == 1); // the newest is kept
}

TEST_CASE("each decision log line names its cause") {
    LogContext c;
    c.organization = "acme";
    auto cause_of = [](const std::string &line) {
        return std::string(boost::json::parse(line).as_object().at("cause").as_string());
    };
    ImageDecision allowed = image(1);
    CHECK(cause_of(image_decision_line(allowed, c)) == "none");
    ImageDecision registry = image(2);
    registry.allow = false;
    registry.cause = Cause::Registry;
    CHECK(cause_of(image_decision_line(registry, c)) == "registry");
    // A denial no image explains: the request's own cause, with category "none" as before.
    std::string hardening =
        decision_line(c, "image.run", "", "none", "", false, "imagegate: ...", false, "hardening");
    CHECK(cause_of(hardening) == "hardening");
    CHECK(std::string(boost::json::parse(hardening).as_object().at("category").as_string()) ==
          "none");
}
