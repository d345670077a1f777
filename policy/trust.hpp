// Trusted content (docs/trust.md): the policy's `trust` rules and what a signature check is
// asked and answers. The check itself (registry reads, cosign signatures) lives in trust/.
#pragma once
#include "policy/policy.hpp"
#include "policy/trust_key.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imagegate {

// The first rule (in document order) whose patterns match MATCH_NAME (Reference::match_name
// without tag or digest), or null.
const TrustRule *trust_rule_for(const std::vector<TrustRule> &rules, std::string_view match_name);

// One signature check: does DIGEST, pulled as REGISTRY/PATH, carry a cosign signature by one of
// the rule's keys, for that repository?
struct TrustCheck {
    std::string registry;   // canonical: "docker.io", "ghcr.io", "127.0.0.1:5000"
    std::string path;       // "library/alpine"
    std::string match_name; // "docker.io/library/alpine"
    std::string digest;     // "sha256:…", the manifest (or index) digest
    const TrustRule *rule = nullptr;
};

struct TrustVerdict {
    enum class State {
        Verified,   // a signature by KEY_ID names this digest and repository
        Rejected,   // the signatures there do not do that (or there are none)
        Unavailable // they could not be read (registry down, timeout, refused): fail closed
    } state = State::Unavailable;
    std::string key_id; // Verified: the key
    std::string reason; // Rejected, Unavailable: why, in words
    bool cached = false;
};

// What a decision says about trust, for the decision log and `report` (trustRule, keyId, digest).
struct TrustOutcome {
    std::string rule;
    std::string key_id; // empty unless verified
    std::string digest;
    bool verified = false;
};

} // namespace imagegate
