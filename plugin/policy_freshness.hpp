// Whether the policy in force may still decide (SPEC §2: a cached policy older than
// maxAgeSeconds denies image actions). Shared by serve, check and containerd-verify.
#pragma once
#include "plugin/config.hpp"
#include "plugin/policy_store.hpp"

#include <string>

namespace imagegate {

// Why the policy in force may not decide image actions now (stale), or "".
std::string policy_problem(const ActivePolicy *active, const Config &config, Clock::time_point now);

} // namespace imagegate
