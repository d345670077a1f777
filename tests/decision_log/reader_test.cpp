// decision_log/reader.cpp: the log's files, its lines, torn lines, limits, times.
#include "decision_log/reader.hpp"

#include "tests/decision_log/fixtures.hpp"

#include <doctest/doctest.h>

#include <sys/time.h>

#include <algorithm>
#include <mutex>

using namespace imagegate;
using namespace imagegate::testing;

namespace {

struct Collected {
    std::vector<std::string> lines; // "time user action reference decision"
    ScanSummary summary;
};

Collected scan(const std::vector<std::string> &files, std::size_t threads = 1,
               std::size_t block = kLogBlockBytes,
               std::optional<std::int64_t> since = std::nullopt) {
    Collected c;
    std::vector<std::vector<std::string>> parts(threads);
    std::vector<RecordVisitor> visitors;
    for (auto &part : parts) {
        visitors.push_back([&part](const LogRecord &r) {
            part.push_back(std::string(r.time) + " " + std::string(r.user) + " " +
                           std::string(r.action) + " " + std::string(r.reference) + " " +
                           (r.allow   ? "allow"
                            : r.audit ? "would-deny"
                                      : "deny") +
                           (r.tag_target ? " target" : ""));
        });
    }
    ScanOptions options;
    options.block_bytes = block;
    options.since_ms = since;
    auto summary = scan_decision_log(files, options, visitors);
    REQUIRE_MESSAGE(summary.ok(), summary.error());
    c.summary = summary.value();
    for (auto &part : parts)
        c.lines.insert(c.lines.end(), part.begin(), part.end());
    return c;
}

std::string skipped_text(const ScanSummary &s) {
    std::string out;
    for (const auto &e : s.skipped_examples)
        out += e.file + ":" + std::to_string(e.line) + ": " + e.problem + "\n";
    return replace_all(out, rotated_dir(), "@DIR@");
}

void set_mtime(const std::string &path, std::int64_t seconds) {
    timeval times[2] = {{seconds, 0}, {seconds, 0}};
    REQUIRE(::utimes(path.c_str(), times) == 0);
}

} // namespace

TEST_CASE("the rotated files come oldest first, named as spdlog's rotating sink and logrotate name "
          "them") {
    ScratchDir dir;
    for (std::string name :
         {"decisions.jsonl", "decisions.1.jsonl", "decisions.2.jsonl", "decisions.10.jsonl",
          "decisions.jsonl.3", "decisions.1.jsonl.gz", "decisions.01.jsonl", "decisions.x.jsonl",
          "decisions.jsonl.bak", "other.1.jsonl", "decisions..jsonl"})
        write_text(dir.path / name, "");
    std::filesystem::create_directory(dir.path / "decisions.4.jsonl"); // not a file
    CHECK(decision_log_files(dir / "decisions.jsonl") ==
          std::vector<std::string>{dir / "decisions.10.jsonl", dir / "decisions.jsonl.3",
                                   dir / "decisions.2.jsonl", dir / "decisions.1.jsonl",
                                   dir / "decisions.jsonl"});

    SUBCASE("a name without an extension rotates as NAME.N") {
        for (std::string name : {"decisions", "decisions.1", "decisions.2"})
            write_text(dir.path / name, "");
        CHECK(decision_log_files(dir / "decisions") == std::vector<std::string>{dir / "decisions.2",
                                                                                dir / "decisions.1",
                                                                                dir / "decisions"});
    }
    SUBCASE("rotated files are read when the log itself is gone") {
        std::filesystem::remove(dir.path / "decisions.jsonl");
        CHECK(decision_log_files(dir / "decisions.jsonl").back() == dir / "decisions.1.jsonl");
    }
    SUBCASE("nothing at all") {
        CHECK(decision_log_files(dir / "missing.jsonl").empty());
    }
}

