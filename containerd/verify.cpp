#include "containerd/verify.hpp"
#include "decision_log/rotation.hpp"

#include "common/args.hpp"
#include "common/config.hpp"
#include "decision_log/line.hpp"
#include "policy/active_policy.hpp"
#include "policy/reference.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace imagegate {

namespace {

const char *kVerifyUsage =
    R"(usage: imagegate containerd-verify [--config FILE | --policy FILE] -name REF -digest DIGEST -stdin-media-type TYPE

containerd's image verifier (containerd >= 2.1, plugin io.containerd.image-verifier.v1.bindir).
containerd runs it before every pull through its transfer service, with the image's OCI
descriptor on standard input; install it as the wrapper /opt/containerd/image-verifier/bin/imagegate.

Decides image.pull of REF under the policy the daemon keeps (policyFile, or the verified cache
of policyUrl; never fetched here) as the configuration's containerdUser (absent: no user, the
policy's defaultRoles), prints one line saying why, and appends the decision to the decision log.
Flags take one dash or two, and "-flag VALUE" or "-flag=VALUE".

Exit status: 0 allowed (or only logged, in audit mode); any other status blocks the pull:
  1 the policy denies it (or the cached policy is older than maxAgeSeconds)
  2 the flags or the descriptor on standard input are not what containerd sends
  3 the configuration or the policy cannot be read
)";

std::string deny_text(std::string_view name, std::string_view why) {
    if (name.empty())
        return "imagegate: pull denied: " + std::string(why);
    return "imagegate: pull of " + std::string(name) + " denied: " + std::string(why);
}

std::string policy_signature(const Policy &p) {
    return "(" + p.organization + " policy " + std::to_string(p.serial) + ")";
}

bool is_lower_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string quote_input(std::string_view text) {
    std::string s(text.substr(0, 100));
    return "\"" + s + (text.size() > 100 ? "...\"" : "\"");
}

// Standard input, up to kMaxDescriptorBytes + 1 so that one byte over is seen.
Result<std::string> read_descriptor(int fd) {
    if (::isatty(fd))
        return Error{
            "standard input is a terminal: containerd writes the image's OCI descriptor there"};
    std::string data;
    char buffer[16384];
    auto deadline = std::chrono::steady_clock::now() + kDescriptorReadTimeout;
    while (data.size() <= kMaxDescriptorBytes) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return Error{"no end of the descriptor on standard input within " +
                         std::to_string(kDescriptorReadTimeout.count()) + " s"};
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            return Error{std::string("cannot read standard input: ") + std::strerror(errno)};
        }
        if (ready == 0)
            continue; // the deadline check above ends it
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return Error{std::string("cannot read standard input: ") + std::strerror(errno)};
        }
        if (n == 0)
            return data;
        data.append(buffer, static_cast<std::size_t>(n));
    }
    return Error{"the descriptor on standard input is larger than " +
                 std::to_string(kMaxDescriptorBytes) + " bytes"};
}

// containerd's bin_dir verifier may run while `imagegate serve` writes the same log. Each
// line is one O_APPEND write (here, and in DecisionLog, which flushes per line), so lines
// never interleave. Rotation: verifiers take a lock on the log's directory and rotate only a
// file already over decisionLogMaxBytes, by renames alone (spdlog's rotation truncates the new
// file, which could drop a line another process just appended); the daemon's open file, if
// renamed away, keeps receiving its lines under the rotated name until the daemon rotates.
void rotate_if_full(const std::string &path, std::int64_t max_bytes, int max_files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_size < max_bytes)
        return;
    if (auto shifted = shift_rotated_logs(path, max_files); !shifted)
        throw std::runtime_error(shifted.error());
}

class DirectoryLock {
  public:
    explicit DirectoryLock(const std::string &dir)
        : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
        if (fd_ >= 0)
            ::flock(fd_, LOCK_EX);
    }
    ~DirectoryLock() {
        if (fd_ >= 0)
            ::close(fd_); // releases the lock
    }
    DirectoryLock(const DirectoryLock &) = delete;
    DirectoryLock &operator=(const DirectoryLock &) = delete;

  private:
    int fd_;
};

