#include "policy/trust.hpp"

namespace imagegate {

const TrustRule *trust_rule_for(const std::vector<TrustRule> &rules, std::string_view match_name) {
    for (const TrustRule &rule : rules)
        if (rule.repositories.matches(match_name))
            return &rule;
    return nullptr;
}

} // namespace imagegate
