// imagegate-gateway-differential: the gateway's reading of a registry request against the
// registry's own (docs/reading-requests.md, "The gateway's reading"). Two modes, around
// registry-oracle (tests/oracle/registry/):
//
//     registry-oracle gen -n 20000 -seed 1 | imagegate-gateway-differential forward
//         | registry-oracle read | imagegate-gateway-differential check
//
// forward: each raw request (a base64 line) is read as the gateway reads it inside a tunnel to
//   registry.example (gateway/http_wire: the head parsed strictly, the framing, the Host, an
//   origin-form target) and written anew as the gateway sends it on (request_head_text and the
//   body relayed); out comes "RAW FORWARDED" (base64), FORWARDED "-" when the gateway would not
//   send it on at all.
// check: for each of registry-oracle's readings of FORWARDED, imagegate's read_wire_request of
//   the request; the property: imagegate refuses it (a problem, or a path outside /v2/), or
//   every repository and route the registry's handler serves is among imagegate's uses (same
//   name, route, reference or digest, pull or push), and every `from` (and `mount`) value the
//   blob-upload handler reads with r.FormValue is among imagegate's, `from` as a pull.
// Exit status 1 on any disagreement (each printed with the request as base64), 2 on bad input.
#include "distribution/bundle.hpp"
#include "gateway/http_wire.hpp"
#include "gateway/wire.hpp"
#include "policy/go_json.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace imagegate;

namespace {

constexpr std::string_view kWire = "registry.example";

// Bytes in, bytes out: a Stream over strings.
class StringStream final : public Stream {
  public:
    explicit StringStream(std::string in) : in_(std::move(in)) {}
    long read(char *buffer, std::size_t size, Millis) override {
        std::size_t n = std::min(size, in_.size() - pos_);
        std::copy_n(in_.data() + pos_, n, buffer);
        pos_ += n;
        return static_cast<long>(n);
    }
    bool write(std::string_view bytes) override {
        out_ += bytes;
        return true;
    }
    int fd() const override { return -1; }
    const std::string &out() const { return out_; }

  private:
    std::string in_, out_;
    std::size_t pos_ = 0;
};

// The request as Gateway::Impl::relay_request takes it (gateway/proxy.cpp): the head, its
// framing, one Host naming the CONNECT's host, a target that is a path. The forwarded bytes
// when FORWARD is set.
struct Taken {
    bool ok = false;
    Head head;
    std::string forwarded;
};

Taken take(const std::string &raw, bool forward) {
    Taken t;
    StringStream stream(raw);
    Reader in(stream);
    auto head = in.read_head(HeadLimits{}, false);
    if (!head)
        return t;
    auto framing = request_framing(*head);
    const std::string *host = head->find("Host");
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return s;
    };
    if (!framing || head->count("Host") != 1 ||
        (lower(*host) != kWire && lower(*host) != std::string(kWire) + ":443") ||
        !head->second.starts_with('/'))
        return t;
    t.head = std::move(*head);
    if (forward) {
        StringStream out("");
        out.write(request_head_text(t.head, *framing));
        if (!relay_body(in, out, *framing, Millis(1000)))
            return t; // the body ended early: the gateway drops the connection
        t.forwarded = out.out();
    }
    t.ok = true;
    return t;
}

WireRequest wire_request(const Head &head) {
    WireRequest request{head.first, head.second, {}};
    for (const Header &h : head.headers) {
        std::string name = h.name;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (name == "content-type")
            request.content_types.push_back(h.value);
    }
    return request;
}

int forward() {
    std::string line;
    while (std::getline(std::cin, line)) {
        auto raw = base64_decode(line);
        if (!raw) {
            std::cerr << "imagegate-gateway-differential forward: a line is not base64: "
                      << raw.error() << "\n";
            return 2;
        }
        Taken t = take(*raw, true);
        std::cout << line << " " << (t.ok ? base64_encode(t.forwarded) : "-") << "\n";
    }
    return 0;
}