void append_to_decision_log(const Config &config, const ImageDecision &image,
                            const LogContext &context) {
    if (config.decision_log.empty())
        return;
    std::string why;
    {
        std::filesystem::path dir = std::filesystem::path(config.decision_log).parent_path();
        if (dir.empty())
            dir = ".";
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        DirectoryLock lock(dir.string());
        try {
            rotate_if_full(config.decision_log, config.decision_log_max_bytes,
                           config.decision_log_files);
        } catch (const std::exception &e) {
            std::cerr << "imagegate containerd-verify: decision log: " << e.what()
                      << "; appending anyway\n";
        }
        std::string line = image_decision_line(image, context) + "\n";
        int fd = open_decision_log(config.decision_log);
        if (fd < 0) {
            why = config.decision_log + ": " + std::strerror(errno);
        } else {
            ssize_t n = ::write(fd, line.data(), line.size()); // one write: the line lands whole
            if (n != static_cast<ssize_t>(line.size()))
                why = config.decision_log + ": " + (n < 0 ? std::strerror(errno) : "short write");
            ::close(fd);
        }
    }
    if (!why.empty())
        std::cerr << "imagegate containerd-verify: the decision was not logged: " << why << "\n";
}

} // namespace

Result<VerifyArgs> parse_verify_args(const Args &args) {
    VerifyArgs out;
    try {
        struct Flag {
            std::string_view name;
            std::string *value;
        } flags[] = {{"name", &out.name},
                     {"digest", &out.digest},
                     {"stdin-media-type", &out.stdin_media_type},
                     {"config", &out.config_flag},
                     {"policy", &out.policy_flag}};
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string &arg = args[i];
            if (is_help(arg) || arg == "-help") {
                out.help = true;
                return out;
            }
            bool taken = false;
            for (const auto &flag : flags) {
                for (std::string dashes : {"-", "--"}) {
                    std::string spelled = dashes + std::string(flag.name);
                    std::size_t at = i;
                    if (auto v = take_option(args, at, spelled)) {
                        if (!flag.value->empty())
                            throw UsageError("-" + std::string(flag.name) + " given twice");
                        if (v->empty())
                            throw UsageError("-" + std::string(flag.name) + " is empty");
                        *flag.value = *v;
                        i = at;
                        taken = true;
                        break;
                    }
                }
                if (taken)
                    break;
            }
            if (taken)
                continue;
            if (arg.starts_with("-"))
                throw UsageError("unknown flag " + quote_input(arg));
            throw UsageError("unexpected argument " + quote_input(arg));
        }
    } catch (const UsageError &e) {
        return Error{e.what()};
    }
    if (out.name.empty())
        return Error{"-name REF is required"};
    if (out.digest.empty())
        return Error{"-digest DIGEST is required"};
    if (out.stdin_media_type.empty())
        return Error{"-stdin-media-type TYPE is required"};
    if (!out.config_flag.empty() && !out.policy_flag.empty())
        return Error{"--config and --policy are alternatives: give one"};
    return out;
}

std::string digest_problem(std::string_view digest) {
    auto colon = digest.find(':');
    if (colon == std::string_view::npos)
        return "digest " + quote_input(digest) + " is not ALGORITHM:HEX";
    std::string_view algorithm = digest.substr(0, colon), hex = digest.substr(colon + 1);
    std::size_t want = algorithm == "sha256"   ? 64
                       : algorithm == "sha384" ? 96
                       : algorithm == "sha512" ? 128
                                               : 0;
    if (want == 0)
        return "digest " + quote_input(digest) + " has an unsupported algorithm";
    if (hex.size() != want || !is_lower_hex(hex))
        return "digest " + quote_input(digest) + " is not " + std::string(algorithm) + ":<" +
               std::to_string(want) + " lower-case hex digits>";
    return {};
}

std::string descriptor_problem(std::string_view text, std::string_view expected_digest) {
    if (text.size() > kMaxDescriptorBytes)
        return "the descriptor on standard input is larger than " +
               std::to_string(kMaxDescriptorBytes) + " bytes";
    if (std::all_of(text.begin(), text.end(),
                    [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }))
        return "standard input is empty: containerd writes the image's OCI descriptor there";
    boost::json::parse_options options;
    options.max_depth = kMaxDescriptorDepth;
    std::error_code ec;
    boost::json::value root = boost::json::parse(text, ec, {}, options);
    if (ec)
        return "the descriptor on standard input is not valid JSON: " + ec.message();
    if (!root.is_object())
        return "the descriptor on standard input is not a JSON object";
    const auto &o = root.as_object();
    auto string_field = [&](std::string_view key) -> const boost::json::string * {
        auto it = o.find(key);
        if (it == o.end() || !it->value().is_string() || it->value().as_string().empty())
            return nullptr;
        return &it->value().as_string();
    };
    if (!string_field("mediaType"))
        return "the descriptor on standard input has no mediaType";
    const boost::json::string *digest = string_field("digest");
    if (!digest)
        return "the descriptor on standard input has no digest";
    std::string_view descriptor_digest(digest->data(), digest->size());
    if (auto problem = digest_problem(descriptor_digest); !problem.empty())
        return "the descriptor on standard input: " + problem;
    auto size = o.find("size");
    bool size_ok =
        size != o.end() &&
        ((size->value().is_int64() && size->value().as_int64() >= 0) || size->value().is_uint64());
    if (!size_ok)
        return "the descriptor on standard input has no size (a non-negative integer)";
    if (!expected_digest.empty() && descriptor_digest != expected_digest)
        return "the descriptor's digest " + std::string(descriptor_digest) + " is not -digest " +
               std::string(expected_digest);
    return {};
}

