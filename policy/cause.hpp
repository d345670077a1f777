// Why a decision came out as it did: one machine-readable cause per decision, written to the
// decision log ("cause"), the /metrics deny counter (label cause) and `imagegate report`.
// The text names are stable: dashboards and log queries match them.
#pragma once
#include <optional>
#include <string_view>

namespace imagegate {

enum class Cause {
    None,              // allowed
    Image,             // an image (its category, grants, namespace) is not allowed
    Registry,          // Registry Access Management refuses the image's registry
    Hardening,         // the hardening policy refuses the request (container settings, build ...)
    SignIn,            // the policy requires signing in and the request has no user
    PluginManagement,  // installing or changing plugins (or imagegate's own) needs Manager
    SwarmMembership,   // creating, joining or changing a swarm needs Manager
    UnreadableRequest, // the AuthZ request or its body cannot be read
    NoPolicy,          // no valid policy was ever loaded
    StalePolicy,       // the policy is too old or otherwise not usable
    LookupFailed,      // dockerd could not answer a lookup the decision needs
    LookupBudget,      // the decision's dockerd lookups ran out of time
    Internal,          // an exception inside the decision
    Trust, // a trust rule: no valid signature, a tag under requireDigest (docs/trust.md)
};

inline constexpr Cause kAllCauses[] = {
    Cause::None,
    Cause::Image,
    Cause::Registry,
    Cause::Hardening,
    Cause::SignIn,
    Cause::PluginManagement,
    Cause::SwarmMembership,
    Cause::UnreadableRequest,
    Cause::NoPolicy,
    Cause::StalePolicy,
    Cause::LookupFailed,
    Cause::LookupBudget,
    Cause::Internal,
    Cause::Trust,
};

// "none", "image", "registry", "hardening", "sign_in", "plugin_management", "swarm_membership",
// "unreadable_request", "no_policy", "stale_policy", "lookup_failed", "lookup_budget", "internal",
// "trust".
std::string_view cause_name(Cause cause);
std::optional<Cause> cause_from_name(std::string_view name);

} // namespace imagegate