TEST_CASE("a log line becomes a record; anything else is named") {
    LineScratch scratch;
    auto parse = [&](std::string_view line) { return parse_log_line(line, scratch); };

    SUBCASE("a line as imagegate writes it (the fast path)") {
        auto p = parse(
            R"J({"time":"2026-03-02T10:06:00.000Z","user":"bob","action":"image.tag","reference":"docker.io/acme/alpine:1","category":"organization","registry":"docker.io","decision":"deny","reason":"bob has no Writer or Manager grant on it (acme policy 42)","organization":"acme","policySerial":42,"mode":"audit","source":"dockerd","endpoint":"POST /images/alpine/tag","tagTarget":true})J");
        REQUIRE(p.record);
        const LogRecord &r = *p.record;
        CHECK(r.time == "2026-03-02T10:06:00.000Z");
        CHECK(r.time_ms == 1772445960000);
        CHECK(r.user == "bob");
        CHECK(r.action == "image.tag");
        CHECK(r.reference == "docker.io/acme/alpine:1");
        CHECK(r.category == "organization");
        CHECK(r.registry == "docker.io");
        CHECK(r.reason == "bob has no Writer or Manager grant on it (acme policy 42)");
        CHECK_FALSE(r.allow);
        CHECK(r.audit);
        CHECK(r.tag_target);
    }
    SUBCASE(
        "escapes, non-ASCII text and nested values go through Boost.JSON and come out decoded") {
        auto p = parse(
            R"J( {"time":"2026-03-02T10:07:00Z", "user":"zo\u00eb \"z\"", "action":"image.pull",
                           "reference":"quay.io\/x\/y:latest", "decision":"allow", "extra":{"a":[1,2]}, "mode":"enforce"} )J");
        REQUIRE(p.record);
        CHECK(p.record->user == "zoë \"z\"");
        CHECK(p.record->reference == "quay.io/x/y:latest");
        CHECK(p.record->allow);
        CHECK_FALSE(p.record->audit);
        CHECK(p.record->category.empty());
        auto raw =
            parse("{\"time\":\"2026-03-02T10:07:00Z\",\"user\":\"zoë\",\"action\":\"image.pull\","
                  "\"reference\":\"r\",\"decision\":\"deny\"}");
        REQUIRE(raw.record);
        CHECK(raw.record->user == "zoë");
    }
    SUBCASE("what is not a record, and why") {
        struct Row {
            std::string line, problem;
        };
        for (
            const Row &row : std::vector<Row>{
                {"not json at all", "not a JSON object"},
                {R"J({"time":"2026-03-01T09:02:00.000Z","user":"carol","action":"image.pu)J",
                 "not a JSON object"},
                {R"J({"time":"2026-03-01T09:02:00.000Z"} trailing)J", "not a JSON object"},
                {R"J([{"time":"2026-03-01T09:02:00.000Z"}])J", "not a JSON object"},
                {R"J({"time":1.2.3})J", "not a JSON object"},
                {R"J({"time":01})J", "not a JSON object"},
                {"{\"user\":\"a\tb\"}", "not a JSON object"},
                {R"J({"user":"\x"})J", "not a JSON object"},
                {R"J({})J", "no \"time\""},
                {R"J({"time":"yesterday","decision":"allow"})J",
                 "\"time\" is not an RFC 3339 time"},
                {R"J({"time":"2026-03-01T09:02:00Z","decision":"maybe"})J",
                 "no \"decision\" (allow or deny)"},
                {R"J({"time":"2026-03-01T09:02:00Z","decision":"deny","reference":""})J",
                 "no \"action\""},
                {R"J({"time":"2026-03-01T09:02:00Z","decision":"deny","action":"image.pull"})J",
                 "no \"reference\""},
                {R"J({"time":"2026-03-01T09:02:00Z","decision":"deny","action":"image.pull","reference":"","user":7})J",
                 "\"user\" is not a string"},
                {R"J({"time":"2026-03-01T09:02:00Z","decision":"deny","action":"image.pull","reference":"","reason":["x"]})J",
                 "\"reason\" is not a string"},
            }) {
            CAPTURE(row.line);
            auto p = parse(row.line);
            CHECK_FALSE(p.record);
            CHECK(p.problem == row.problem);
        }
    }
    SUBCASE("invalid UTF-8 (bytes a client sent) is read, and repaired") {
        auto p = parse(
            "{\"time\":\"2026-03-02T10:07:00Z\",\"user\":\"b\xffob\",\"action\":\"image.pull\","
            "\"reference\":\"docker.io/"
            "x\xc3\",\"registry\":\"\xed\xa0\x80\",\"decision\":\"deny\"}");
        REQUIRE(p.record);
        CHECK(p.record->user == "b\xEF\xBF\xBDob");
        CHECK(p.record->reference == "docker.io/x\xEF\xBF\xBD");
        CHECK(p.record->registry == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    }
    SUBCASE("a special byte anywhere in an 8-byte word is seen (the fast path reads words)") {
        for (std::size_t at = 0; at < 20; ++at) {
            CAPTURE(at);
            std::string head =
                "{\"time\":\"2026-03-02T10:07:00Z\",\"action\":\"image.pull\",\"reference\":\"r\","
                "\"decision\":\"deny\",\"user\":\"" +
                std::string(at, 'a');
            auto escaped = parse(head + "\\\"bbbbbbbbbb\"}");
            REQUIRE(escaped.record);
            CHECK(escaped.record->user == std::string(at, 'a') + "\"bbbbbbbbbb");
            auto accented = parse(head + "\xc3\xa9"
                                         "bbbbbbbbbb\"}");
            REQUIRE(accented.record);
            CHECK(accented.record->user == std::string(at, 'a') + "ébbbbbbbbbb");
            CHECK(parse(head + "\tbbbbbbbbbb\"}").problem == "not a JSON object");
            CHECK(parse(head + "bbbbbbbbbb").problem == "not a JSON object");
            // The fast path's views point into the line: it must outlive the record.
            std::string plain_line = head + "bbbbbbbbbb\"}";
            auto plain = parse(plain_line);
            REQUIRE(plain.record);
            CHECK(plain.record->user == std::string(at, 'a') + "bbbbbbbbbb");
        }
    }
    SUBCASE("a null user is the local socket") {
        auto p = parse(
            R"J({"time":"2026-03-01T09:02:00Z","decision":"deny","action":"other","reference":"","user":null})J");
        REQUIRE(p.record);
        CHECK(p.record->user.empty());
    }
}

