#include "policy/go_json.hpp"

#include <array>

namespace imagegate {

std::string go_fold(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (std::size_t i = 0; i < key.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(key[i]);
        if (c >= 'A' && c <= 'Z') {
            out.push_back(static_cast<char>(c + 32));
        } else if (c == 0xC5 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) == 0xBF) {
            out.push_back('s'); // U+017F LATIN SMALL LETTER LONG S
            ++i;
        } else if (c == 0xE2 && i + 2 < key.size() && static_cast<unsigned char>(key[i + 1]) == 0x84 &&
                   static_cast<unsigned char>(key[i + 2]) == 0xAA) {
            out.push_back('k'); // U+212A KELVIN SIGN
            i += 2;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

namespace {
bool folded_equals(std::string_view key, std::string_view lower_name) {
    // Folding shortens a key only through U+017F (2 bytes) and U+212A (3 bytes): a key of
    // another length cannot match, and one of the same length can match only byte for byte.
    if (key.size() < lower_name.size() || key.size() > 3 * lower_name.size()) return false;
    if (key.size() == lower_name.size()) {
        for (std::size_t i = 0; i < key.size(); ++i) {
            char c = key[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            if (c != lower_name[i]) return false;
        }
        return true;
    }
    return go_fold(key) == lower_name;
}
} // namespace

Result<const boost::json::value *> go_field(const boost::json::object &object, std::string_view lower_name) {
    const boost::json::value *found = nullptr;
    for (const auto &kv : object) {
        if (!folded_equals(kv.key(), lower_name)) continue;
        if (found) return Error{"JSON key \"" + std::string(lower_name) + "\" is given more than once"};
        found = &kv.value();
    }
    return found;
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
    out.reserve(text.size() / 4 * 3);
    unsigned buffer = 0;
    int bits = 0, padding = 0;
    std::size_t symbols = 0;
    for (char ch : text) {
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
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    if (symbols % 4 != 0 || padding > 2) return Error{"invalid base64: bad length or padding"};
    return out;
}

} // namespace imagegate
