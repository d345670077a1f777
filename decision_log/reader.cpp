#include "decision_log/reader.hpp"

#include "common/args.hpp"
#include "common/config.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace imagegate {
namespace fs = std::filesystem;
namespace json = boost::json;

// ---------------------------------------------------------------------------------------
// Files

namespace {

// spdlog 1.10's details::file_helper::split_by_extension, on the file name: "decisions.jsonl"
// → ("decisions", ".jsonl"); no extension for "decisions", ".hidden" or "name.".
std::pair<std::string, std::string> split_by_extension(const std::string &name) {
    auto dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot == name.size() - 1)
        return {name, ""};
    return {name.substr(0, dot), name.substr(dot)};
}

// "12" → 12; anything but 1 to 6 digits without a leading zero → nullopt.
std::optional<unsigned> rotation_index(std::string_view digits) {
    if (digits.empty() || digits.size() > 6 || digits[0] == '0')
        return std::nullopt;
    unsigned n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return std::nullopt;
        n = n * 10 + unsigned(c - '0');
    }
    return n;
}

bool is_regular(const fs::path &p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

} // namespace

std::vector<std::string> decision_log_files(const std::string &path) {
    fs::path log(path);
    fs::path dir = log.parent_path();
    std::string name = log.filename().string();
    auto [stem, extension] = split_by_extension(name);

    // (index, path), highest index (oldest) first; spdlog's name before logrotate's.
    std::map<std::pair<unsigned, int>, std::string, std::greater<>> rotated;
    std::error_code ec;
    for (fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec), end; !ec && it != end;
         it.increment(ec)) {
        std::string candidate = it->path().filename().string();
        std::optional<unsigned> index;
        int scheme = 0;
        if (candidate.size() > stem.size() + extension.size() + 1 &&
            candidate.starts_with(stem + ".") && candidate.ends_with(extension)) {
            index = rotation_index(std::string_view(candidate).substr(
                stem.size() + 1, candidate.size() - stem.size() - 1 - extension.size()));
            scheme = 1;
        }
        if (!index && candidate.size() > name.size() + 1 && candidate.starts_with(name + ".")) {
            index = rotation_index(std::string_view(candidate).substr(name.size() + 1));
            scheme = 0;
        }
        if (!index)
            continue;
        fs::path full = dir.empty() ? fs::path(candidate) : dir / candidate;
        if (is_regular(full))
            rotated.emplace(std::pair{*index, scheme}, full.string());
    }
    std::vector<std::string> files;
    for (auto &[key, file] : rotated) {
        if (std::find(files.begin(), files.end(), file) == files.end())
            files.push_back(file);
    }
    if (is_regular(log))
        files.push_back(path);
    return files;
}

// ---------------------------------------------------------------------------------------
// Lines

LineScratch::LineScratch() : document_(std::make_unique<json::value>()) {}
LineScratch::~LineScratch() = default;
json::value &LineScratch::document() {
    return *document_;
}
std::string &LineScratch::repaired(std::size_t field) {
    return repaired_.at(field);
}

namespace {

enum Field {
    kTime,
    kUser,
    kAction,
    kReference,
    kCategory,
    kRegistry,
    kDecision,
    kReason,
    kMode,
    kTagTarget,
    kCause,
    kTrustRule,
    kKeyId,
    kDigest,
    kFieldCount
};
static_assert(kFieldCount <= 16, "LineScratch keeps 16 repaired fields");
constexpr std::array<std::string_view, kFieldCount> kFieldNames{
    "time",   "user", "action",    "reference", "category",  "registry", "decision",
    "reason", "mode", "tagTarget", "cause",     "trustRule", "keyId",    "digest"};

// Called for every key of every line: at most three comparisons of a known length (inlined).
template <std::size_t N> bool is(std::string_view key, const char (&name)[N]) {
    return std::memcmp(key.data(), name, N - 1) == 0;
}
int field_of(std::string_view key) {
    switch (key.size()) {
    case 4:
        return is(key, "time") ? kTime : is(key, "user") ? kUser : is(key, "mode") ? kMode : -1;
    case 5:
        return is(key, "cause") ? kCause : is(key, "keyId") ? kKeyId : -1;
    case 6:
        return is(key, "action")   ? kAction
               : is(key, "reason") ? kReason
               : is(key, "digest") ? kDigest
                                   : -1;
    case 8:
        return is(key, "category")   ? kCategory
               : is(key, "registry") ? kRegistry
               : is(key, "decision") ? kDecision
                                     : -1;
    case 9:
        return is(key, "reference")   ? kReference
               : is(key, "tagTarget") ? kTagTarget
               : is(key, "trustRule") ? kTrustRule
                                      : -1;
    default:
        return -1;
    }
}

struct FieldValue {
    enum class Type { Absent, String, True, False, Null, Number, Other } type = Type::Absent;
    std::string_view text;
};
using Fields = std::array<FieldValue, kFieldCount>;

// Bytes a string value may hold without the full parser: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kPlainStringByte = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x80; ++c)
        plain[c] = c != '"' && c != '\\';
    return plain;
}();

