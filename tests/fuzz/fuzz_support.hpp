// Helpers shared by the fuzz targets: a property that fails aborts with a message (libFuzzer
// then saves the input), and structured inputs are plain text split into lines so that seeds
// stay readable and mutations stay meaningful.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate::fuzz {

[[noreturn]] inline void property_failed(const char *what, std::string_view detail,
                                         const char *file, int line) {
    std::fprintf(stderr, "%s:%d: property violated: %s\n  detail: %.*s\n", file, line, what,
                 static_cast<int>(std::min<std::size_t>(detail.size(), 2000)), detail.data());
    std::abort();
}

#define FUZZ_PROPERTY(condition, detail)                                                           \
    do {                                                                                           \
        if (!(condition))                                                                          \
            ::imagegate::fuzz::property_failed(#condition, (detail), __FILE__, __LINE__);          \
    } while (0)

// Splits off the first `count` lines (without their '\n'); the rest of the input is the last
// element.
inline std::vector<std::string> split_lines(std::string_view input, std::size_t count) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i) {
        auto nl = input.find('\n');
        out.emplace_back(input.substr(0, nl));
        input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    }
    out.emplace_back(input);
    return out;
}

inline std::string base64_encode(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        unsigned n = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8 |
                     (unsigned char)bytes[i + 2];
        for (int shift : {18, 12, 6, 0})
            out += alphabet[(n >> shift) & 63];
    }
    if (std::size_t rest = bytes.size() - i) {
        unsigned n =
            (unsigned char)bytes[i] << 16 | (rest == 2 ? (unsigned char)bytes[i + 1] << 8 : 0);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// A JSON string literal for arbitrary bytes: what Go's encoder writes for valid UTF-8, and
// \u00XX escapes for the rest (the decoded value is then that code point, as Go would read it).
inline std::string json_quote(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

} // namespace imagegate::fuzz