std::string str(const json::object &o, std::string_view key) {
    const auto *v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string describe(const WireReading &reading) {
    std::string out;
    for (const auto &u : reading.uses)
        out += std::string(out.empty() ? "" : ", ") +
               (u.action == Action::Pull ? "pull " : "push ") + u.route + " " + u.name +
               (u.ref.empty() ? "" : " " + u.ref);
    return out.empty() ? "none" : out;
}

int check() {
    std::size_t total = 0, not_forwarded = 0, refused = 0, outside = 0, nothing = 0, no_content = 0,
                agreed = 0, disagreements = 0, form_bodies = 0;
    // A run that compares nothing proves nothing: per route, the requests imagegate let
    // through that the registry served, compared and agreed.
    std::map<std::string, std::size_t> compared = {{"manifest", 0},    {"blob", 0},
                                                   {"blob-upload", 0}, {"blob-upload-chunk", 0},
                                                   {"tags", 0},        {"from", 0}};
    std::string line;
    while (std::getline(std::cin, line)) {
        ++total;
        std::error_code ec;
        json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) {
            std::cerr << "imagegate-gateway-differential: line " << total
                      << " is not a JSON object\n";
            return 2;
        }
        const json::object &o = v.as_object();
        std::string raw_b64 = str(o, "raw");
        auto raw = base64_decode(raw_b64);
        if (!raw) {
            std::cerr << "imagegate-gateway-differential: line " << total
                      << ": raw is not base64\n";
            return 2;
        }
        const auto *fw = o.if_contains("forwarded");
        if (!fw || !fw->is_bool() || !fw->as_bool()) {
            ++not_forwarded;
            continue;
        }
        Taken t = take(*raw, false);
        if (!t.ok) {
            std::cerr << "imagegate-gateway-differential: line " << total
                      << ": forwarded, but the gateway does not take it: " << raw_b64 << "\n";
            return 2;
        }
        WireReading reading = read_wire_request(wire_request(t.head));
        if (!reading.problem.empty()) {
            ++refused;
            continue;
        }
        if (!reading.api) {
            ++outside;
            continue;
        }
        std::string route = str(o, "route");
        const auto *served = o.if_contains("served");
        if (!str(o, "refused").empty() || route.empty() || !served || !served->as_bool()) {
            ++nothing; // net/http refused it, the router redirected or found nothing, 405
            continue;
        }
        if (route == "base" || route == "catalog") {
            ++no_content;
            continue;
        }
        std::vector<std::string> problems;
        std::string method = str(o, "method"), name = str(o, "name");
        Action action = method == "GET" || method == "HEAD" ? Action::Pull : Action::Push;
        bool upload = route == "blob-upload" || route == "blob-upload-chunk";
        std::string mine = upload ? "blob-upload" : route;
        std::string ref = route == "manifest" ? str(o, "reference")
                          : route == "blob"   ? str(o, "digest")
                                              : "";
        bool covered = std::any_of(reading.uses.begin(), reading.uses.end(), [&](const auto &u) {
            return u.name == name && u.route == mine && u.ref == ref &&
                   (upload || u.action == action);
        });
        if (!covered)
            problems.push_back("the registry serves " + method + " " + route + " of \"" + name +
                               "\"" + (ref.empty() ? "" : " (" + ref + ")") +
                               "; imagegate's uses: " + describe(reading));
        std::string from = str(o, "from"), mount = str(o, "mount");
        if (!from.empty()) {
            bool used = std::any_of(reading.uses.begin(), reading.uses.end(), [&](const auto &u) {
                return u.name == from && u.route == "mount-from" && u.action == Action::Pull;
            });
            if (!used ||
                std::find(reading.from.begin(), reading.from.end(), from) == reading.from.end())
                problems.push_back("the blob-upload handler reads from=\"" + from +
                                   "\"; imagegate's uses: " + describe(reading));
        }
        if (!mount.empty() &&
            std::find(reading.mount.begin(), reading.mount.end(), mount) == reading.mount.end())
            problems.push_back("the blob-upload handler reads mount=\"" + mount +
                               "\"; imagegate did not read it");
        if (problems.empty()) {
            ++agreed;
            ++compared[route];
            if (o.if_contains("formBody"))
                ++form_bodies;
            if (!from.empty())
                ++compared["from"];
            continue;
        }
        if (++disagreements <= 20) {
            std::cout << "DISAGREEMENT on " << method << " " << str(o, "path")
                      << ", request as base64: " << raw_b64 << "\n";
            for (const auto &p : problems)
                std::cout << "    " << p << "\n";
        }
    }
    std::cout << "gateway-differential: " << total
              << " requests read by the registry's code and by imagegate's: " << not_forwarded
              << " not forwarded by the gateway, " << refused << " refused by imagegate, "
              << outside << " outside /v2/ (denied), " << nothing
              << " that the registry serves nothing for, " << no_content << " on /v2/ or _catalog, "
              << agreed << " served and read alike (" << form_bodies
              << " uploads with a form body); " << disagreements << " disagreements\n";
    std::cout << "gateway-differential: compared and agreed by route:";
    for (const auto &[what, count] : compared)
        std::cout << " " << what << " " << count;
    std::cout << "\n";
    bool vacuous = false;
    if (total >= 5000)
        for (const auto &[what, count] : compared)
            if (count < 20) {
                std::cout << "gateway-differential: only " << count << " requests on " << what
                          << " were let through by imagegate and compared: the run proves too "
                             "little\n";
                vacuous = true;
            }
    return disagreements == 0 && total > 0 && !vacuous ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "forward")
        return forward();
    if (mode == "check")
        return check();
    std::cerr << "usage: imagegate-gateway-differential forward|check (see "
                 "tests/oracle/registry/run.sh)\n";
    return 2;
}
