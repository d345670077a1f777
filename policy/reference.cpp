#include "policy/reference.hpp"

#include <algorithm>
#include <cctype>

namespace imagegate {
namespace {

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_hex_lower(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}
bool is_word(char c) {
    return is_alnum(c) || c == '_';
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*   (distribution/reference regexp.go)
bool valid_path_component(std::string_view c) {
    if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back()))
        return false;
    for (std::size_t i = 0; i < c.size();) {
        if (is_lower_alnum(c[i])) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < c.size() && !is_lower_alnum(c[j]))
            ++j;
        std::string_view sep = c.substr(i, j - i);
        bool ok = sep == "." || sep == "_" || sep == "__" ||
                  std::all_of(sep.begin(), sep.end(), [](char ch) { return ch == '-'; });
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_component(std::string_view c) {
    if (c.empty() || !is_alnum(c.front()) || !is_alnum(c.back()))
        return false;
    return std::all_of(c.begin(), c.end(), [](char ch) { return is_alnum(ch) || ch == '-'; });
}

// domain := (domain-component ('.' domain-component)* | '[' ipv6 ']') (':' [0-9]+)?
bool valid_domain(std::string_view d) {
    std::string_view host = d;
    if (!d.empty() && d.front() == '[') {
        auto close = d.find(']');
        if (close == std::string_view::npos || close == 1)
            return false;
        std::string_view ip = d.substr(1, close - 1);
        if (!std::all_of(ip.begin(), ip.end(), [](char ch) {
                return std::isxdigit(static_cast<unsigned char>(ch)) || ch == ':';
            }))
            return false;
        std::string_view rest = d.substr(close + 1);
        if (rest.empty())
            return true;
        if (rest.front() != ':' || rest.size() < 2)
            return false;
        return std::all_of(rest.begin() + 1, rest.end(),
                           [](char ch) { return ch >= '0' && ch <= '9'; });
    }
    auto colon = d.find(':');
    if (colon != std::string_view::npos) {
        std::string_view port = d.substr(colon + 1);
        if (port.empty() ||
            !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
            return false;
        host = d.substr(0, colon);
    }
    if (host.empty())
        return false;
    std::size_t start = 0;
    while (true) {
        auto dot = host.find('.', start);
        if (!valid_domain_component(
                host.substr(start, dot == std::string_view::npos ? dot : dot - start)))
            return false;
        if (dot == std::string_view::npos)
            return true;
        start = dot + 1;
    }
}

// tag := [\w][\w.-]{0,127}
bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128 || !is_word(t.front()))
        return false;
    return std::all_of(t.begin(), t.end(),
                       [](char ch) { return is_word(ch) || ch == '.' || ch == '-'; });
}

// go-digest accepts only the algorithms it knows, each with its exact lower-case hex length.
bool valid_digest(std::string_view d) {
    auto colon = d.find(':');
    if (colon == std::string_view::npos)
        return false;
    std::string_view alg = d.substr(0, colon), hex = d.substr(colon + 1);
    std::size_t want = alg == "sha256" ? 64 : alg == "sha384" ? 96 : alg == "sha512" ? 128 : 0;
    return want != 0 && hex.size() == want && std::all_of(hex.begin(), hex.end(), is_hex_lower);
}

Error invalid(std::string_view text, std::string_view why) {
    std::string shown(text.substr(0, 300));
    if (text.size() > 300)
        shown += "...";
    return Error{"invalid reference \"" + shown + "\": " + std::string(why)};
}

} // namespace

namespace {
bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != b[i])
            return false;
    return true;
}
// Every spelling of Docker Hub's registry: any case, a trailing dot, port 443. No allocation:
// the parser asks this of every reference.
bool is_docker_hub_spelling(std::string_view r) {
    if (!r.empty() && r.back() == '.')
        r.remove_suffix(1); // "docker.io." resolves to the same host
    if (r.size() > 4 && r.ends_with(":443"))
        r.remove_suffix(4);
    return iequals(r, "docker.io") || iequals(r, "index.docker.io") ||
           iequals(r, "registry-1.docker.io") || iequals(r, "registry.hub.docker.com");
}
} // namespace

std::string canonical_registry(std::string_view registry) {
    if (is_docker_hub_spelling(registry))
        return std::string(kDockerHub);
    std::string r = lower(registry);
    if (!r.empty() && r.back() == '.')
        r.pop_back();
    return r;
}

std::string Reference::registry_key() const {
    return canonical_registry(registry);
}

std::string_view Reference::first_component() const {
    std::string_view p = path;
    return p.substr(0, p.find('/'));
}