TEST_CASE(
    "the fixture log: torn lines, garbage and an unterminated last line are counted and skipped") {
    auto c = scan(decision_log_files(rotated_log()));
    CHECK(c.summary.files.size() == 3);
    CHECK(c.summary.lines == 24);
    CHECK(c.summary.records == 20);
    CHECK(c.summary.skipped == 4);
    CHECK(c.summary.first_time == "2026-03-01T09:00:00.000Z");
    CHECK(c.summary.last_time == "2026-03-03T08:04:00.000Z");
    CHECK(skipped_text(c.summary) ==
          "@DIR@/decisions.2.jsonl:4: torn: a partial line with a whole one after it\n"
          "@DIR@/decisions.2.jsonl:6: not a JSON object\n"
          "@DIR@/decisions.1.jsonl:10: no \"decision\" (allow or deny)\n"
          "@DIR@/decisions.jsonl:7: incomplete: the file ends in the middle of it (a write cut "
          "short)\n");
    // The whole line after the torn fragment is kept.
    CHECK(c.lines[3] ==
          "2026-03-01T09:02:01.000Z carol image.pull docker.io/someone/tool:latest deny");
    CHECK(c.lines[10] ==
          "2026-03-02T10:06:00.000Z bob image.tag docker.io/acme/alpine:1 would-deny target");
    CHECK(c.lines.back() == "2026-03-03T08:04:00.000Z  other  would-deny");
}

TEST_CASE("any number of threads and any block size read the same records in the same order") {
    auto files = decision_log_files(rotated_log());
    auto reference = scan(files);
    for (std::size_t threads : {1, 2, 3, 7}) {
        for (std::size_t block : {1, 2, 7, 64, 333, 4096}) {
            CAPTURE(threads);
            CAPTURE(block);
            auto c = scan(files, threads, block);
            CHECK(c.lines == reference.lines);
            CHECK(c.summary.lines == reference.summary.lines);
            CHECK(c.summary.skipped == reference.summary.skipped);
            CHECK(skipped_text(c.summary) == skipped_text(reference.summary));
            CHECK(c.summary.first_time == reference.summary.first_time);
            CHECK(c.summary.last_time == reference.summary.last_time);
        }
    }
}