std::string verdict_line(std::string_view text) {
    std::string line;
    line.reserve(std::min(text.size(), kMaxVerdictLineBytes));
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        line.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
    if (line.size() > kMaxVerdictLineBytes) {
        line.resize(kMaxVerdictLineBytes - 3);
        // Do not leave half a UTF-8 character before the ellipsis.
        std::size_t start = line.size();
        while (start > 0 && (static_cast<unsigned char>(line[start - 1]) & 0xC0) == 0x80)
            --start;
        if (start > 0 && static_cast<unsigned char>(line[start - 1]) >= 0xC0)
            line.resize(start - 1);
        line += "...";
    }
    return line;
}

VerifyVerdict blocked_pull(std::string_view name, std::string_view why, int exit_code) {
    VerifyVerdict v;
    v.exit_code = exit_code;
    v.image.action = Action::Pull;
    v.image.reference = std::string(name);
    v.image.normalized = std::string(name);
    if (auto ref = parse_reference(name)) {
        v.image.normalized = ref->str();
        v.image.registry = ref->registry;
    }
    v.image.allow = false;
    v.image.reason = std::string(why);
    v.image.message = deny_text(v.image.normalized, why);
    v.line = verdict_line(v.image.message);
    return v;
}

VerifyVerdict judge_pull(std::string_view name, std::string_view user, const ActivePolicy *active,
                         std::string_view policy_problem, std::string_view digest,
                         const std::function<TrustVerdict(const TrustCheck &)> &verify_signature) {
    if (!active || !active->policy)
        return blocked_pull(name,
                            policy_problem.empty() ? "no valid imagegate policy has been loaded"
                                                   : policy_problem,
                            kVerifyNoPolicy);
    const Policy &p = *active->policy;
    VerifyVerdict v;
    v.audit = p.mode == Mode::Audit;
    v.image = decide_image(Action::Pull, name, user, p);
    auto deny = [&](std::string reason) {
        v.image.allow = false;
        v.image.reason = std::move(reason);
        v.image.message = deny_text(v.image.normalized, v.image.reason);
    };
    if (!policy_problem.empty()) {
        deny(std::string(policy_problem));
    } else if (p.require_sign_in && user.empty()) {
        // containerd passes no user: the configuration names one (docs/containerd.md).
        deny(p.organization +
             "'s policy requires signing in: containerd pulls have no user "
             "(set containerdUser in imagegate.json) " +
             "(policy " + std::to_string(p.serial) + ")");
    }
    if (v.image.allow && !p.trust.empty())
        if (auto ref = parse_reference(name))
            if (const TrustRule *rule = trust_rule_for(p.trust, ref->match_name())) {
                // Trust (docs/trust.md): the digest containerd is about to unpack.
                v.image.trust_rule = rule->name;
                v.image.digest = std::string(digest);
                TrustVerdict t;
                t.reason = "signatures are not checked here";
                if (verify_signature && !digest.empty())
                    t = verify_signature(TrustCheck{ref->registry_key(), ref->path,
                                                    ref->match_name(), std::string(digest), rule});
                if (t.state == TrustVerdict::State::Verified) {
                    v.image.key_id = t.key_id;
                } else {
                    std::string why = "trust rule " + rule->name + ": " + ref->match_name() + "@" +
                                      std::string(digest) + ": " +
                                      (t.state == TrustVerdict::State::Unavailable
                                           ? "cannot check its signature: "
                                           : "") +
                                      t.reason + " " + policy_signature(p);
                    if (rule->effective_mode(p.mode) == Mode::Audit) {
                        v.image.trust_audit = true;
                        v.image.trust_denial = std::move(why);
                    } else {
                        deny(std::move(why));
                        v.image.cause = Cause::Trust;
                    }
                }
            }
    if (v.image.allow && v.image.trust_audit) {
        v.exit_code = kVerifyAllow;
        v.line = verdict_line("imagegate: allowed pull of " + v.image.normalized +
                              " (trust rule in audit mode; enforced, it would deny it: " +
                              v.image.trust_denial + ")");
    } else if (v.image.allow) {
        v.exit_code = kVerifyAllow;
        std::string why = v.image.reason.empty() ? "" : ": " + v.image.reason;
        v.line = verdict_line("imagegate: allowed pull of " + v.image.normalized + why + " " +
                              policy_signature(p));
    } else if (v.audit) {
        v.exit_code = kVerifyAllow;
        v.line = verdict_line("imagegate: allowed pull of " + v.image.normalized +
                              " in audit mode; enforced, " + p.organization +
                              "'s policy would deny it: " + v.image.reason);
    } else {
        v.exit_code = kVerifyDeny;
        v.line = verdict_line(v.image.message);
    }
    return v;
}

