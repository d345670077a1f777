// Go's mime.ParseMediaType (Go 1.19, src/mime/mediatype.go), which dockerd 20.10 uses through
// net/http (ParseForm), its authz middleware (which bodies plugins see) and CheckForJSON. Each
// step below names the Go function it follows; docs/reading-requests.md says why it matters.
#include "policy/go_http.hpp"

#include <map>
#include <set>

namespace imagegate {

namespace {

// utf8.DecodeRuneInString: an invalid or truncated sequence is U+FFFD, one byte wide.
char32_t decode_rune(std::string_view s, std::size_t i, std::size_t *width) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char b0 = byte(i);
    *width = 1;
    if (b0 < 0x80)
        return b0;
    auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return k < s.size() && byte(k) >= lo && byte(k) <= hi;
    };
    if (b0 >= 0xC2 && b0 <= 0xDF && cont(i + 1)) {
        *width = 2;
        return (char32_t(b0 & 0x1F) << 6) | (byte(i + 1) & 0x3F);
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
        if (cont(i + 1, lo, hi) && cont(i + 2)) {
            *width = 3;
            return (char32_t(b0 & 0x0F) << 12) | (char32_t(byte(i + 1) & 0x3F) << 6) |
                   (byte(i + 2) & 0x3F);
        }
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3)) {
            *width = 4;
            return (char32_t(b0 & 0x07) << 18) | (char32_t(byte(i + 1) & 0x3F) << 12) |
                   (char32_t(byte(i + 2) & 0x3F) << 6) | (byte(i + 3) & 0x3F);
        }
    }
    return 0xFFFD;
}

// unicode.IsSpace: the Latin-1 spaces, then Unicode's White_Space property.
bool is_space_rune(char32_t r) {
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

// strings.TrimLeftFunc(s, unicode.IsSpace)
std::string_view trim_left_space(std::string_view s) {
    std::size_t i = 0, width = 0;
    while (i < s.size() && go_is_space_at(s, i, &width))
        i += width;
    return s.substr(i);
}

// strings.TrimSpace
std::string_view trim_space(std::string_view s) {
    s = trim_left_space(s);
    // Walk forward, remembering where the last non-space rune ended.
    std::size_t end = 0, i = 0, width = 0;
    while (i < s.size()) {
        bool space = go_is_space_at(s, i, &width);
        i += width;
        if (!space)
            end = i;
    }
    return s.substr(0, end);
}

// isTokenChar (src/mime/grammar.go): ASCII, not a control, space or tspecial.
bool is_token_char(char32_t r) {
    if (r <= 0x20 || r >= 0x7f)
        return false;
    for (char t : std::string_view("()<>@,;:\\\"/[]?="))
        if (r == static_cast<char32_t>(t))
            return false;
    return true;
}
bool is_tspecial_byte(unsigned char c) {
    return std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) !=
           std::string_view::npos;
}

// consumeToken: token characters are ASCII, so bytes are runes here; a non-ASCII byte ends it.
std::pair<std::string_view, std::string_view> consume_token(std::string_view v) {
    std::size_t n = 0;
    while (n < v.size() && is_token_char(static_cast<unsigned char>(v[n])))
        ++n;
    return {v.substr(0, n), v.substr(n)};
}

// consumeValue: a token or a quoted string. ok=false where Go returns ("", v).
struct Value {
    bool empty_and_unmoved; // value == "" && rest == v: the failure Go tests for
    std::string_view rest;
};
Value consume_value(std::string_view v) {
    if (v.empty())
        return {true, v};
    if (v[0] != '"') {
        auto [token, rest] = consume_token(v);
        return {token.empty(), rest};
    }
    for (std::size_t i = 1; i < v.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(v[i]);
        if (c == '"')
            return {false, v.substr(i + 1)}; // even "" is a value: the rest moved
        if (c == '\\' && i + 1 < v.size() &&
            is_tspecial_byte(static_cast<unsigned char>(v[i + 1]))) {
            ++i;
            continue;
        }
        if (c == '\r' || c == '\n')
            return {true, v};
    }
    return {true, v}; // no closing quote
}

// consumeMediaParam: the parameter's lower-cased name ("" on failure) and the rest.
std::pair<std::string, std::string_view> consume_media_param(std::string_view v) {
    std::string_view rest = trim_left_space(v);
    if (rest.empty() || rest[0] != ';')
        return {"", v};
    rest = trim_left_space(rest.substr(1));
    auto [param, after] = consume_token(rest);
    if (param.empty())
        return {"", v};
    std::string name(param);
    for (char &c : name)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c + 32);
    rest = trim_left_space(after);
    if (rest.empty() || rest[0] != '=')
        return {"", v};
    rest = trim_left_space(rest.substr(1));
    Value value = consume_value(rest);
    if (value.empty_and_unmoved)
        return {"", v};
    return {name, value.rest};
}

// checkMediaTypeDisposition on the lowered, trimmed type: token, or token "/" token.
bool valid_disposition(std::string_view s) {
    auto [type, rest] = consume_token(s);
    if (type.empty())
        return false;
    if (rest.empty())
        return true;
    if (rest[0] != '/')
        return false;
    auto [subtype, after] = consume_token(rest.substr(1));
    return !subtype.empty() && after.empty();
}

} // namespace

bool go_is_space_at(std::string_view s, std::size_t i, std::size_t *width) {
    return is_space_rune(decode_rune(s, i, width));
}

GoMediaType go_parse_media_type(std::string_view v) {
    std::string_view base = v.substr(0, v.find(';'));
    // strings.ToLower: ASCII letters, and the two runes whose lower case is ASCII (U+0130 İ → i,
    // U+212A Kelvin sign → k). Every other non-ASCII rune stays non-ASCII, which
    // checkMediaTypeDisposition refuses unless TrimSpace removes it; such runes are kept as
    // they are (invalid bytes too: Go's U+FFFD is refused the same way).
    std::string lowered;
    lowered.reserve(base.size());
    for (std::size_t i = 0; i < base.size();) {
        std::size_t width = 0;
        char32_t r = decode_rune(base, i, &width);
        if (r >= 'A' && r <= 'Z')
            lowered.push_back(static_cast<char>(r + 32));
        else if (r == 0x130)
            lowered.push_back('i');
        else if (r == 0x212A)
            lowered.push_back('k');
        else
            lowered.append(base.substr(i, width));
        i += width;
    }
    GoMediaType out;
    out.type = std::string(trim_space(lowered));
    if (!valid_disposition(out.type))
        return {"", true};

    std::set<std::string> params;
    std::map<std::string, std::set<std::string>> continuation; // RFC 2231 "name*0", "name*"
    std::string_view rest = v.substr(base.size());
    while (!rest.empty()) {
        rest = trim_left_space(rest);
        if (rest.empty())
            break;
        auto [key, after] = consume_media_param(rest);
        if (key.empty()) {
            if (trim_space(rest) == ";")
                break;        // a trailing semicolon is no error
            out.error = true; // the type, with ErrInvalidMediaParameter
            return out;
        }
        std::set<std::string> &names = key.find('*') != std::string::npos
                                           ? continuation[key.substr(0, key.find('*'))]
                                           : params;
        if (!names.insert(key).second)
            return {"", true}; // "mime: duplicate parameter name"
        rest = after;
    }
    return out;
}

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
} // namespace

Result<std::string> go_percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size())
                return Error{"bad percent-encoding"};
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return Error{"bad percent-encoding"};
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

} // namespace imagegate