std::string Reference::str() const {
    std::string out;
    out.reserve(registry.size() + 1 + path.size() + 1 + tag.size() + 1 + digest.size());
    out += registry;
    out += '/';
    out += path;
    if (!tag.empty()) {
        out += ':';
        out += tag;
    }
    if (!digest.empty()) {
        out += '@';
        out += digest;
    }
    return out;
}

bool looks_like_image_id(std::string_view text) {
    if (text.starts_with("sha256:"))
        return true;
    return !text.empty() && text.size() <= 64 &&
           std::all_of(text.begin(), text.end(), is_hex_lower);
}

// What distribution/reference refuses in a repository path (the name without its registry),
// or null: present, at most 255 characters, lower case, every component valid.
static const char *path_problem(std::string_view path) {
    if (path.empty())
        return "missing repository name";
    if (path.size() > kMaxNameLength)
        return "repository name must not be longer than 255 characters";
    if (std::any_of(path.begin(), path.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
        return "repository name must be lowercase";
    std::size_t start = 0;
    while (true) {
        auto slash = path.find('/', start);
        std::string_view component =
            path.substr(start, slash == std::string_view::npos ? slash : slash - start);
        if (!valid_path_component(component))
            return "invalid repository name";
        if (slash == std::string_view::npos)
            return nullptr;
        start = slash + 1;
    }
}

Result<Reference> parse_reference(std::string_view text) {
    if (text.empty())
        return invalid(text, "empty reference");
    if (text.size() > kMaxReferenceLength)
        return invalid(text, "reference too long");
    for (char c : text)
        if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
            return invalid(text, "contains a space, control or non-ASCII character");

    // ParseNormalizedNamed refuses a bare 64-hex ID.
    if (text.size() == 64 && std::all_of(text.begin(), text.end(), is_hex_lower))
        return invalid(text, "cannot specify 64-byte hexadecimal strings");

    Reference ref;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        std::string_view digest = rest.substr(at + 1);
        if (!valid_digest(digest))
            return invalid(text, "invalid digest");
        ref.digest = digest;
        rest = rest.substr(0, at);
    }
    auto last_slash = rest.rfind('/');
    auto last_colon = rest.rfind(':');
    if (last_colon != std::string_view::npos &&
        (last_slash == std::string_view::npos || last_colon > last_slash)) {
        std::string_view tag = rest.substr(last_colon + 1);
        if (!valid_tag(tag))
            return invalid(text, "invalid tag");
        ref.tag = tag;
        rest = rest.substr(0, last_colon);
    }
    if (rest.empty())
        return invalid(text, "missing repository name");

    std::string_view domain, path = rest;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view first = rest.substr(0, slash);
        bool is_domain =
            first == "localhost" || first.find('.') != std::string_view::npos ||
            first.find(':') != std::string_view::npos ||
            std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
        if (is_domain) {
            domain = first;
            path = rest.substr(slash + 1);
        }
    }
    // distribution/reference matches the whole name first (a first component that is not a valid
    // domain may still be a valid path component, "a_b.c/x"), then splits the domain off by the
    // rule above: such a name is accepted, with that component as its registry.
    if (!domain.empty() && !valid_domain(domain) && !valid_path_component(domain))
        return invalid(text, "invalid registry name");
    if (const char *problem = path_problem(path))
        return invalid(text, problem);

    // distribution/reference keeps the registry as written; Docker Hub's spellings fold to
    // docker.io.
    bool hub = domain.empty() || is_docker_hub_spelling(domain);
    ref.registry = hub ? kDockerHub : domain;
    if (hub && path.find('/') == std::string_view::npos) {
        ref.path.reserve(8 + path.size());
        ref.path = "library/";
        ref.path += path;
    } else {
        ref.path = path;
    }
    // distribution/reference measures the normalised path: "library/" counts (reference.go Parse).
    if (ref.path.size() > kMaxNameLength)
        return invalid(text, "repository name must not be longer than 255 characters");
    if (ref.tag.empty() && ref.digest.empty())
        ref.tag = "latest";
    // The normalised form is parsed again (names dockerd reports, policy impact replays): it
    // must fit the limit too, or normalising twice would not give the same answer.
    std::size_t normalised = ref.registry.size() + 1 + ref.path.size() +
                             (ref.tag.empty() ? 0 : 1 + ref.tag.size()) +
                             (ref.digest.empty() ? 0 : 1 + ref.digest.size());
    if (normalised > kMaxReferenceLength)
        return invalid(text, "reference too long");
    return ref;
}

} // namespace imagegate
