// Times as text: RFC 3339 in UTC, the one implementation every folder uses.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imagegate {

// "2026-11-23T14:02:03Z" (to the second).
std::string rfc3339(std::chrono::system_clock::time_point when);

// The current time with milliseconds, "2026-11-23T14:02:03.123Z", appended to `out`. The part
// to the second is formatted once a second per thread: it is on the decision log's hot path.
void append_rfc3339_now(std::string &out);

// RFC 3339 ("2026-11-23T14:02:03.123Z", any offset) → milliseconds since the epoch.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

// Milliseconds since the epoch → "2026-11-23T14:02:03.123Z".
std::string format_rfc3339_ms(std::int64_t ms);

} // namespace imagegate
