// What a registry request on the wire is, and its decision (docs/gateway.md): values in, a
// verdict out; no sockets. The gateway asks this for every request inside an intercepted
// tunnel and for every CONNECT.
#pragma once
#include "policy/active_policy.hpp"
#include "policy/decide.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

struct WireVerdict {
    bool allow = true;          // what the client gets (audit mode: allowed, logged as a denial)
    bool policy_denied = false; // what the policy decided
    bool decided = false;       // an image decision was made (false: passed without one)
    Cause cause = Cause::None;
    std::string message;               // "imagegate: ..." when denied
    std::string endpoint;              // "GET /v2/NAME/manifests/REF" (decision log "endpoint")
    std::vector<ImageDecision> images; // one per repository the request touches
    // A GET of a manifest by digest that was allowed: the gateway reads the answer's body and
    // remembers what it names (NamedDigests) as NAME's, when its digest is DIGEST.
    std::string manifest_name, manifest_digest;
    // The path is outside the registry API (/v2/): it passes only when the proxy knows it as
    // the registry's own token path (a Bearer realm an allowed answer named).
    bool outside_api = false;
    std::string path; // the decoded path
};

// A request inside an intercepted tunnel, as sent (origin-form target).
struct WireRequest {
    std::string_view method;
    std::string_view target;
    std::vector<std::string> content_types; // every Content-Type header's value
};

// How a registry (distribution's router behind Go's net/http) reads a request's target
// (docs/gateway.md, "How a request is read"). Every reading the gateway decides is here, so
// that the differential test (tests/oracle/registry_oracle.go) can compare it with Go's.
struct WireReading {
    std::string problem; // not empty: the request is refused, and this says why
    std::string path;    // the path, decoded as Go's url.Path
    bool api = false;    // the path is /v2/ or under it
    struct Use {
        Action action = Action::Pull;
        std::string name;  // repository path, e.g. "library/alpine"
        std::string route; // "manifest", "blob", "blob-upload", "tags", "referrers", "mount-from"
        std::string ref;   // "TAG" or "DIGEST" for manifests, the digest for blobs, else ""
    };
    std::vector<Use> uses; // empty: no image content (/v2/, _catalog, token paths)
    // Every value of the query keys "from" and "mount", decoded as Go's url.ParseQuery does,
    // for both separators Go has used ('&', and ';' before Go 1.17).
    std::vector<std::string> from, mount;
};
WireReading read_wire_request(const WireRequest &request);

// Digests that an allowed manifest named (docs/gateway.md, "Images pinned by digest"): the
// config, layers and child manifests of a manifest pulled by digest. A pull of one of them
// from the same repository is part of that image, and is allowed for a while under the very
// policy it was allowed under: a policy loaded anew (even with the same serial) forgets them
// all. The set holds that policy, so its address cannot be reused by another while it is
// compared. Thread-safe; bounded.
class NamedDigests {
  public:
    explicit NamedDigests(std::chrono::seconds ttl = std::chrono::minutes(30),
                          std::size_t max_entries = 200000)
        : ttl_(ttl), max_entries_(max_entries) {}
    void add(std::string_view repository, const std::vector<std::string> &digests,
             std::shared_ptr<const void> policy);
    bool contains(std::string_view repository, std::string_view digest, const void *policy) const;

  private:
    std::chrono::seconds ttl_;
    std::size_t max_entries_;
    mutable std::mutex mutex_;
    std::shared_ptr<const void> policy_; // the policy every entry was allowed under
    std::map<std::string, std::chrono::steady_clock::time_point> entries_; // "REPO@DIGEST" → until
};

// The digests a manifest body names (config, layers, child manifests of an index, schema 1
// fsLayers), or nothing when the body is not such a manifest.
std::vector<std::string> digests_named_by_manifest(std::string_view body);

// The decision for REQUEST to REGISTRY (canonical, "docker.io") under POLICY (null: no policy),
// denied with POLICY_PROBLEM when that is not empty (stale policy). The target is read as
// read_wire_request reads it; a request it cannot read plainly is denied. Then:
// - /v2/NAME/manifests/REF, /v2/NAME/blobs/DIGEST, /v2/NAME/tags/list, /v2/NAME/referrers/D:
//   image.pull of REGISTRY/NAME (GET, HEAD) or image.push (PUT, POST, PATCH, DELETE);
// - /v2/NAME/blobs/uploads/...: image.push of REGISTRY/NAME, and every `from` value an
//   image.pull of REGISTRY/FROM too;
// - a path read more than one way (a name component that is itself "manifests", "blobs" ...)
//   is decided every way, and denied if any way is denied;
// - a pull of a blob or manifest by digest that NAMED holds for REGISTRY/NAME under this
//   very POLICY is allowed (part of an allowed image pinned by digest);
// - /v2/, _catalog and other /v2/ paths without image content pass;
// - a path outside /v2/ is denied with `outside_api` set (the proxy lets through the token
//   paths and storage paths an allowed answer named).
WireVerdict decide_wire_request(const WireRequest &request, std::string_view registry,
                                const Policy *policy, std::string_view policy_problem,
                                const NamedDigests *named = nullptr);
// The same, for a request without headers that matter (tests).
WireVerdict decide_wire_request(std::string_view method, std::string_view target,
                                std::string_view registry, const Policy *policy,
                                std::string_view policy_problem);

// The decision for CONNECT to REGISTRY: Registry Access Management alone.
WireVerdict decide_wire_connect(std::string_view registry, const Policy *policy,
                                std::string_view policy_problem);

// The registry error body of a denial: {"errors":[{"code":"DENIED","message":MESSAGE}]}.
std::string registry_error_body(std::string_view code, std::string_view message);

} // namespace imagegate
