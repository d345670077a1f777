// `imagegate containerd-verify` (docs/containerd.md): containerd's bindir image verifier.
// containerd (pkg/imageverifier/bindir/bindir.go) execs every file in its bin_dir before a pull
// with
//   -name REF -digest DIGEST -stdin-media-type application/vnd.oci.descriptor.v1+json
// and the descriptor JSON on standard input; exit 0 allows, anything else blocks, and the
// first 32 KiB of standard output is the reason it shows. One process per pull.
//
// Two executables run it: `imagegate containerd-verify`, and imagegate-containerd-verify
// (verifier_main.cpp), which decides from the compact policy (verifier_cache.hpp) without
// loading cpp-httplib and OpenSSL, and hands every other case to the former.
#pragma once
#include "common/args.hpp"
#include "common/config.hpp"
#include "common/result.hpp"
#include "policy/active_policy.hpp"
#include "policy/decide.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

inline constexpr std::string_view kOciDescriptorMediaType =
    "application/vnd.oci.descriptor.v1+json";
inline constexpr std::size_t kMaxDescriptorBytes = 1024 * 1024; // a real one is ~200 bytes
inline constexpr std::size_t kMaxDescriptorDepth = 16;
inline constexpr std::chrono::seconds kDescriptorReadTimeout{5}; // containerd writes it at once
inline constexpr std::size_t kMaxVerdictLineBytes = 1024; // containerd shows it in pull errors

// Exit statuses: containerd blocks on any non-zero one; they differ for the operator.
inline constexpr int kVerifyAllow = 0;
inline constexpr int kVerifyDeny = 1;       // the policy (or its staleness) denies the pull
inline constexpr int kVerifyBadRequest = 2; // flags or standard input not as containerd sends them
inline constexpr int kVerifyNoPolicy = 3;   // configuration or policy unreadable; internal error

struct VerifyArgs {
    bool help = false;
    std::string config_flag;
    std::string policy_flag;
    std::string name;
    std::string digest;
    std::string stdin_media_type;
};

// containerd's single-dash flags as Go's flag package takes them ("-name REF", "-name=REF",
// "--name REF"), plus --config/--policy. Every flag but --config/--policy is required.
Result<VerifyArgs> parse_verify_args(const Args &args);

// "sha256:<64 hex>" (or sha384/sha512), as go-digest accepts them; "" when valid, else why not.
std::string digest_problem(std::string_view digest);

// Light checks of the descriptor containerd wrote: a JSON object with mediaType, digest and
// size, its digest that of -digest. "" when acceptable, else what is wrong with it.
std::string descriptor_problem(std::string_view text, std::string_view expected_digest);

// What the verifier answers for one pull, decided from values (no I/O).
struct VerifyVerdict {
    int exit_code = kVerifyDeny;
    std::string line;    // the one line for standard output
    ImageDecision image; // what the decision log records (allow = what the policy decided)
    bool audit = false;  // the policy is in audit mode: a denial is logged, not enforced
};

// The pull of `name` as `user` under `active` (null: no policy), denied with `policy_problem`
// when that is not empty (stale cache, README). A trust rule covering `name` (docs/trust.md)
// needs `digest` to carry a signature that VERIFY_SIGNATURE accepts.
VerifyVerdict
judge_pull(std::string_view name, std::string_view user, const ActivePolicy *active,
           std::string_view policy_problem, std::string_view digest = {},
           const std::function<TrustVerdict(const TrustCheck &)> &verify_signature = {});

// A pull blocked before any policy decided it (bad input, unreadable policy): the line and
// the log record say `why`.
VerifyVerdict blocked_pull(std::string_view name, std::string_view why, int exit_code);

// The one line containerd shows: printable, no newline, at most kMaxVerdictLineBytes.
std::string verdict_line(std::string_view text);

// Where the policy for one pull comes from: the seam between the command and the two
// executables that run it.
using VerifierPolicyLoader = std::function<Result<std::shared_ptr<const ActivePolicy>>(
    const Config &config, std::string_view reference, std::vector<std::string> *warnings)>;

// The signature check for trust rules (docs/trust.md) under a configuration: trust/verifier in
// `imagegate containerd-verify`; absent in imagegate-containerd-verify, which hands a pull a
// trust rule covers over to the former and so links no TLS library.
using SignatureCheck = std::function<TrustVerdict(const TrustCheck &)>;
using SignatureCheckFactory = std::function<SignatureCheck(const TrustConfig &)>;

// The whole command: flags, standard input, configuration, policy (from `load`), decision,
// decision log, the reason line on standard output; returns the exit status. Never throws.
int run_verification(const Args &args, const VerifierPolicyLoader &load,
                     const SignatureCheckFactory &signature_check = {});

// The loader of `imagegate containerd-verify` (containerd_verify_cmd.cpp): the compact form
// when it matches, else the full load_configured_policy, whose compact form is then stored
// for the next call. `from_cache` tells which; `now` decides whether the sources settled.
Result<std::shared_ptr<const ActivePolicy>>
load_verifier_policy(const Config &config, std::string_view reference,
                     std::vector<std::string> *warnings, bool *from_cache = nullptr,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

} // namespace imagegate
