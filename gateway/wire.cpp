#include "gateway/wire.hpp"

#include "policy/go_http.hpp"
#include "policy/reference.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace imagegate {

namespace {

// Why a decoded path is not plain: an empty, "." or ".." segment (a registry's router would
// clean it and answer a redirect), or a byte no registry name, tag or digest has.
std::string path_problem(std::string_view path) {
    if (!path.starts_with('/'))
        return "it does not start with '/'";
    for (unsigned char c : path)
        if (c <= 0x20 || c >= 0x7f)
            return "it has a byte no registry path has";
    for (std::size_t start = 1; start <= path.size();) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos)
            end = path.size();
        std::string_view segment(path.data() + start, end - start);
        bool last = end == path.size();
        if ((segment.empty() && !last) || segment == "." || segment == "..")
            return "it has an empty, '.' or '..' segment";
        start = end + 1;
    }
    return "";
}

// Every value of KEY in QUERY, read as Go's url.ParseQuery reads it: pairs split at '&' (Go
// >= 1.17 drops a pair with ';') and at '&' or ';' (Go < 1.17); both readings are kept. False
// when a pair has a bad escape (Go drops such a pair; another registry might not).
bool query_values(std::string_view query, std::vector<std::string> &from,
                  std::vector<std::string> &mount) {
    bool readable = true;
    auto read = [&](std::string_view separators, bool drop_semicolons) {
        while (!query.empty()) {
            auto cut = query.find_first_of(separators);
            std::string_view pair = query.substr(0, cut);
            query = cut == std::string_view::npos ? "" : query.substr(cut + 1);
            if (pair.empty() || (drop_semicolons && pair.find(';') != std::string_view::npos))
                continue;
            auto eq = pair.find('=');
            auto key = go_percent_decode(pair.substr(0, eq), true);
            auto value =
                go_percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
            if (!key || !value) {
                readable = false;
                continue;
            }
            auto &into = *key == "from" ? from : mount;
            if ((*key == "from" || *key == "mount") &&
                std::find(into.begin(), into.end(), *value) == into.end())
                into.push_back(std::move(value).value());
        }
    };
    std::string_view whole = query;
    read("&", true);
    query = whole;
    read("&;", false);
    return readable;
}

bool writes(std::string_view method) {
    return method != "GET" && method != "HEAD";
}