TEST_CASE("a line of kMaxLogLineBytes is read; one byte more is skipped, and the lines around it "
          "are kept") {
    ScratchDir dir;
    std::string before = log_line("2026-03-01T09:00:00.000Z", "bob", "image.pull",
                                  "docker.io/library/alpine:latest", "allow");
    std::string after = log_line("2026-03-01T09:00:02.000Z", "bob", "image.pull",
                                 "docker.io/library/busybox:latest", "allow");
    auto long_line = [&](std::size_t length) {
        std::string head =
            R"J({"time":"2026-03-01T09:00:01.000Z","user":"bob","action":"image.pull","reference":"docker.io/library/x:1","decision":"deny","reason":")J";
        std::string tail = "\"}";
        return head + std::string(length - head.size() - tail.size(), 'r') + tail + "\n";
    };
    for (std::size_t block : {std::size_t(4096), kLogBlockBytes}) {
        CAPTURE(block);
        write_text(dir.path / "at.jsonl", before + long_line(kMaxLogLineBytes) + after);
        auto at = scan({dir / "at.jsonl"}, 1, block);
        CHECK(at.summary.records == 3);
        CHECK(at.summary.skipped == 0);

        write_text(dir.path / "over.jsonl", before + long_line(kMaxLogLineBytes + 1) + after);
        for (std::size_t threads : {1, 2}) {
            auto over = scan({dir / "over.jsonl"}, threads, block);
            CHECK(over.summary.records == 2);
            CHECK(over.summary.skipped == 1);
            CHECK(over.summary.lines == 3);
            REQUIRE(over.summary.skipped_examples.size() == 1);
            CHECK(over.summary.skipped_examples[0].line == 2);
            CHECK(over.summary.skipped_examples[0].problem == "longer than 1048576 bytes");
            CHECK(over.lines.back() ==
                  "2026-03-01T09:00:02.000Z bob image.pull docker.io/library/busybox:latest allow");
        }
    }
}

TEST_CASE("--since leaves older records out, and does not open files last written before it") {
    auto files = decision_log_files(rotated_log());
    auto since = parse_rfc3339_ms("2026-03-02T10:06:00Z");
    auto c = scan(files, 2, 16, since);
    CHECK(c.summary.records == 11);
    CHECK(c.summary.first_time == "2026-03-02T10:06:00.000Z");
    CHECK(c.lines.front() ==
          "2026-03-02T10:06:00.000Z bob image.tag docker.io/library/alpine:latest allow");

    ScratchDir dir;
    for (const auto &f : files)
        std::filesystem::copy_file(f, dir.path / std::filesystem::path(f).filename());
    auto copies = decision_log_files(dir / "decisions.jsonl");
    set_mtime(copies[0], *parse_rfc3339_ms("2026-03-01T09:05:00Z") / 1000);
    set_mtime(copies[1], *parse_rfc3339_ms("2026-03-02T10:10:00Z") / 1000);
    auto after_oldest = scan(copies, 1, kLogBlockBytes, parse_rfc3339_ms("2026-03-02T00:00:00Z"));
    CHECK(after_oldest.summary.files == std::vector<std::string>{copies[1], copies[2]});
    CHECK(after_oldest.summary.skipped ==
          2); // the oldest file's torn line and garbage were not read
    auto all = scan(copies, 1, kLogBlockBytes, parse_rfc3339_ms("2026-03-01T00:00:00Z"));
    CHECK(all.summary.files.size() == 3);
}

TEST_CASE("a log file that cannot be read is an error that names it") {
    ScratchDir dir;
    write_text(dir.path / "decisions.jsonl", "");
    std::filesystem::create_directory(dir.path / "decisions.1.jsonl");
    std::vector<RecordVisitor> visitors{[](const LogRecord &) {}};
    auto r = scan_decision_log({dir / "decisions.1.jsonl", dir / "decisions.jsonl"}, {}, visitors);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == "cannot read " + dir / "decisions.1.jsonl" + ": Is a directory");
    auto missing = scan_decision_log({dir / "gone.jsonl"}, {}, visitors);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error() ==
          "cannot read the decision log " + dir / "gone.jsonl" + ": No such file or directory");
}

TEST_CASE("durations for --since") {
    struct Row {
        std::string text;
        std::int64_t seconds;
    };
    for (const Row &row : std::vector<Row>{{"30m", 1800},
                                           {"24h", 86400},
                                           {"7d", 604800},
                                           {"45s", 45},
                                           {"2w", 1209600},
                                           {"999999999d", 999999999LL * 86400}}) {
        CAPTURE(row.text);
        auto d = parse_duration(row.text);
        REQUIRE(d.ok());
        CHECK(d.value() == row.seconds);
    }
    for (std::string bad : {"", "5", "m", "5x", "-5m", "1.5h", "5 m", "5M", "1234567890d", "d7"}) {
        CAPTURE(bad);
        auto d = parse_duration(bad);
        REQUIRE_FALSE(d.ok());
        CHECK(d.error() == "\"" + bad +
                               "\" is not a duration: give a whole number and a unit, s, m, h, d "
                               "or w (30m, 24h, 7d)");
    }
    auto zero = parse_duration("0h");
    REQUIRE_FALSE(zero.ok());
    CHECK(zero.error() == "\"0h\" is not a duration: it must be longer than 0");
}