namespace {
int verify(const Args &argv, const VerifierPolicyLoader &load,
           const SignatureCheckFactory &signature_check) {
    auto args = parse_verify_args(argv);
    if (!args) {
        // containerd shows standard output only: the reason goes there too.
        std::cout << verdict_line(deny_text("", "containerd-verify: " + args.error())) << std::endl;
        std::cerr << "imagegate containerd-verify: " << args.error() << "\n" << kVerifyUsage;
        return kVerifyBadRequest;
    }
    if (args->help) {
        std::cout << kVerifyUsage;
        return 0;
    }
    const VerifyArgs &a = args.value();

    // Read standard input whatever else is wrong, so containerd's write of it never fails.
    std::string input_problem;
    auto descriptor = read_descriptor(STDIN_FILENO);
    if (a.stdin_media_type != kOciDescriptorMediaType)
        input_problem = "unsupported -stdin-media-type " + quote_input(a.stdin_media_type) +
                        " (this imagegate reads " + std::string(kOciDescriptorMediaType) + ")";
    else if (auto problem = digest_problem(a.digest); !problem.empty())
        input_problem = "-digest: " + problem;
    else if (!descriptor)
        input_problem = descriptor.error();
    else
        input_problem = descriptor_problem(descriptor.value(), a.digest);
    if (input_problem.empty())
        if (auto ref = parse_reference(a.name);
            ref && !ref->digest.empty() && ref->digest != a.digest)
            input_problem = "-name pins digest " + ref->digest + " but -digest is " + a.digest;

    auto config = resolve_config(a.config_flag, a.policy_flag);
    if (!config) {
        std::cout << verdict_line(deny_text(a.name, "cannot read imagegate's configuration: " +
                                                        config.error()))
                  << std::endl;
        std::cerr << "imagegate containerd-verify: " << config.error() << "\n";
        return kVerifyNoPolicy;
    }

    VerifyVerdict verdict;
    LogContext context;
    context.source = "containerd";
    context.user = config->containerd_user;
    context.digest = a.digest;
    if (!input_problem.empty()) {
        std::cerr << "imagegate containerd-verify: " << input_problem << "\n";
        verdict = blocked_pull(a.name, input_problem, kVerifyBadRequest);
    } else {
        std::vector<std::string> warnings;
        auto active = load(config.value(), a.name, &warnings);
        for (const auto &w : warnings)
            std::cerr << "imagegate containerd-verify: " << w << "\n";
        if (!active) {
            std::cerr << "imagegate containerd-verify: " << active.error() << "\n";
            verdict =
                blocked_pull(a.name, "cannot load the policy: " + active.error(), kVerifyNoPolicy);
        } else {
            const ActivePolicy *policy = active.value().get();
            SignatureCheck check = signature_check ? signature_check(config->trust) : nullptr;
            verdict =
                judge_pull(a.name, config->containerd_user, policy,
                           policy_problem(policy, config.value().max_age_seconds, Clock::now()),
                           a.digest, check);
            context.organization = policy->policy->organization;
            context.policy_serial = policy->policy->serial;
            context.audit = verdict.audit;
        }
    }
    append_to_decision_log(config.value(), verdict.image, context);
    std::cout << verdict.line << std::endl;
    return verdict.exit_code;
}
} // namespace

int run_verification(const Args &argv, const VerifierPolicyLoader &load,
                     const SignatureCheckFactory &signature_check) {
    try {
        return verify(argv, load, signature_check);
    } catch (const std::exception &e) {
        // A bug must still block the pull and say so where containerd looks: standard output.
        std::cout << verdict_line(deny_text("", std::string("internal error: ") + e.what()))
                  << std::endl;
        std::cerr << "imagegate containerd-verify: internal error: " << e.what() << "\n";
        return kVerifyNoPolicy;
    }
}

} // namespace imagegate
