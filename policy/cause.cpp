#include "policy/cause.hpp"

namespace imagegate {

std::string_view cause_name(Cause cause) {
    switch (cause) {
    case Cause::None:
        return "none";
    case Cause::Image:
        return "image";
    case Cause::Registry:
        return "registry";
    case Cause::Hardening:
        return "hardening";
    case Cause::SignIn:
        return "sign_in";
    case Cause::PluginManagement:
        return "plugin_management";
    case Cause::SwarmMembership:
        return "swarm_membership";
    case Cause::UnreadableRequest:
        return "unreadable_request";
    case Cause::NoPolicy:
        return "no_policy";
    case Cause::StalePolicy:
        return "stale_policy";
    case Cause::LookupFailed:
        return "lookup_failed";
    case Cause::LookupBudget:
        return "lookup_budget";
    case Cause::Internal:
        return "internal";
    case Cause::Trust:
        return "trust";
    }
    return "internal";
}

std::optional<Cause> cause_from_name(std::string_view name) {
    for (Cause c : kAllCauses)
        if (cause_name(c) == name)
            return c;
    return std::nullopt;
}

} // namespace imagegate