// Every way PATH (after "/v2/") names a repository, with what the request does to it.
void add_uses(std::string_view method, std::string_view rest, WireReading &reading) {
    Action rw = writes(method) ? Action::Push : Action::Pull;
    auto each = [&](std::string_view marker, auto &&add) {
        for (auto at = rest.find(marker); at != std::string_view::npos;
             at = rest.find(marker, at + 1))
            add(std::string(rest.substr(0, at)), rest.substr(at + marker.size()));
    };
    auto &uses = reading.uses;
    each("/manifests/", [&](std::string name, std::string_view ref) {
        uses.push_back({rw, std::move(name), "manifest", std::string(ref)});
    });
    each("/blobs/uploads", [&](std::string name, std::string_view) {
        uses.push_back({Action::Push, name, "blob-upload", ""});
        for (const std::string &from : reading.from)
            uses.push_back({Action::Pull, from, "mount-from", ""});
    });
    each("/blobs/", [&](std::string name, std::string_view tail) {
        if (!tail.starts_with("uploads"))
            uses.push_back({rw, std::move(name), "blob", std::string(tail)});
    });
    each("/referrers/", [&](std::string name, std::string_view tail) {
        uses.push_back({Action::Pull, std::move(name), "referrers", std::string(tail)});
    });
    if (rest.ends_with("/tags/list"))
        uses.push_back({Action::Pull, std::string(rest.substr(0, rest.size() - 10)), "tags", ""});
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

WireReading read_wire_request(const WireRequest &request) {
    WireReading reading;
    auto q = request.target.find('?');
    std::string_view raw_path = request.target.substr(0, q);
    std::string_view query = q == std::string_view::npos ? "" : request.target.substr(q + 1);
    std::string shown(raw_path.substr(0, 200));
    auto decoded = go_percent_decode(raw_path, false);
    if (!decoded) {
        reading.problem = "the registry path " + shown + " has a bad escape";
        return reading;
    }
    reading.path = std::move(decoded).value();
    // Registry names, tags and digests never need an escape: an escaped path is one a client
    // wrote to be read two ways (an escaped "/v2/" prefix, an escaped '/' in a name).
    if (raw_path.find('%') != std::string_view::npos) {
        reading.problem = "the registry path " + shown + " is escaped (it reads as " +
                          reading.path.substr(0, 200) + ")";
        return reading;
    }
    if (std::string why = path_problem(reading.path); !why.empty()) {
        reading.problem = "the registry path " + shown + " is not plain: " + why;
        return reading;
    }
    reading.api = reading.path == "/v2" || reading.path.starts_with("/v2/");
    if (!reading.api || reading.path == "/v2")
        return reading;
    bool readable_query = query_values(query, reading.from, reading.mount);
    add_uses(request.method, std::string_view(reading.path).substr(4), reading);
    if (reading.uses.empty())
        return reading; // /v2/, _catalog, a registry's own token path under /v2/
    if (!readable_query) {
        reading.problem = "the query of " + shown + " has a bad escape";
        return reading;
    }
    // A registry mounts from a repository name; a reference with a tag or digest is no name
    // (distribution refuses it; another registry might keep its name and drop the rest).
    for (const auto &use : reading.uses)
        if (use.route == "mount-from" && use.name.find_first_of("@:") != std::string::npos) {
            reading.problem =
                "the mount's from " + use.name.substr(0, 200) + " is not a repository name";
            return reading;
        }
    for (const std::string &value : request.content_types)
        if (std::string type =
                go_parse_media_type(value).type; // Go's rules: Unicode space and case
            type == "application/x-www-form-urlencoded" || type.starts_with("multipart/")) {
            reading.problem = "a form body (Content-Type " + value.substr(0, 100) + ") on " +
                              shown +
                              ": a registry reads parameters such as mount and from from it";
            return reading;
        }
    return reading;
}

void NamedDigests::add(std::string_view repository, const std::vector<std::string> &digests,
                       std::shared_ptr<const void> policy) {
    if (!policy)
        return;
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (policy_ != policy) { // another policy: what the last one allowed is not this one's
        entries_.clear();
        policy_ = std::move(policy);
    }
    if (entries_.size() + digests.size() > max_entries_)
        std::erase_if(entries_, [&](const auto &e) { return e.second < now; });
    for (const std::string &digest : digests) {
        if (entries_.size() >= max_entries_)
            break; // full of live entries: a later blob is decided on its own
        entries_[std::string(repository) + "@" + digest] = now + ttl_;
    }
}

bool NamedDigests::contains(std::string_view repository, std::string_view digest,
                            const void *policy) const {
    std::lock_guard lock(mutex_);
    if (!policy || policy_.get() != policy)
        return false;
    auto it = entries_.find(std::string(repository) + "@" + std::string(digest));
    return it != entries_.end() && it->second >= std::chrono::steady_clock::now();
}

std::vector<std::string> digests_named_by_manifest(std::string_view body) {
    std::vector<std::string> out;
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(body, ec);
    if (ec || !doc.is_object())
        return out;
    auto digest_of = [&](const boost::json::value &v, std::string_view key) {
        if (const auto *o = v.if_object())
            if (const auto *d = o->if_contains(key); d && d->is_string())
                out.emplace_back(d->as_string());
    };
    const auto &object = doc.as_object();
    if (const auto *config = object.if_contains("config"))
        digest_of(*config, "digest");
    for (std::string_view list : {"layers", "manifests", "blobs"})
        if (const auto *items = object.if_contains(list); items && items->is_array())
            for (const auto &item : items->as_array())
                digest_of(item, "digest");
    if (const auto *layers = object.if_contains("fsLayers"); layers && layers->is_array())
        for (const auto &item : layers->as_array())
            digest_of(item, "blobSum");
    return out;
}

WireVerdict decide_wire_request(std::string_view method, std::string_view target,
                                std::string_view registry, const Policy *policy,
                                std::string_view policy_problem) {
    return decide_wire_request(WireRequest{method, target, {}}, registry, policy, policy_problem,
                               nullptr);
}

WireVerdict decide_wire_request(const WireRequest &request, std::string_view registry,
                                const Policy *policy, std::string_view policy_problem,
                                const NamedDigests *named) {
    WireVerdict v;
    std::string_view raw_path = request.target.substr(0, request.target.find('?'));
    v.endpoint = std::string(request.method) + " " + std::string(raw_path.substr(0, 512));
    WireReading reading = read_wire_request(request);
    v.path = reading.path;
    if (!reading.problem.empty())
        return denied(std::move(v), Cause::UnreadableRequest, "imagegate: " + reading.problem,
                      policy);
    if (!reading.api) {
        v.outside_api = true;
        return denied(std::move(v), Cause::UnreadableRequest,
                      "imagegate: " + std::string(raw_path.substr(0, 200)) + " on " +
                          std::string(registry) +
                          " is outside the registry API (/v2/); the gateway carries the API and "
                          "the token paths a registry names, nothing else",
                      policy);
    }
    if (reading.uses.empty()) {
        if (reading.path == "/v2" || reading.path == "/v2/" || reading.path == "/v2/_catalog")
            return v; // the version check and the catalog: no image content
        // Another spelling of a route (/Manifests/, tags/list/), an extension route, or a
        // registry's token path under /v2/ (which an allowed answer names, and then passes).
        v.outside_api = true;
        return denied(std::move(v), Cause::UnreadableRequest,
                      "imagegate: " + std::string(raw_path.substr(0, 200)) + " on " +
                          std::string(registry) +
                          " is no registry API route the gateway decides (manifests, blobs, "
                          "uploads, tags/list, referrers)",
                      policy);
    }
    if (!policy)
        return denied(std::move(v), Cause::NoPolicy,
                      "imagegate: no valid imagegate policy has been loaded", policy);
    if (!policy_problem.empty())
        return denied(std::move(v), Cause::StalePolicy, "imagegate: " + std::string(policy_problem),
                      policy);
    v.decided = true;
    for (const auto &use : reading.uses) {
        bool by_digest = use.ref.find(':') != std::string::npos;
        std::string ref = use.route == "manifest" ? (by_digest ? "@" : ":") + use.ref : "";
        std::string repository = std::string(registry) + "/" + use.name;
        ImageDecision d =
            decide_image(use.action, repository + ref, "", *policy, false, Roles::Skip);
        // A blob or child manifest that an allowed manifest named is part of that image.
        bool part = use.action == Action::Pull && by_digest &&
                    (use.route == "blob" || use.route == "manifest");
        if (!d.allow && part && named && named->contains(repository, use.ref, policy)) {
            d.allow = true;
            d.cause = Cause::None;
            d.message.clear();
            d.reason = use.ref + " was named by an allowed manifest of " + repository;
        }
        if (!d.allow && !v.policy_denied) {
            v.policy_denied = true;
            v.cause = d.cause == Cause::None ? Cause::Image : d.cause;
            v.message = d.message;
        }
        v.images.push_back(std::move(d));
    }
    if (v.policy_denied) {
        v.allow = audit_mode(policy);
    } else if (reading.uses.size() == 1 && request.method == "GET" &&
               reading.uses[0].route == "manifest" &&
               reading.uses[0].ref.find(':') != std::string::npos) {
        v.manifest_name = std::string(registry) + "/" + reading.uses[0].name;
        v.manifest_digest = reading.uses[0].ref;
    }
    return v;
}

} // namespace imagegate
