#include "policy/go_json.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <array>
#include <vector>

namespace imagegate {

namespace {
// One folded character of `key` at `i` as Go's encoding/json matches keys (ASCII case, and the
// two non-ASCII runes that fold to ASCII letters); advances `i` past what it read.
char fold_next(std::string_view key, std::size_t &i) {
    unsigned char c = static_cast<unsigned char>(key[i++]);
    if (c >= 'A' && c <= 'Z')
        return static_cast<char>(c + 32);
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
    if (key.size() < lower_name.size() || key.size() > 3 * lower_name.size())
        return false;
    std::size_t i = 0, j = 0;
    while (i < key.size()) {
        if (j == lower_name.size() || fold_next(key, i) != lower_name[j])
            return false;
        ++j;
    }
    return j == lower_name.size();
}
// boost::json's own parse handler (a value_stack), which also remembers each open object's keys
// and fails on the first key an object repeats.
struct DuplicateKeyHandler {
    static constexpr std::size_t max_object_size = boost::json::object::max_size();
    static constexpr std::size_t max_array_size = boost::json::array::max_size();
    static constexpr std::size_t max_key_size = boost::json::string::max_size();
    static constexpr std::size_t max_string_size = boost::json::string::max_size();

    boost::json::value_stack st;
    std::vector<std::string> keys;   // the keys of every open object, innermost last
    std::vector<std::size_t> starts; // where each open object's keys start in `keys`
    std::string key;                 // a key arriving in parts
    std::string duplicate;

    DuplicateKeyHandler(boost::json::storage_ptr sp, unsigned char *buffer, std::size_t size)
        : st(std::move(sp), buffer, size) {}

    bool on_document_begin(boost::json::error_code &) { return true; }
    bool on_document_end(boost::json::error_code &) { return true; }
    bool on_object_begin(boost::json::error_code &) {
        starts.push_back(keys.size());
        return true;
    }
    bool on_object_end(std::size_t n, boost::json::error_code &ec) {
        auto first = keys.begin() + static_cast<std::ptrdiff_t>(starts.back());
        std::sort(first, keys.end());
        if (auto same = std::adjacent_find(first, keys.end()); same != keys.end()) {
            duplicate = *same;
            ec = boost::json::error::syntax;
            return false;
        }
        keys.erase(first, keys.end());
        starts.pop_back();
        st.push_object(n);
        return true;
    }
    bool on_array_begin(boost::json::error_code &) { return true; }
    bool on_array_end(std::size_t n, boost::json::error_code &) {
        st.push_array(n);
        return true;
    }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code &) {
        key.append(s.data(), s.size());
        st.push_chars(s);
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code &) {
        key.append(s.data(), s.size());
        keys.push_back(std::move(key));
        key.clear();
        st.push_key(s);
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code &) {
        st.push_chars(s);
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::json::error_code &) {
        st.push_string(s);
        return true;
    }
    bool on_number_part(boost::json::string_view, boost::json::error_code &) { return true; }
    bool on_int64(std::int64_t i, boost::json::string_view, boost::json::error_code &) {
        st.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::json::error_code &) {
        st.push_uint64(u);
        return true;
    }
    bool on_double(double d, boost::json::string_view, boost::json::error_code &) {
        st.push_double(d);
        return true;
    }
    bool on_bool(bool b, boost::json::error_code &) {
        st.push_bool(b);
        return true;
    }
    bool on_null(boost::json::error_code &) {
        st.push_null();
        return true;
    }
    bool on_comment_part(boost::json::string_view, boost::json::error_code &) { return true; }
    bool on_comment(boost::json::string_view, boost::json::error_code &) { return true; }
};

} // namespace

Result<boost::json::value> go_parse_json(std::string_view text, boost::json::storage_ptr storage,
                                         std::size_t max_depth) {
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::json::basic_parser<DuplicateKeyHandler> parser(options, storage, nullptr, 0);
    parser.handler().st.reset(storage);
    boost::json::error_code ec;
    std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (!parser.handler().duplicate.empty())
        return Error{"request body is ambiguous: JSON key \"" +
                     parser.handler().duplicate.substr(0, 100) + "\" is given twice in one object"};
    if (!ec && used < text.size())
        ec = boost::json::error::extra_data;
    if (!ec && !parser.done())
        ec = boost::json::error::incomplete;
    if (ec)
        return Error{"request body is not valid JSON: " + ec.message()};
    return parser.handler().st.release();
}

std::string go_fold(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (std::size_t i = 0; i < key.size();)
        out.push_back(fold_next(key, i));
    return out;
}

Result<const boost::json::value *> go_field(const boost::json::object &object,
                                            std::string_view lower_name) {
    const boost::json::value *found = nullptr;
    for (const auto &kv : object) {
        if (!folded_equals(kv.key(), lower_name))
            continue;
        if (found)
            return Error{"JSON key \"" + std::string(lower_name) + "\" is given more than once"};
        found = &kv.value();
    }
    return found;
}

std::uint64_t go_key_mask(const boost::json::object &object) {
    std::uint64_t mask = 0;
    for (const auto &kv : object) {
        std::string_view key = kv.key();
        if (key.empty())
            continue;
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
        for (int i = 0; i < 64; ++i)
            t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
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
        if ((a | b | c | d) < 0)
            break;
        *o++ = static_cast<char>((a << 2) | (b >> 4));
        *o++ = static_cast<char>(((b << 4) | (c >> 2)) & 0xFF);
        *o++ = static_cast<char>(((c << 6) | d) & 0xFF);
        i += 4;
        symbols += 4;
    }
    unsigned buffer = 0;
    int bits = 0, padding = 0;
    for (char ch : text.substr(i)) {
        if (ch == '\r' || ch == '\n')
            continue;
        ++symbols;
        if (ch == '=') {
            ++padding;
            continue;
        }
        if (padding)
            return Error{"invalid base64: data after padding"};
        int v = table[static_cast<unsigned char>(ch)];
        if (v < 0)
            return Error{"invalid base64 character"};
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    out.resize(static_cast<std::size_t>(o - out.data()));
    if (symbols % 4 != 0 || padding > 2)
        return Error{"invalid base64: bad length or padding"};
    return out;
}

} // namespace imagegate
