// `imagegate policy keygen|sign|verify|sync` (README, docs/policy-distribution.md); `run_policy`
// dispatches here, with args after the sub-command name.
//
//   keygen --out DIR                        DIR/imagegate.key (0600) and DIR/imagegate.pub
//   sign --key KEY POLICY.json --out BUNDLE  lints first: a policy with errors is not signed
//   verify --public-key PUB BUNDLE          prints organization, serial and key id; exit 1 if bad
//   sync [--config FILE]                    one fetch of policyUrl into cacheDir (systemd timer)
//
// Exit status: 0 done, 1 refused (bad bundle, lint errors, fetch failed), 2 bad usage.
#pragma once
#include "cli/commands.hpp"

namespace imagegate {

int run_policy_keygen(const Args &args);
int run_policy_sign(const Args &args);
int run_policy_verify(const Args &args);
int run_policy_sync(const Args &args);

} // namespace imagegate
