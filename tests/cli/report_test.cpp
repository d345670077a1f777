// cli/report_cmd.cpp: `imagegate report` over the fixture log — the table and the JSON,
// exactly — and its command line.
#include "cli/report_cmd.hpp"

#include "tests/decision_log/fixtures.hpp"

#include <doctest/doctest.h>

using namespace imagegate;
using namespace imagegate::testing;

namespace {

Report fixture_report(unsigned threads = 1, std::size_t block = kLogBlockBytes) {
    auto report = build_report(decision_log_files(rotated_log()), std::nullopt, threads, block);
    REQUIRE_MESSAGE(report.ok(), report.error());
    return report.value();
}

std::string expected(const std::string &name) {
    return replace_all(read_text(fixture_path("logs/" + name)), "@DIR@", rotated_dir());
}

} // namespace

TEST_CASE("report: the fixture log as a table") {
    CHECK(report_table(fixture_report(), rotated_log(), 20) == expected("rotated.report.txt"));
    auto ran = run_captured(run_report, {"--log", rotated_log()});
    CHECK(ran.status == 0);
    CHECK(ran.out == expected("rotated.report.txt"));
    CHECK(ran.err.empty());
}

TEST_CASE("report --json: the documented keys, every row") {
    CHECK(report_json(fixture_report()) == expected("rotated.report.json"));
    auto ran = run_captured(run_report, {"--json", "--log=" + rotated_log()});
    CHECK(ran.status == 0);
    CHECK(ran.out == expected("rotated.report.json"));
}

TEST_CASE("report: threads and block sizes change nothing") {
    std::string one = report_json(fixture_report());
    for (unsigned threads : {2u, 3u}) {
        for (std::size_t block : {std::size_t(5), std::size_t(100), kLogBlockBytes}) {
            CAPTURE(threads);
            CAPTURE(block);
            CHECK(report_json(fixture_report(threads, block)) == one);
        }
    }
}

TEST_CASE("report --top N cuts every list and says how many more") {
    std::string table = report_table(fixture_report(), rotated_log(), 2);
    CHECK(table.find("CATEGORY               TOTAL  ALLOWED  DENIED  WOULD DENY\n"
                     "docker-official            4        4       0           0\n"
                     "sponsored-open-source      4        0       0           4\n"
                     "  ... and 5 more (--top 0 or --json for all)\n") != std::string::npos);
    CHECK(table.find("References most often denied (7):\n") != std::string::npos);
    CHECK(table.find("docker.io/someone/tool:latest") == std::string::npos);
    CHECK(report_table(fixture_report(), rotated_log(), 0) ==
          report_table(fixture_report(), rotated_log(), 100));
}

TEST_CASE("report of an empty log, and of a window with nothing in it") {
    ScratchDir dir;
    write_text(dir.path / "decisions.jsonl", "");
    auto empty = build_report({dir / "decisions.jsonl"}, std::nullopt, 2);
    REQUIRE(empty.ok());
    CHECK(report_table(*empty, dir / "decisions.jsonl", 20) ==
          "Decision log: " + dir / "decisions.jsonl" + "\nNo decisions in the log.\n");
    CHECK(
        report_json(*empty) ==
        R"({"total":0,"allowed":0,"denied":0,"wouldDeny":0,"references":[],"otherDenials":[],"byCategory":[],)"
        R"("byRegistry":[],"byCause":[],"byTrustRule":[],"byKeyId":[],"byUser":[],"from":null,"to":null,"since":null,"files":[")" +
            dir / "decisions.jsonl" + R"("],"skippedLines":0})" + "\n");

    auto later = build_report(decision_log_files(rotated_log()),
                              parse_rfc3339_ms("2026-04-01T00:00:00Z"), 1);
    REQUIRE(later.ok());
    later.value().since_text = "1h";
    CHECK(report_table(*later, rotated_log(), 20)
              .starts_with("Decision log: " + rotated_log() +
                           " and 2 rotated files\n"
                           "No decisions since 2026-04-01T00:00:00.000Z (--since 1h).\n"
                           "4 lines skipped (torn, or not a decision):\n"));
}

TEST_CASE("report --since: only the window, and the table says which") {
    auto report = build_report(decision_log_files(rotated_log()),
                               parse_rfc3339_ms("2026-03-03T00:00:00Z"), 2);
    REQUIRE(report.ok());
    report.value().since_text = "1d";
    std::string table = report_table(*report, rotated_log(), 20);
    CHECK(table.find(
              "6 decisions from 2026-03-03T08:00:00.000Z to 2026-03-03T08:04:00.000Z (--since 1d: "
              "from "
              "2026-03-03T00:00:00.000Z)\n"
              "  2 allowed, 0 denied, 4 would be denied (audit mode: logged, not enforced)\n") !=
          std::string::npos);
    CHECK(report->references.size() == 2);
    CHECK(report->references[0].subject == "docker.io/curlimages/curl:latest");
    CHECK(report->references[0].count == 2);
    CHECK(report->references[0].users == std::vector<std::string>{"bob", "carol"});
}

TEST_CASE("report: bad usage and an unreadable log exit 2 and say why") {
    struct Row {
        Args args;
        std::string error;
    };
    ScratchDir dir;
    for (const Row &row : std::vector<Row>{
             {{"--log", rotated_log(), "--since", "5x"},
              "imagegate report: --since \"5x\" is not a duration: give a whole number and a unit, "
              "s, m, h, d or w "
              "(30m, 24h, 7d)\n"},
             {{"--log", dir / "none.jsonl"},
              "imagegate report: no decision log at " + dir / "none.jsonl" +
                  " (nor rotated files of it)\n"},
             {{"--config", dir / "none.json"},
              "imagegate report: " + dir / "none.json" +
                  ": cannot open: No such file or directory\n"},
             {{"--log"}, "imagegate report: --log needs a value\n"},
             {{"--verbose"}, "imagegate report: unknown option --verbose\n"},
             {{"decisions.jsonl"}, "imagegate report: unexpected argument \"decisions.jsonl\"\n"},
             {{"--top", "many"}, "imagegate report: --top takes a number, not \"many\"\n"},
         }) {
        CAPTURE(row.args);
        auto ran = run_captured(run_report, row.args);
        CHECK(ran.status == 2);
        CHECK(ran.out.empty());
        CHECK(ran.err.substr(0, row.error.size()) == row.error);
    }
    auto help = run_captured(run_report, {"--help"});
    CHECK(help.status == 0);
    CHECK(help.out.starts_with(
        "usage: imagegate report [--config FILE] [--log FILE] [--since DURATION] [--json]"));
}