TEST_CASE("RFC 3339 times: UTC, offsets, fractions; and back") {
    CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_rfc3339_ms("2026-03-02T10:06:00.000Z") == 1772445960000);
    CHECK(parse_rfc3339_ms("2026-03-02T10:06:00.5Z") == 1772445960500);
    CHECK(parse_rfc3339_ms("2026-03-02T10:06:00.123456789Z") == 1772445960123);
    CHECK(parse_rfc3339_ms("2026-03-02T11:36:00+01:30") == 1772445960000);
    CHECK(parse_rfc3339_ms("2026-03-02 10:06:00z") == 1772445960000);
    CHECK(parse_rfc3339_ms("2024-02-29T00:00:00Z") == 1709164800000);
    for (std::string bad : {"2026-03-02T10:06:00", "2026-13-02T10:06:00Z", "2026-03-32T10:06:00Z",
                            "2026-03-02T24:00:00Z", "2026-03-02T10:06:00.Z",
                            "2026-03-02T10:06:00Zx", "2026-3-02T10:06:00Z", "yesterday"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_rfc3339_ms(bad));
    }
    CHECK(format_rfc3339_ms(1772445960123) == "2026-03-02T10:06:00.123Z");
    CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
    CHECK(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("the log a query reads: --log, else the configuration's decisionLog") {
    ScratchDir dir;
    write_text(dir.path / "decisions.jsonl", "");
    write_text(dir.path / "imagegate.json",
               "{\"decisionLog\": \"" + dir / "decisions.jsonl" + "\"}");
    write_text(dir.path / "nolog.json", "{\"decisionLog\": \"\"}");
    LogQuery query;
    query.config_flag = dir / "imagegate.json";
    auto from_config = select_log(query, 1000000);
    REQUIRE_MESSAGE(from_config.ok(), from_config.error());
    CHECK(from_config->path == dir / "decisions.jsonl");
    CHECK_FALSE(from_config->since_ms);

    query.log_flag = rotated_log();
    query.since_text = "30m";
    auto from_flag = select_log(query, 2000000);
    REQUIRE(from_flag.ok());
    CHECK(from_flag->files.size() == 3);
    CHECK(from_flag->since_ms == 2000000 - 1800 * 1000);

    query.since_text = "30x";
    CHECK(select_log(query, 0).error() == "--since \"30x\" is not a duration: give a whole number "
                                          "and a unit, s, m, h, d or w (30m, 24h, 7d)");
    query = LogQuery{};
    query.log_flag = dir / "missing.jsonl";
    CHECK(select_log(query, 0).error() ==
          "no decision log at " + dir / "missing.jsonl" + " (nor rotated files of it)");
    query = LogQuery{};
    query.config_flag = dir / "nolog.json";
    CHECK(select_log(query, 0).error() ==
          dir / "nolog.json" + " has no decisionLog: give the log with --log FILE");
}

TEST_CASE("the interner numbers strings in the order first seen, and keeps them") {
    Interner strings;
    CHECK(strings.id("docker.io/library/alpine:latest") == 0);
    CHECK(strings.id("") == 1);
    CHECK(strings.id("bob") == 2);
    CHECK(strings.id("docker.io/library/alpine:latest") == 0);
    CHECK(strings.id("") == 1);
    std::string_view first = strings.name(0);
    std::vector<std::string> many;
    for (int i = 0; i < 100000; ++i)
        many.push_back("docker.io/team-" + std::to_string(i) + "/app:latest");
    bool numbered = true;
    for (int i = 0; i < 100000; ++i)
        numbered = numbered && strings.id(many[std::size_t(i)]) == std::uint32_t(i + 3);
    CHECK(numbered);
    for (int i = 0; i < 100000; i += 997)
        CHECK(strings.id(many[std::size_t(i)]) == std::uint32_t(i + 3));
    CHECK(strings.size() == 100003);
    CHECK(strings.name(1).empty());
    CHECK(strings.name(2) == "bob");
    CHECK(strings.name(100002) == "docker.io/team-99999/app:latest");
    CHECK(first.data() == strings.name(0).data());        // growing does not move what was kept
    CHECK(strings.id(std::string(70000, 'x')) == 100003); // longer than an arena block
    CHECK(strings.name(100003).size() == 70000);
}