// The first byte at or after P that is not plain (see kPlainStringByte). Eight bytes at a
// time: a word holds a '"', a '\\', a byte below 0x20 or one from 0x80 when the classic
// "has a zero byte" tests say so (they may flag a later byte too: then bytes one by one).
const char *skip_plain_bytes(const char *p, const char *end) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        std::uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
        std::uint64_t special = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                                ((w - ones * 0x20) & ~w) | w;
        if (special & high)
            break;
        p += 8;
    }
    while (p < end && kPlainStringByte[static_cast<unsigned char>(*p)])
        ++p;
    return p;
}

enum class Scan { Ok, NeedsFullParser, NotJson };

// The fast path: one flat JSON object of ASCII strings without escapes, numbers and literals
// (every line imagegate writes, give or take a user name). Anything else is either not JSON
// or is left to Boost.JSON, so the two paths accept exactly the same lines.
Scan scan_flat_object(std::string_view line, Fields &fields) {
    const char *p = line.data();
    const char *end = p + line.size();
    auto skip_space = [&] {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            ++p;
    };
    // A string after its opening quote; leaves p after the closing quote.
    auto scan_string = [&](std::string_view &out) {
        const char *begin = p;
        p = skip_plain_bytes(p, end);
        if (p == end)
            return Scan::NotJson;
        if (*p != '"')
            return static_cast<unsigned char>(*p) < 0x20 ? Scan::NotJson : Scan::NeedsFullParser;
        out = std::string_view(begin, std::size_t(p - begin));
        ++p;
        return Scan::Ok;
    };
    auto digits = [&] {
        const char *begin = p;
        while (p < end && *p >= '0' && *p <= '9')
            ++p;
        return p > begin;
    };
    auto literal = [&](std::string_view word) {
        if (std::size_t(end - p) < word.size() || std::string_view(p, word.size()) != word)
            return false;
        p += word.size();
        return true;
    };

    skip_space();
    if (p == end || *p != '{')
        return Scan::NotJson;
    ++p;
    skip_space();
    if (p < end && *p == '}') {
        ++p;
        skip_space();
        return p == end ? Scan::Ok : Scan::NotJson;
    }
    for (;;) {
        if (p == end || *p != '"')
            return Scan::NotJson;
        ++p;
        std::string_view key;
        if (Scan s = scan_string(key); s != Scan::Ok)
            return s;
        skip_space();
        if (p == end || *p != ':')
            return Scan::NotJson;
        ++p;
        skip_space();
        if (p == end)
            return Scan::NotJson;
        FieldValue value;
        const char *begin = p;
        if (*p == '"') {
            ++p;
            value.type = FieldValue::Type::String;
            if (Scan s = scan_string(value.text); s != Scan::Ok)
                return s;
        } else if (*p == '{' || *p == '[') {
            return Scan::NeedsFullParser;
        } else if (literal("true")) {
            value.type = FieldValue::Type::True;
        } else if (literal("false")) {
            value.type = FieldValue::Type::False;
        } else if (literal("null")) {
            value.type = FieldValue::Type::Null;
        } else {
            // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
            if (*p == '-')
                ++p;
            if (p < end && *p == '0')
                ++p;
            else if (!(p < end && *p >= '1' && *p <= '9' && digits()))
                return Scan::NotJson;
            if (p < end && *p == '.' && (++p, !digits()))
                return Scan::NotJson;
            if (p < end && (*p == 'e' || *p == 'E')) {
                ++p;
                if (p < end && (*p == '+' || *p == '-'))
                    ++p;
                if (!digits())
                    return Scan::NotJson;
            }
            value.type = FieldValue::Type::Number;
            value.text = std::string_view(begin, std::size_t(p - begin));
        }
        if (int f = field_of(key); f >= 0)
            fields[f] = value;
        skip_space();
        if (p == end)
            return Scan::NotJson;
        if (*p == ',') {
            ++p;
            skip_space();
            continue;
        }
        if (*p != '}')
            return Scan::NotJson;
        ++p;
        skip_space();
        return p == end ? Scan::Ok : Scan::NotJson;
    }
}

