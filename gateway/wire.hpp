// What a registry request on the wire is, and its decision (docs/gateway.md): values in, a
// verdict out; no sockets. The gateway asks this for every request inside an intercepted
// tunnel and for every CONNECT.
#pragma once
#include "policy/active_policy.hpp"
#include "policy/decide.hpp"

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
};

// The decision for REQUEST (METHOD and TARGET as sent inside the tunnel, origin-form) to
// REGISTRY (canonical, "docker.io") under ACTIVE (null: no policy), denied with
// POLICY_PROBLEM when that is not empty (stale policy).
// - /v2/NAME/manifests/REF, /v2/NAME/blobs/DIGEST, /v2/NAME/tags/list, /v2/NAME/referrers/D:
//   image.pull of REGISTRY/NAME (GET, HEAD) or image.push (PUT, POST, PATCH, DELETE);
// - /v2/NAME/blobs/uploads/...: image.push of REGISTRY/NAME, and ?mount=&from=OTHER an
//   image.pull of REGISTRY/OTHER too;
// - a path read more than one way (a name component that is itself "manifests", "blobs" ...)
//   is decided every way, and denied if any way is denied;
// - a path that is not plain (percent-escapes of '/', "//", "." or ".." segments, control
//   bytes) or names no valid repository where one is expected is denied;
// - anything else (/v2/, token endpoints, _catalog) passes: it carries no image content.
WireVerdict decide_wire_request(std::string_view method, std::string_view target,
                                std::string_view registry, const Policy *policy,
                                std::string_view policy_problem);

// The decision for CONNECT to REGISTRY: Registry Access Management alone.
WireVerdict decide_wire_connect(std::string_view registry, const Policy *policy,
                                std::string_view policy_problem);

// The registry error body of a denial: {"errors":[{"code":"DENIED","message":MESSAGE}]}.
std::string registry_error_body(std::string_view code, std::string_view message);

} // namespace imagegate
