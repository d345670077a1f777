// Where the policy in force comes from, for every command: the shipped default, a local
// policyFile, or the verified cache of a policyUrl (never fetched here).
#pragma once
#include "common/config.hpp"
#include "common/files.hpp"
#include "common/result.hpp"
#include "distribution/policy_store.hpp"

#include <memory>
#include <string>
#include <vector>

namespace imagegate {

inline constexpr std::size_t kMaxPolicyFileBytes = 64 * 1024 * 1024;

// Loads the configured policy. Warnings (unknown keys) go to `warnings`.
Result<std::shared_ptr<const ActivePolicy>>
load_configured_policy(const Config &config, std::vector<std::string> *warnings = nullptr);

} // namespace imagegate
