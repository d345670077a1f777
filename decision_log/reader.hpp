// Reading the decision log back (docs/policy.md), for `report` and `policy impact`: the log and its
// rotated files oldest first, each line turned into a record of views, torn or foreign lines
// counted and skipped, never fatal. Streaming: a few megabytes of buffer per thread, whatever
// the log's size.
#pragma once
#include "common/result.hpp"
#include "common/time_text.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::json {
class value;
}

namespace imagegate {

// A longer line is skipped as garbage (our lines are a few hundred bytes; a line with no
// newline for a megabyte is a corrupt file, and buffering it would make memory unbounded).
inline constexpr std::size_t kMaxLogLineBytes = 1024 * 1024;
// Blocks read at a time, per thread.
inline constexpr std::size_t kLogBlockBytes = 4 * 1024 * 1024;
// How many skipped lines are quoted (file and line number) for the operator.
inline constexpr std::size_t kSkippedExamples = 5;

// The log at PATH and its rotated files, oldest first, those that exist. spdlog's rotating
// sink (1.10) puts the index before the extension — decisions.jsonl, decisions.1.jsonl,
// decisions.2.jsonl (oldest) — and logrotate appends it — decisions.jsonl.1; both are read
// (compressed .gz files are not).
std::vector<std::string> decision_log_files(const std::string &path);

// One line of the log. The views point into the line (or the scratch it was decoded into)
// and live until the next line is read.
struct LogRecord {
    std::string_view time; // as written
    std::int64_t time_ms = 0;
    std::string_view user; // "" for the local socket
    std::string_view action;
    std::string_view reference; // "" for a denial that names no image (hardening, protocol)
    std::string_view category;
    std::string_view registry;
    std::string_view reason;
    // cause_name() of policy/cause.hpp; for lines written before the "cause" key, inferred
    // ("none" when allowed, "image" or "registry" for an image line) or "unknown".
    std::string_view cause;
    // Trust (docs/trust.md): the rule that covered the image, the key that verified, the digest.
    std::string_view trust_rule, key_id, digest;
    bool allow = false; // what the policy decided
    bool audit = false; // mode "audit": a deny was logged, not enforced
    bool tag_target = false;
};

// What `parse_log_line` keeps between lines: the parsed document of a line that needed
// decoding (escapes, non-ASCII), so that records of it can point into it.
class LineScratch {
  public:
    LineScratch();
    ~LineScratch();
    LineScratch(const LineScratch &) = delete;
    LineScratch &operator=(const LineScratch &) = delete;
    boost::json::value &document();
    // A field's text with invalid UTF-8 replaced (U+FFFD), for lines written from bytes a
    // client sent: reports are valid JSON whatever the log holds.
    std::string &repaired(std::size_t field);

  private:
    std::unique_ptr<boost::json::value> document_;
    std::array<std::string, 16> repaired_; // one per field: views into them stay valid for the line
};

// A record, or why the line is not one ("not JSON", "no \"decision\"" ...).
struct ParsedLine {
    std::optional<LogRecord> record;
    std::string problem;
};
ParsedLine parse_log_line(std::string_view line, LineScratch &scratch);

struct SkippedLine {
    std::string file;
    std::uint64_t line = 0; // 1-based
    std::string problem;
};

struct ScanOptions {
    std::optional<std::int64_t> since_ms; // records before this are left out
    std::size_t block_bytes = kLogBlockBytes;
};

struct ScanSummary {
    std::vector<std::string> files; // read, oldest first
    std::uint64_t lines = 0;        // lines read (a file left out whole by since_ms is not read)
    std::uint64_t records = 0;      // records handed to the visitors
    std::uint64_t skipped = 0;      // torn, not JSON, not a decision record, too long
    std::vector<SkippedLine> skipped_examples; // the first few, in file order
    std::int64_t first_ms = std::numeric_limits<std::int64_t>::max(); // of the records handed on
    std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
    std::string first_time, last_time; // as written
};

using RecordVisitor = std::function<void(const LogRecord &)>;

// Reads FILES as one log, in order. The bytes are split into visitors.size() consecutive
// parts read in parallel, one thread each; part i hands its records, in log order, to
// visitors[i]. An error names the file that cannot be read.
Result<ScanSummary> scan_decision_log(const std::vector<std::string> &files,
                                      const ScanOptions &options,
                                      const std::vector<RecordVisitor> &visitors);

// "30m", "24h", "7d" (also s and w) → seconds; the error quotes the text.
Result<std::int64_t> parse_duration(std::string_view text);

// Strings seen once, numbered from 0 in the order first seen: a million log lines name a few
// thousand references and users, and the tallies of both commands count by number. Open
// addressing on a 64-bit hash, the text in an arena: a lookup is two cache misses at most
// (the slot, the text), which is most of what a line costs.
class Interner {
  public:
    Interner() = default;
    Interner(const Interner &) = delete;
    Interner &operator=(const Interner &) = delete;
    Interner(Interner &&) = default;
    Interner &operator=(Interner &&) = default;