// The length of the valid UTF-8 sequence at text[i], or 0 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
    auto byte = [&](std::size_t k) {
        return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
    };
    auto tail = [&](std::size_t k) { return (byte(k) & 0xC0) == 0x80; };
    unsigned c = byte(0);
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return tail(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return byte(1) >= lo && byte(1) <= hi && tail(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return byte(1) >= lo && byte(1) <= hi && tail(2) && tail(3) ? 4 : 0;
    }
    return 0;
}

// TEXT, or its copy in OUT with each byte of an invalid sequence replaced by U+FFFD.
std::string_view valid_utf8(std::string_view text, std::string &out) {
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t n = utf8_sequence(text, i);
        if (n == 0)
            break;
        i += n;
    }
    if (i == text.size())
        return text;
    out.assign(text.substr(0, i));
    while (i < text.size()) {
        std::size_t n = utf8_sequence(text, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            i += 1;
        } else {
            out += text.substr(i, n);
            i += n;
        }
    }
    return out;
}

// The slow path, for lines with escapes, non-ASCII text or nested values. Invalid UTF-8 is
// accepted (the log holds what clients sent, and a denial of a garbled name is still a
// denial) and repaired.
bool parse_with_boost(std::string_view line, Fields &fields, LineScratch &scratch) {
    boost::system::error_code ec;
    json::parse_options options;
    options.allow_invalid_utf8 = true;
    json::value &document = scratch.document();
    document = json::parse(line, ec, {}, options);
    if (ec || !document.is_object())
        return false;
    const json::object &object = document.get_object();
    for (int f = 0; f < kFieldCount; ++f) {
        const json::value *v = object.if_contains(kFieldNames[f]);
        FieldValue value;
        if (!v)
            value.type = FieldValue::Type::Absent;
        else if (v->is_string())
            value = {FieldValue::Type::String,
                     valid_utf8(v->get_string(), scratch.repaired(std::size_t(f)))};
        else if (v->is_bool())
            value.type = v->get_bool() ? FieldValue::Type::True : FieldValue::Type::False;
        else if (v->is_null())
            value.type = FieldValue::Type::Null;
        else if (v->is_number())
            value.type = FieldValue::Type::Number;
        else
            value.type = FieldValue::Type::Other;
        fields[f] = value;
    }
    return true;
}

