// Properties (issue 8) checked over many generated inputs rather than a table:
//  - normalising a normalised reference changes nothing;
//  - every reference the parser accepts, the grammar of docs/authz-protocol.md §5 accepts
//    (an independent regular expression, reference_grammar.hpp), and every reference built
//    from that grammar within Docker's limits is accepted;
//  - under the shipped default policy, a deny never turns into an allow by adding a version
//    prefix, percent-encoding a character, reordering or repeating query parameters; the
//    transformations that mean the same request to dockerd give exactly the same decision.
// The generators are seeded: a failure prints the seed and the input, and reproduces.
#include "policy/authz_request.hpp"
#include "policy/decide.hpp"
#include "policy/reference.hpp"
#include "reference_grammar.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace imagegate;
using imagegate::testing::grammar_accepts;

namespace {

using Random = std::mt19937;

std::size_t pick(Random &random, std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random);
}
bool chance(Random &random, int percent) {
    return static_cast<int>(pick(random, 100)) < percent;
}
template <class T> const T &one_of(Random &random, const std::vector<T> &items) {
    return items[pick(random, items.size())];
}

std::string random_string(Random &random, std::string_view alphabet, std::size_t min,
                          std::size_t max) {
    std::string out(min + pick(random, max - min + 1), ' ');
    for (char &c : out)
        c = alphabet[pick(random, alphabet.size())];
    return out;
}

// --- References built from the grammar ------------------------------------------------------

const std::string kLowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
const std::string kHex = "0123456789abcdef";

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*
std::string path_component(Random &random) {
    std::string out = random_string(random, kLowerAlnum, 1, 6);
    while (chance(random, 40)) {
        static const std::vector<std::string> separators = {".", "_", "__", "-", "--", "---"};
        out += one_of(random, separators) + random_string(random, kLowerAlnum, 1, 5);
    }
    return out;
}

