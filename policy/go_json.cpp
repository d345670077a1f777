#include "policy/go_json.hpp"

#include <array>

namespace imagegate {

namespace {
// One folded character of `key` at `i` as Go's encoding/json matches keys (ASCII case, and the
// two non-ASCII runes that fold to ASCII letters); advances `i` past what it read.
char fold_next(std::string_view key, std::size_t &i) {
    unsigned char c = static_cast<unsigned char>(key[i++]);
    if (c >= 'A' && c <= 'Z') return static_cast<char>(c + 32);
    if (c == 0xC5 && i < key.size() && static_cast<unsigned char>(key[i]) == 0xBF) {
        ++i;
        return 's'; // U+017F LATIN SMALL LETTER LONG S
    }
    if (c == 0xE2 && i + 1 < key.size() && static_cast<unsigned char>(key[i]) == 0x84 &&
        static_cast<unsigned char>(key[i + 1]) == 0xAA) {
        i += 2;
        return 'k'; // U+212A KELVIN SIGN
    }
    return static_cast<char>(c);
}

// go_fold(key) == lower_name, without building the folded key: every field lookup compares
// every key of its object, so this runs dozens of times per container create.
bool folded_equals(std::string_view key, std::string_view lower_name) {
    // Folding shortens a key only through U+017F (2 bytes) and U+212A (3 bytes).
    if (key.size() < lower_name.size() || key.size() > 3 * lower_name.size()) return false;
    std::size_t i = 0, j = 0;
    while (i < key.size()) {
        if (j == lower_name.size() || fold_next(key, i) != lower_name[j]) return false;
        ++j;
    }
    return j == lower_name.size();
}
} // namespace

std::string go_fold(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (std::size_t i = 0; i < key.size();) out.push_back(fold_next(key, i));
    return out;
}

Result<const boost::json::value *> go_field(const boost::json::object &object, std::string_view lower_name) {
    const boost::json::value *found = nullptr;
    for (const auto &kv : object) {
        if (!folded_equals(kv.key(), lower_name)) continue;
        if (found) return Error{"JSON key \"" + std::string(lower_name) + "\" is given more than once"};
        found = &kv.value();
    }
    return found;
}

std::uint64_t go_key_mask(const boost::json::object &object) {
    std::uint64_t mask = 0;
    for (const auto &kv : object) {
        std::string_view key = kv.key();
        if (key.empty()) continue;
        std::size_t i = 0;
        mask |= std::uint64_t{1} << (static_cast<unsigned char>(fold_next(key, i)) & 63);
    }
    return mask;
}

Result<std::string> base64_decode(std::string_view text) {
    static constexpr auto table = [] {
        std::array<signed char, 256> t{};
        t.fill(-1);
        const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
        return t;
    }();
    std::string out;
    out.resize(text.size() / 4 * 3 + 3);
    char *o = out.data();
    // Whole groups of four plain symbols first (all of dockerd's base64, which has no line
    // breaks); the first group with padding, a line break or a bad character, and everything
    // after it, goes through the careful loop below.
    std::size_t i = 0, symbols = 0;
    const auto *in = reinterpret_cast<const unsigned char *>(text.data());
    while (i + 4 <= text.size()) {
        int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
        if ((a | b | c | d) < 0) break;
        *o++ = static_cast<char>((a << 2) | (b >> 4));
        *o++ = static_cast<char>(((b << 4) | (c >> 2)) & 0xFF);
        *o++ = static_cast<char>(((c << 6) | d) & 0xFF);
        i += 4;
        symbols += 4;
    }
    unsigned buffer = 0;
    int bits = 0, padding = 0;
    for (char ch : text.substr(i)) {
        if (ch == '\r' || ch == '\n') continue;
        ++symbols;
        if (ch == '=') {
            ++padding;
            continue;
        }
        if (padding) return Error{"invalid base64: data after padding"};
        int v = table[static_cast<unsigned char>(ch)];
        if (v < 0) return Error{"invalid base64 character"};
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    out.resize(static_cast<std::size_t>(o - out.data()));
    if (symbols % 4 != 0 || padding > 2) return Error{"invalid base64: bad length or padding"};
    return out;
}

} // namespace imagegate