ParsedLine record_of(const Fields &f) {
    using Type = FieldValue::Type;
    ParsedLine out;
    auto missing = [&](std::string_view what) {
        out.problem = std::string(what);
        return out;
    };
    LogRecord r;
    if (f[kTime].type != Type::String)
        return missing("no \"time\"");
    auto ms = parse_rfc3339_ms(f[kTime].text);
    if (!ms)
        return missing("\"time\" is not an RFC 3339 time");
    r.time = f[kTime].text;
    r.time_ms = *ms;
    if (f[kDecision].type != Type::String ||
        (f[kDecision].text != "allow" && f[kDecision].text != "deny"))
        return missing("no \"decision\" (allow or deny)");
    r.allow = f[kDecision].text == "allow";
    if (f[kAction].type != Type::String || f[kAction].text.empty())
        return missing("no \"action\"");
    r.action = f[kAction].text;
    if (f[kReference].type != Type::String)
        return missing("no \"reference\"");
    r.reference = f[kReference].text;
    auto optional_string = [&](int field, std::string_view &to) {
        if (f[field].type == Type::String)
            to = f[field].text;
        return f[field].type == Type::String || f[field].type == Type::Absent ||
               f[field].type == Type::Null;
    };
    if (!optional_string(kUser, r.user))
        return missing("\"user\" is not a string");
    if (!optional_string(kCategory, r.category))
        return missing("\"category\" is not a string");
    if (!optional_string(kRegistry, r.registry))
        return missing("\"registry\" is not a string");
    if (!optional_string(kReason, r.reason))
        return missing("\"reason\" is not a string");
    if (!optional_string(kCause, r.cause))
        return missing("\"cause\" is not a string");
    if (!optional_string(kTrustRule, r.trust_rule) || !optional_string(kKeyId, r.key_id) ||
        !optional_string(kDigest, r.digest))
        return missing("\"trustRule\", \"keyId\" or \"digest\" is not a string");
    if (r.cause.empty()) {
        // Lines written before the "cause" key: an image line's denial is the image's (or its
        // registry's); any other denial cannot be told apart from the line alone.
        if (r.allow)
            r.cause = "none";
        else if (!r.reference.empty() && r.reason.starts_with("registry "))
            r.cause = "registry";
        else if (!r.reference.empty())
            r.cause = "image";
        else
            r.cause = "unknown";
    }
    r.audit = f[kMode].type == Type::String && f[kMode].text == "audit";
    r.tag_target = f[kTagTarget].type == Type::True;
    out.record = r;
    return out;
}

} // namespace

ParsedLine parse_log_line(std::string_view line, LineScratch &scratch) {
    Fields fields{};
    Scan scan = scan_flat_object(line, fields);
    if (scan == Scan::NeedsFullParser) {
        fields = Fields{};
        scan = parse_with_boost(line, fields, scratch) ? Scan::Ok : Scan::NotJson;
    }
    if (scan == Scan::NotJson)
        return ParsedLine{std::nullopt, "not a JSON object"};
    return record_of(fields);
}

// ---------------------------------------------------------------------------------------
// Times and durations

Result<std::int64_t> parse_duration(std::string_view text) {
    auto bad = [&] {
        return Error{
            "\"" + std::string(text) +
            "\" is not a duration: give a whole number and a unit, s, m, h, d or w (30m, 24h, 7d)"};
    };
    if (text.size() < 2 || text.size() > 10)
        return bad();
    std::int64_t n = 0;
    for (char c : text.substr(0, text.size() - 1)) {
        if (c < '0' || c > '9')
            return bad();
        n = n * 10 + (c - '0');
    }
    std::int64_t unit = 0;
    switch (text.back()) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return bad();
    }
    if (n == 0)
        return Error{"\"" + std::string(text) + "\" is not a duration: it must be longer than 0"};
    return n * unit;
}

// ---------------------------------------------------------------------------------------
// Scanning

namespace {

struct OpenFile {
    std::string path;
    int fd = -1;
    std::uint64_t size = 0;
};

// The lines that start in [begin, end) of one file.
struct Piece {
    std::size_t file = 0;
    std::uint64_t begin = 0, end = 0;
    std::uint64_t lines = 0; // lines it owns (counted while reading)
};

struct Example {
    std::size_t piece;
    std::uint64_t line; // within the piece, 1-based
    std::string problem;
};

struct PartResult {
    std::uint64_t records = 0, skipped = 0;
    std::vector<Example> examples;
    std::int64_t first_ms = std::numeric_limits<std::int64_t>::max();
    std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
    std::string first_time, last_time;
    std::string error;
};

class PartReader {
  public:
    PartReader(const std::vector<OpenFile> &files, std::vector<Piece> &pieces,
               const ScanOptions &options, const RecordVisitor &visit, PartResult &result)
        : files_(files), pieces_(pieces), options_(options), visit_(visit), result_(result) {}