std::string grammar_reference(Random &random) {
    static const std::vector<std::string> domains = {"",
                                                     "",
                                                     "",
                                                     "docker.io",
                                                     "index.docker.io",
                                                     "registry-1.docker.io",
                                                     "localhost",
                                                     "localhost:5000",
                                                     "ghcr.io",
                                                     "registry.example.com:443",
                                                     "Foo",
                                                     "MyRegistry",
                                                     "[::1]:5000",
                                                     "[fe80::1]",
                                                     "10.0.0.1:5000",
                                                     "a-b.c-d.example",
                                                     "x"};
    std::string domain = one_of(random, domains);
    std::string out = domain.empty() ? "" : domain + "/";
    std::size_t components = 1 + pick(random, 4);
    for (std::size_t i = 0; i < components; ++i)
        out += (i ? "/" : "") + path_component(random);
    if (chance(random, 50))
        out +=
            ":" +
            random_string(random, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
                          1, 1) +
            random_string(
                random, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", 0, 20);
    if (chance(random, 25))
        out += "@sha256:" + random_string(random, kHex, 64, 64);
    return out;
}

// Random edits: the characters the grammar gives meaning to, upper case, and a few strangers.
std::string mutate(Random &random, std::string text) {
    static const std::string alphabet = "abcxyz019AZ./:-_@[]%+ \x7f\xc3";
    std::size_t edits = 1 + pick(random, 4);
    for (std::size_t i = 0; i < edits; ++i) {
        std::size_t at = text.empty() ? 0 : pick(random, text.size() + 1);
        switch (pick(random, 4)) {
        case 0:
            text.insert(at, 1, alphabet[pick(random, alphabet.size())]);
            break;
        case 1:
            if (at < text.size())
                text.erase(at, 1);
            break;
        case 2:
            if (at < text.size())
                text[at] = alphabet[pick(random, alphabet.size())];
            break;
        default:
            if (at < text.size())
                text.insert(at, text.substr(at, pick(random, 8))); // repeat a piece
        }
    }
    return text;
}

// --- Engine API requests and the transformations of the property -----------------------------

struct Request {
    std::string method;
    std::string path;                                       // raw, as sent
    std::vector<std::pair<std::string, std::string>> query; // raw key, raw value
    std::string body;                                       // JSON, or empty

    std::string uri() const {
        std::string out = path;
        for (std::size_t i = 0; i < query.size(); ++i)
            out += (i ? "&" : "?") + query[i].first +
                   (query[i].second.empty() && query[i].first.empty() ? "" : "=") + query[i].second;
        return out;
    }
    AuthzRequest authz() const {
        AuthzRequest r;
        r.method = method;
        r.uri = uri();
        r.body = body;
        if (!body.empty()) {
            r.headers["content-type"] = "application/json";
            r.headers["content-length"] = std::to_string(body.size());
        }
        return r;
    }
};

std::string escape(char c, bool lower_hex) {
    static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
    const char *hex = lower_hex ? lower : upper;
    unsigned char u = static_cast<unsigned char>(c);
    return std::string("%") + hex[u >> 4] + hex[u & 15];
}

// Percent-encodes one character of `text` that is not part of an escape already (and none of
// `keep`, which would change the meaning: separators of the query).
bool encode_one(Random &random, std::string &text, std::string_view keep, std::size_t from = 0) {
    std::vector<std::size_t> candidates;
    for (std::size_t i = from; i < text.size(); ++i) {
        bool in_escape =
            text[i] == '%' || (i >= 1 && text[i - 1] == '%') || (i >= 2 && text[i - 2] == '%');
        if (!in_escape && keep.find(text[i]) == std::string_view::npos)
            candidates.push_back(i);
    }
    if (candidates.empty())
        return false;
    std::size_t at = one_of(random, candidates);
    text.replace(at, 1, escape(text[at], chance(random, 50)));
    return true;
}

enum class Transform { VersionPrefix, EncodePath, EncodeQuery, Reorder, RepeatSame, RepeatOther };

const char *transform_name(Transform t) {
    switch (t) {
    case Transform::VersionPrefix:
        return "version prefix";
    case Transform::EncodePath:
        return "percent-encode a path character";
    case Transform::EncodeQuery:
        return "percent-encode a query character";
    case Transform::Reorder:
        return "reorder the query";
    case Transform::RepeatSame:
        return "repeat a parameter";
    case Transform::RepeatOther:
        return "repeat a parameter with another value";
    }
    return "?";
}

// Applies `t`; false when it does not apply to this request.
bool apply(Random &random, Transform t, Request &r) {
    switch (t) {
    case Transform::VersionPrefix:
        if (r.path.starts_with("/v1."))
            return false;
        r.path = "/v1." + std::to_string(12 + pick(random, 36)) + r.path;
        return true;
    case Transform::EncodePath: {
        // After the version prefix, if any: "/v1.41" must stay what it is (dockerd routes on it
        // raw).
        std::size_t from = r.path.starts_with("/v1.") ? r.path.find('/', 1) + 1 : 1;
        return encode_one(random, r.path, "", from);
    }
    case Transform::EncodeQuery: {
        if (r.query.empty())
            return false;
        auto &[key, value] = r.query[pick(random, r.query.size())];
        return encode_one(random, chance(random, 70) ? value : key, "&=+;#");
    }
    case Transform::Reorder:
        if (r.query.size() < 2)
            return false;
        std::shuffle(r.query.begin(), r.query.end(), random);
        return true;
    case Transform::RepeatSame: {
        if (r.query.empty())
            return false;
        auto param = r.query[pick(random, r.query.size())];
        if (param.first == "t" || param.first == "names")
            return false; // every value is used
        r.query.insert(
            r.query.begin() + static_cast<std::ptrdiff_t>(pick(random, r.query.size() + 1)), param);
        return true;
    }
    case Transform::RepeatOther: {
        if (r.query.empty())
            return false;
        auto param = r.query[pick(random, r.query.size())];
        static const std::vector<std::string> others = {"alpine",
                                                        "docker.io%2Flibrary%2Falpine",
                                                        "latest",
                                                        "3.19",
                                                        "bitnami%2Fredis",
                                                        "acme%2Fapp",
                                                        ""};
        param.second = one_of(random, others);
        r.query.insert(
            r.query.begin() + static_cast<std::ptrdiff_t>(pick(random, r.query.size() + 1)), param);
        return true;
    }
    }
    return false;
}

Request get(std::string path, std::vector<std::pair<std::string, std::string>> query = {}) {
    return {"GET", std::move(path), std::move(query), ""};
}
Request post(std::string path, std::vector<std::pair<std::string, std::string>> query = {},
             std::string body = "") {
    return {"POST", std::move(path), std::move(query), std::move(body)};
}

// Requests the default policy denies, and some it allows, each a Docker CLI would send.
std::vector<Request> base_requests() {
    std::vector<Request> out;
    for (std::string image :
         {"someone%2Ftool", "docker.io%2Fsomeone%2Ftool", "curlimages%2Fcurl",
          "index.docker.io%2Fx%2Fy", "registry-1.docker.io%2Fsomeone%2Ftool", "alpine",
          "docker.io%2Flibrary%2Falpine", "bitnami%2Fredis", "ghcr.io%2Fsomeone%2Ftool",
          "Someone%2Ftool", "someone%2FTool", "a%2F%2Fb", "sha256%3Aabc"}) {
        out.push_back(post("/images/create", {{"fromImage", image}, {"tag", "latest"}}));
        out.push_back(post("/images/create",
                           {{"fromImage", image}, {"tag", "1.0"}, {"platform", "linux%2Famd64"}}));
        out.push_back(
            post("/images/create",
                 {{"fromImage", image},
                  {"tag",
                   "sha256%3Aa3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}}));
        out.push_back(post("/images/create", {{"fromImage", image + "%3A2"}}));
        out.push_back(post("/plugins/pull", {{"remote", image}, {"name", "p"}}));
        out.push_back(post("/build", {{"t", "acme%2Fapp%3A1"}, {"remote", image}, {"pull", "1"}}));
        out.push_back(post("/images/" + image + "/tag", {{"repo", "acme%2Fcopy"}, {"tag", "1"}}));
        out.push_back(get("/images/" + image + "/json"));
        out.push_back({"DELETE", "/images/" + image, {{"force", "1"}}, ""});
    }
    for (std::string image :
         {"someone/tool", "alpine:3.19", "curlimages/curl:8", "bitnami/redis", "bad//name"}) {
        std::string quoted = "\"" + image + "\"";
        out.push_back(post("/containers/create", {{"name", "c1"}}, "{\"Image\":" + quoted + "}"));
        out.push_back(post("/containers/create", {},
                           "{\"Image\":" + quoted + ",\"HostConfig\":{\"Privileged\":true}}"));
        out.push_back(post("/containers/create", {{"name", "c2"}, {"platform", "linux"}},
                           "{\"Image\":" + quoted +
                               ",\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/s\"]}}"));
        out.push_back(
            post("/containers/create", {},
                 "{\"Image\":" + quoted + ",\"HostConfig\":{\"CapAdd\":[\"SYS_ADMIN\"]}}"));
        out.push_back(post("/containers/create", {},
                           "{\"Image\":" + quoted + ",\"HostConfig\":{\"PidMode\":\"host\"}}"));
        out.push_back(post("/services/create", {},
                           "{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":" + quoted + "}}}"));
    }
    out.push_back(post("/containers/abc/exec", {}, "{\"Privileged\":true,\"Cmd\":[\"sh\"]}"));
    out.push_back(post(
        "/volumes/create", {},
        "{\"Name\":\"v\",\"DriverOpts\":{\"type\":\"none\",\"o\":\"bind\",\"device\":\"/\"}}"));
    out.push_back(get("/images/json", {{"all", "1"}}));
    out.push_back(get("/containers/json", {{"all", "1"}, {"limit", "5"}}));
    out.push_back(get("/_ping"));
    return out;
}

DecisionContext default_context() {
    static const auto policy = load_policy(default_policy_json(), false).policy;
    DecisionContext ctx;
    ctx.policy = policy.get();
    ctx.protected_paths = {"/var/run/docker.sock", "/run/docker.sock", "/run/docker/plugins",
                           "/etc/imagegate", "/var/lib/imagegate"};
    return ctx;
}

} // namespace

TEST_CASE("normalising a normalised reference changes nothing") {
    Random random(20260801);
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string text = chance(random, 50) ? grammar_reference(random)
                                              : mutate(random, grammar_reference(random));
        auto ref = parse_reference(text);
        if (!ref)
            continue;
        ++accepted;
        CAPTURE(text);
        auto again = parse_reference(ref->str());
        REQUIRE(again.ok());
        CHECK(again->str() == ref->str());
        CHECK(again->registry == ref->registry);
        CHECK(again->path == ref->path);
        CHECK(again->tag == ref->tag);
        CHECK(again->digest == ref->digest);
    }
    CHECK(accepted > 10000);
}

TEST_CASE("every reference the parser accepts, the grammar of distribution/reference accepts") {
    Random random(8);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 30000; ++i) {
        std::string text = mutate(random, grammar_reference(random));
        auto ref = parse_reference(text);
        if (!ref) {
            ++refused;
            continue;
        }
        ++accepted;
        CAPTURE(text);
        CHECK(grammar_accepts(text));
    }
    // The mutations must exercise both sides.
    CHECK(accepted > 3000);
    CHECK(refused > 3000);
}

TEST_CASE("every reference built from the grammar within Docker's limits is accepted") {
    Random random(1);
    for (int i = 0; i < 20000; ++i) {
        std::string text = grammar_reference(random);
        CAPTURE(text);
        REQUIRE(grammar_accepts(text)); // the generator itself follows the grammar
        auto ref = parse_reference(text);
        CHECK(ref.ok());
        if (!ref)
            continue;
        bool hub_spelling = text.find('/') == std::string::npos || text.starts_with("docker.io/") ||
                            text.starts_with("index.docker.io/") ||
                            text.starts_with("registry-1.docker.io/");
        CHECK(ref->is_docker_hub() ==
              (hub_spelling ||
               (text.find('/') != std::string::npos &&
                text.substr(0, text.find('/')).find_first_of(".:") == std::string::npos &&
                text.substr(0, text.find('/')) != "localhost" &&
                text.substr(0, text.find('/')).find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
                    std::string::npos)));
        if (ref->is_docker_hub())
            CHECK(ref->path.find('/') != std::string::npos);
    }
}

TEST_CASE("a deny never turns into an allow by a version prefix, percent-encoding, reordering or "
          "repeating query parameters") {
    const DecisionContext ctx = default_context();
    const std::vector<Transform> all = {Transform::VersionPrefix, Transform::EncodePath,
                                        Transform::EncodeQuery,   Transform::Reorder,
                                        Transform::RepeatSame,    Transform::RepeatOther};
    Random random(42);
    int denied_bases = 0, allowed_bases = 0, variants = 0;
    for (const Request &base : base_requests()) {
        Decision original = decide_request(base.authz(), ctx);
        (original.allow ? allowed_bases : denied_bases) += 1;
        for (int i = 0; i < 150; ++i) {
            Request variant = base;
            std::string applied;
            bool same_meaning = true;
            std::size_t steps = 1 + pick(random, 4);
            for (std::size_t s = 0; s < steps; ++s) {
                Transform t = one_of(random, all);
                if (!apply(random, t, variant))
                    continue;
                applied += std::string(applied.empty() ? "" : ", ") + transform_name(t);
                if (t == Transform::RepeatOther)
                    same_meaning = false;
            }
            if (applied.empty())
                continue;
            ++variants;
            Decision d = decide_request(variant.authz(), ctx);
            CAPTURE(base.method);
            CAPTURE(base.uri());
            CAPTURE(variant.uri());
            CAPTURE(applied);
            CAPTURE(original.message);
            CAPTURE(d.message);
            if (!original.allow)
                CHECK_FALSE(d.allow);
            // The same request to dockerd: the same decision, for the same reason.
            if (same_meaning) {
                CHECK(d.allow == original.allow);
                CHECK(d.action == original.action);
            }
        }
    }
    CHECK(denied_bases > 50);
    CHECK(allowed_bases > 20);
    CHECK(variants > 10000);
}