    std::uint32_t id(std::string_view text);
    std::string_view name(std::uint32_t id) const {
        return names_[id];
    } // valid as long as the Interner
    std::size_t size() const { return names_.size(); }

  private:
    struct Slot {
        std::uint64_t hash = 0;
        const char *text = nullptr; // null: empty
        std::uint32_t length = 0;
        std::uint32_t id = 0;
    };
    void grow();
    std::string_view keep(std::string_view text);
    std::vector<Slot> slots_;
    std::vector<std::string_view> names_;
    std::vector<std::unique_ptr<char[]>> arena_;
    char *arena_at_ = nullptr;
    std::size_t arena_left_ = 0;
};

// Numbers (interned ids packed into 64 bits) → V, open addressing with the value in the slot:
// a lookup is one cache miss, not the two or three of a node-based map — the tallies do one
// or two per log line.
template <class V> class NumberTable {
  public:
    V &operator[](std::uint64_t key) {
        if ((size_ + 1) * 2 > slots_.size())
            grow();
        Slot &slot = find(key);
        if (slot.key == kEmpty) {
            slot.key = key;
            ++size_;
        }
        return slot.value;
    }
    std::size_t size() const { return size_; }
    template <class F> void for_each(F &&f) const {
        for (const Slot &slot : slots_) {
            if (slot.key != kEmpty)
                f(slot.key, slot.value);
        }
    }

  private:
    static constexpr std::uint64_t kEmpty = ~std::uint64_t(0); // no key is all ones
    struct Slot {
        std::uint64_t key = kEmpty;
        V value{};
    };
    Slot &find(std::uint64_t key) {
        std::size_t mask = slots_.size() - 1;
        // splitmix64's finaliser: packed ids differ in few bits.
        std::uint64_t h = key;
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebULL;
        h ^= h >> 31;
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            if (slots_[i].key == key || slots_[i].key == kEmpty)
                return slots_[i];
        }
    }
    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(std::max<std::size_t>(1024, old.size() * 2), Slot{});
        for (Slot &slot : old) {
            if (slot.key != kEmpty)
                find(slot.key) = std::move(slot);
        }
    }
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

// What both commands take: --config FILE, --log FILE, --since DURATION, --json.
struct LogQuery {
    std::string config_flag;
    std::string log_flag;
    std::string since_text;
    bool json = false;
};
// Takes one of those options at args[i] (as take_option does); false when args[i] is none.
bool take_log_option(const std::vector<std::string> &args, std::size_t &i, LogQuery &query);

struct LogSelection {
    std::string path;               // --log, else the configuration's decisionLog
    std::vector<std::string> files; // it and its rotated files, oldest first
    std::optional<std::int64_t> since_ms;
};
// What a query reads at time NOW_MS; errors are for the user (a bad duration, no log).
Result<LogSelection> select_log(const LogQuery &query, std::int64_t now_ms);
std::int64_t now_ms();
// The threads a scan uses on this machine (at most 2: the scan is memory-bound beyond that).
unsigned scan_threads();

} // namespace imagegate