    void read(const std::vector<std::size_t> &piece_indexes) {
        std::size_t block = std::max<std::size_t>(options_.block_bytes, 1);
        buffer_.resize(block + kMaxLogLineBytes + 1);
        for (std::size_t index : piece_indexes) {
            if (!read_piece(index, block))
                return;
        }
    }

  private:
    bool read_piece(std::size_t index, std::size_t block) {
        Piece &piece = pieces_[index];
        const OpenFile &file = files_[piece.file];
        char *buffer = buffer_.data();
        std::uint64_t read_at = piece.begin;
        std::uint64_t buffer_at = piece.begin; // file offset of buffer[0]
        std::size_t have = 0;
        // The line in progress at `begin` belongs to the piece before, which reads it to its end.
        bool skip_partial = false;
        if (piece.begin > 0) {
            char before = 0;
            if (::pread(file.fd, &before, 1, off_t(piece.begin - 1)) != 1)
                return fail(file);
            skip_partial = before != '\n';
        }
        bool discarding = false; // inside a line over kMaxLogLineBytes (counted already)
        for (;;) {
            // A piece reads past its end to finish its last line; the last piece of the file
            // reads to the end of the file as it is now, so that a line being appended while
            // we read is completed, not reported as torn (lines started since are not read).
            ssize_t n = ::pread(file.fd, buffer + have, block, off_t(read_at));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return fail(file);
            bool at_end = n == 0;
            read_at += std::uint64_t(n);
            have += std::size_t(n);
            std::size_t p = 0;
            while (p < have) {
                const char *newline =
                    static_cast<const char *>(std::memchr(buffer + p, '\n', have - p));
                if (!newline)
                    break;
                std::size_t length = std::size_t(newline - (buffer + p));
                if (skip_partial || discarding) {
                    skip_partial = discarding = false;
                } else {
                    if (buffer_at + p >= piece.end)
                        return true;
                    if (length > kMaxLogLineBytes)
                        too_long(index, ++piece.lines);
                    else
                        line(std::string_view(buffer + p, length), index, ++piece.lines);
                }
                p += length + 1;
            }
            if (at_end) {
                if (p < have && !skip_partial && !discarding && buffer_at + p < piece.end)
                    line(std::string_view(buffer + p, have - p), index, ++piece.lines, true);
                return true;
            }
            std::memmove(buffer, buffer + p, have - p);
            buffer_at += p;
            have -= p;
            if (have > kMaxLogLineBytes) {
                if (!skip_partial && !discarding) {
                    if (buffer_at >= piece.end)
                        return true;
                    too_long(index, ++piece.lines);
                    discarding = true;
                }
                buffer_at += have;
                have = 0;
            }
        }
    }

    bool fail(const OpenFile &file) {
        result_.error = "cannot read " + file.path + ": " + std::strerror(errno);
        return false;
    }

    void skip(std::size_t piece, std::uint64_t line_number, std::string problem) {
        ++result_.skipped;
        if (result_.examples.size() < kSkippedExamples)
            result_.examples.push_back({piece, line_number, std::move(problem)});
    }

    void too_long(std::size_t piece, std::uint64_t line_number) {
        skip(piece, line_number, "longer than " + std::to_string(kMaxLogLineBytes) + " bytes");
    }

    // `unterminated`: the file ends in it, without a newline.
    void line(std::string_view text, std::size_t piece, std::uint64_t line_number,
              bool unterminated = false) {
        while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
            text.remove_suffix(1);
        if (text.find_first_not_of(" \t") == std::string_view::npos)
            return; // a blank line
        ParsedLine parsed = parse_log_line(text, scratch_);
        if (!parsed.record) {
            // A writer that died mid-line leaves a fragment the next line is appended to:
            // the fragment is lost, the whole line after it is not.
            std::size_t whole = text.rfind("{\"time\":");
            if (whole != std::string_view::npos && whole > 0) {
                ParsedLine tail = parse_log_line(text.substr(whole), scratch_);
                if (tail.record) {
                    skip(piece, line_number, "torn: a partial line with a whole one after it");
                    parsed = std::move(tail);
                }
            }
            if (!parsed.record) {
                skip(piece, line_number,
                     unterminated
                         ? "incomplete: the file ends in the middle of it (a write cut short)"
                         : std::move(parsed.problem));
                return;
            }
        }
        const LogRecord &record = *parsed.record;
        if (options_.since_ms && record.time_ms < *options_.since_ms)
            return;
        ++result_.records;
        if (record.time_ms < result_.first_ms) {
            result_.first_ms = record.time_ms;
            result_.first_time = record.time;
        }
        if (record.time_ms > result_.last_ms) {
            result_.last_ms = record.time_ms;
            result_.last_time = record.time;
        }
        visit_(record);
    }

