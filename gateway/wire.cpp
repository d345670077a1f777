#include "gateway/wire.hpp"

#include "policy/reference.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace imagegate {

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

// The path as a registry's router sees it (Go's url.Parse unescapes it), or "" when it is
// not plain: a bad escape, an escaped '/', a control byte, an empty, "." or ".." segment.
std::string plain_path(std::string_view path) {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
        char c = path[i];
        if (c == '%') {
            int hi = i + 2 < path.size() ? hex_value(path[i + 1]) : -1;
            int lo = i + 2 < path.size() ? hex_value(path[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return "";
            c = static_cast<char>(hi * 16 + lo);
            if (c == '/')
                return "";
            i += 2;
        }
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
            return "";
        out += c;
    }
    if (!out.starts_with('/'))
        return "";
    for (std::size_t start = 1; start <= out.size();) {
        std::size_t end = out.find('/', start);
        if (end == std::string::npos)
            end = out.size();
        std::string_view segment(out.data() + start, end - start);
        bool last = end == out.size();
        if ((segment.empty() && !last) || segment == "." || segment == "..")
            return "";
        start = end + 1;
    }
    return out;
}

// The value of KEY in a query string (the first), unescaped; "" when absent.
std::string query_value(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) != key || eq == std::string_view::npos)
            continue;
        std::string value;
        std::string_view raw = pair.substr(eq + 1);
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '%' && i + 2 < raw.size() + 0 && hex_value(raw[i + 1]) >= 0 &&
                hex_value(raw[i + 2]) >= 0) {
                value += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
                i += 2;
            } else {
                value += raw[i] == '+' ? ' ' : raw[i];
            }
        }
        return value;
    }
    return "";
}

struct Use {
    Action action;
    std::string name; // repository path, e.g. "library/alpine"
    std::string ref;  // ":tag" or "@digest" for manifests, else ""
};

bool writes(std::string_view method) {
    return method != "GET" && method != "HEAD";
}

// Every way PATH (after "/v2/") names a repository, with what the request does to it.
// `content` is set when the path has the shape of an image content request.
std::vector<Use> uses_of(std::string_view method, std::string_view rest, std::string_view query,
                         bool &content) {
    std::vector<Use> uses;
    Action rw = writes(method) ? Action::Push : Action::Pull;
    auto each = [&](std::string_view marker, auto &&add) {
        for (auto at = rest.find(marker); at != std::string_view::npos;
             at = rest.find(marker, at + 1)) {
            content = true;
            add(std::string(rest.substr(0, at)), rest.substr(at + marker.size()));
        }
    };
    each("/manifests/", [&](std::string name, std::string_view ref) {
        std::string r(ref);
        bool digest = r.find(':') != std::string::npos;
        uses.push_back({rw, std::move(name), (digest ? "@" : ":") + r});
    });
    each("/blobs/uploads", [&](std::string name, std::string_view) {
        uses.push_back({Action::Push, name, ""});
        if (std::string from = query_value(query, "from"); !from.empty())
            uses.push_back({Action::Pull, from, ""});
    });
    each("/blobs/", [&](std::string name, std::string_view tail) {
        if (!tail.starts_with("uploads"))
            uses.push_back({rw, std::move(name), ""});
    });
    each("/referrers/", [&](std::string name, std::string_view) {
        uses.push_back({Action::Pull, std::move(name), ""});
    });
    if (rest.ends_with("/tags/list")) {
        content = true;
        uses.push_back({Action::Pull, std::string(rest.substr(0, rest.size() - 10)), ""});
    }
    return uses;
}

bool audit_mode(const Policy *policy) {
    return policy && policy->mode == Mode::Audit;
}

WireVerdict denied(WireVerdict v, Cause cause, std::string message, const Policy *policy) {
    v.policy_denied = true;
    v.allow = audit_mode(policy);
    v.cause = cause;
    v.message = std::move(message);
    return v;
}

} // namespace

std::string registry_error_body(std::string_view code, std::string_view message) {
    boost::json::object error{{"code", code}, {"message", message}};
    boost::json::object body{{"errors", boost::json::array{error}}};
    return boost::json::serialize(body);
}

WireVerdict decide_wire_connect(std::string_view registry, const Policy *policy,
                                std::string_view policy_problem) {
    WireVerdict v;
    v.endpoint = "CONNECT " + std::string(registry);
    if (!policy)
        return denied(std::move(v), Cause::NoPolicy,
                      "imagegate: no valid imagegate policy has been loaded", policy);
    if (!policy_problem.empty())
        return denied(std::move(v), Cause::StalePolicy, "imagegate: " + std::string(policy_problem),
                      policy);
    if (policy->registry_access_enabled && !policy->allowed_registries.contains(registry)) {
        ImageDecision d;
        d.action = Action::Pull;
        d.reference = d.normalized = d.registry = std::string(registry);
        d.category = registry == kDockerHub ? Category::None : Category::OtherRegistry;
        d.cause = Cause::Registry;
        d.reason = "registry " + std::string(registry) + " is not allowed by " +
                   policy->organization + "'s Registry Access Management (policy " +
                   std::to_string(policy->serial) + ")";
        d.message = "imagegate: pull from " + std::string(registry) + " denied: " + d.reason;
        v.decided = true;
        v.images.push_back(d);
        return denied(std::move(v), Cause::Registry, d.message, policy);
    }
    return v;
}

WireVerdict decide_wire_request(std::string_view method, std::string_view target,
                                std::string_view registry, const Policy *policy,
                                std::string_view policy_problem) {
    WireVerdict v;
    auto q = target.find('?');
    std::string_view raw_path = target.substr(0, q);
    std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    v.endpoint = std::string(method) + " " + std::string(raw_path.substr(0, 512));
    if (!raw_path.starts_with("/v2/"))
        return v; // token endpoints and the like: no image content
    std::string path = plain_path(raw_path);
    if (path.empty())
        return denied(std::move(v), Cause::UnreadableRequest,
                      "imagegate: the registry path " + std::string(raw_path.substr(0, 200)) +
                          " is not plain (escaped '/', empty, '.' or '..' segments)",
                      policy);
    bool content = false;
    std::vector<Use> uses = uses_of(method, std::string_view(path).substr(4), query, content);
    if (!content)
        return v; // /v2/, _catalog, a registry's own token path under /v2/
    if (!policy)
        return denied(std::move(v), Cause::NoPolicy,
                      "imagegate: no valid imagegate policy has been loaded", policy);
    if (!policy_problem.empty())
        return denied(std::move(v), Cause::StalePolicy, "imagegate: " + std::string(policy_problem),
                      policy);
    v.decided = true;
    for (const Use &use : uses) {
        std::string reference = std::string(registry) + "/" + use.name + use.ref;
        ImageDecision d = decide_image(use.action, reference, "", *policy, false, Roles::Skip);
        if (!d.allow && !v.policy_denied) {
            v.policy_denied = true;
            v.cause = d.cause == Cause::None ? Cause::Image : d.cause;
            v.message = d.message;
        }
        v.images.push_back(std::move(d));
    }
    if (v.policy_denied)
        v.allow = audit_mode(policy);
    return v;
}

} // namespace imagegate