    const std::vector<OpenFile> &files_;
    std::vector<Piece> &pieces_;
    const ScanOptions &options_;
    const RecordVisitor &visit_;
    PartResult &result_;
    std::string buffer_;
    LineScratch scratch_;
};

struct CloseFiles {
    std::vector<OpenFile> &files;
    ~CloseFiles() {
        for (auto &f : files) {
            if (f.fd >= 0)
                ::close(f.fd);
        }
    }
};

} // namespace

Result<ScanSummary> scan_decision_log(const std::vector<std::string> &paths,
                                      const ScanOptions &options,
                                      const std::vector<RecordVisitor> &visitors) {
    if (visitors.empty())
        return Error{"scan_decision_log: no visitor"};
    std::vector<OpenFile> files;
    CloseFiles closer{files};
    ScanSummary summary;
    std::uint64_t total = 0;
    for (const auto &path : paths) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT && &path != &paths.back())
                continue; // rotated away since it was listed
            return Error{"cannot read the decision log " + path + ": " + std::strerror(errno)};
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            int error = errno;
            ::close(fd);
            return Error{"cannot read the decision log " + path + ": " + std::strerror(error)};
        }
        // Every line of a file was written before its last modification: one older than the
        // window holds nothing in it.
        std::int64_t modified_ms =
            std::int64_t(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (options.since_ms && modified_ms < *options.since_ms) {
            ::close(fd);
            continue;
        }
        files.push_back({path, fd, std::uint64_t(st.st_size)});
        summary.files.push_back(path);
        total += std::uint64_t(st.st_size);
    }

    // Consecutive byte ranges of the whole log, one per visitor, cut into per-file pieces.
    // Pieces come out in log order: piece i is before piece i + 1.
    std::size_t parts = visitors.size();
    std::vector<Piece> pieces;
    std::vector<std::vector<std::size_t>> part_pieces(parts);
    for (std::size_t part = 0; part < parts; ++part) {
        std::uint64_t from = total * part / parts, to = total * (part + 1) / parts;
        std::uint64_t file_start = 0;
        for (std::size_t f = 0; f < files.size(); ++f) {
            std::uint64_t file_end = file_start + files[f].size;
            std::uint64_t begin = std::max(from, file_start), end = std::min(to, file_end);
            if (begin < end) {
                part_pieces[part].push_back(pieces.size());
                pieces.push_back({f, begin - file_start, end - file_start, 0});
            }
            file_start = file_end;
        }
    }

    std::vector<PartResult> results(parts);
    {
        std::vector<std::thread> threads;
        for (std::size_t part = 1; part < parts; ++part) {
            threads.emplace_back([&, part] {
                PartReader(files, pieces, options, visitors[part], results[part])
                    .read(part_pieces[part]);
            });
        }
        PartReader(files, pieces, options, visitors[0], results[0]).read(part_pieces[0]);
        for (auto &t : threads)
            t.join();
    }

    for (const auto &piece : pieces)
        summary.lines += piece.lines;
    std::vector<Example> examples;
    for (auto &r : results) {
        if (!r.error.empty())
            return Error{r.error};
        summary.records += r.records;
        summary.skipped += r.skipped;
        if (r.records && r.first_ms < summary.first_ms) {
            summary.first_ms = r.first_ms;
            summary.first_time = r.first_time;
        }
        if (r.records && r.last_ms > summary.last_ms) {
            summary.last_ms = r.last_ms;
            summary.last_time = r.last_time;
        }
        examples.insert(examples.end(), r.examples.begin(), r.examples.end());
    }
    std::sort(examples.begin(), examples.end(), [](const Example &a, const Example &b) {
        return std::tie(a.piece, a.line) < std::tie(b.piece, b.line);
    });
    for (const auto &e : examples) {
        if (summary.skipped_examples.size() == kSkippedExamples)
            break;
        std::uint64_t line = e.line;
        for (std::size_t i = 0; i < e.piece; ++i) {
            if (pieces[i].file == pieces[e.piece].file)
                line += pieces[i].lines;
        }
        summary.skipped_examples.push_back({files[pieces[e.piece].file].path, line, e.problem});
    }
    return summary;
}

// ---------------------------------------------------------------------------------------
// Interner

std::uint32_t Interner::id(std::string_view text) {
    if ((names_.size() + 1) * 2 > slots_.size())
        grow();
    std::uint64_t hash = std::hash<std::string_view>{}(text);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        Slot &slot = slots_[i];
        if (!slot.text) {
            std::string_view kept = keep(text);
            slot = {hash, kept.data(), std::uint32_t(kept.size()), std::uint32_t(names_.size())};
            names_.push_back(kept);
            return slot.id;
        }
        if (slot.hash == hash && slot.length == text.size() &&
            std::memcmp(slot.text, text.data(), text.size()) == 0)
            return slot.id;
    }
}

void Interner::grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(64, old.size() * 2), Slot{});
    std::size_t mask = slots_.size() - 1;
    for (const Slot &slot : old) {
        if (!slot.text)
            continue;
        std::size_t i = slot.hash & mask;
        while (slots_[i].text)
            i = (i + 1) & mask;
        slots_[i] = slot;
    }
}

std::string_view Interner::keep(std::string_view text) {
    if (text.empty())
        return std::string_view(""); // a non-null pointer marks the slot used
    if (arena_left_ < text.size()) {
        std::size_t size = std::max<std::size_t>(64 * 1024, text.size());
        arena_.push_back(std::make_unique<char[]>(size));
        arena_at_ = arena_.back().get();
        arena_left_ = size;
    }
    char *at = arena_at_;
    std::memcpy(at, text.data(), text.size());
    arena_at_ += text.size();
    arena_left_ -= text.size();
    return std::string_view(at, text.size());
}

// ---------------------------------------------------------------------------------------
// The query both commands take

bool take_log_option(const std::vector<std::string> &args, std::size_t &i, LogQuery &query) {
    if (auto v = take_option(args, i, "--config"))
        query.config_flag = *v;
    else if (auto v = take_option(args, i, "--log"))
        query.log_flag = *v;
    else if (auto v = take_option(args, i, "--since"))
        query.since_text = *v;
    else if (args[i] == "--json")
        query.json = true;
    else
        return false;
    return true;
}

Result<LogSelection> select_log(const LogQuery &query, std::int64_t now) {
    LogSelection selection;
    if (!query.since_text.empty()) {
        auto seconds = parse_duration(query.since_text);
        if (!seconds)
            return Error{"--since " + seconds.error()};
        selection.since_ms = now - *seconds * 1000;
    }
    if (!query.log_flag.empty()) {
        selection.path = query.log_flag;
    } else {
        auto config = resolve_config(query.config_flag, "");
        if (!config)
            return Error{config.error()};
        if (config->decision_log.empty())
            return Error{(config->path.empty() ? std::string("the configuration") : config->path) +
                         " has no decisionLog: give the log with --log FILE"};
        selection.path = config->decision_log;
    }
    selection.files = decision_log_files(selection.path);
    if (selection.files.empty()) {
        struct stat st {};
        if (::stat(selection.path.c_str(), &st) != 0 && errno != ENOENT && errno != ENOTDIR)
            return Error{"cannot read the decision log " + selection.path + ": " +
                         std::strerror(errno)};
        return Error{"no decision log at " + selection.path + " (nor rotated files of it)"};
    }
    return selection;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

unsigned scan_threads() {
    return std::clamp(std::thread::hardware_concurrency(), 1u, 2u);
}

} // namespace imagegate
