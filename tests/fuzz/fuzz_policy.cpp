// Fuzzes load_policy (policy/policy.cpp) as `policy lint` (strict) and as the daemon loads it
// (not strict), then decides a few images with what loaded. Properties:
//  - nothing throws; a load has a policy exactly when it has no error;
//  - every diagnostic has a JSON path starting with "$" and a message;
//  - strict is stricter: whatever lints clean also loads, with the same decisions;
//  - a loaded policy names its organization and decides without crashing.
#include "fuzz_support.hpp"
#include "policy/decide.hpp"
#include "policy/policy.hpp"

#include <cstdint>

using namespace imagegate;

namespace {
std::string decisions(const Policy &p) {
    static const char *refs[] = {
        "alpine",
        "someone/tool",
        "acme/app:1",
        "ghcr.io/acme/app",
        "localhost:5000/x/y",
        "bitnami/redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    static const char *users[] = {"", "alice", "bob", "ci", "nobody"};
    std::string out;
    for (Action action : {Action::Pull, Action::Push, Action::Tag, Action::Delete})
        for (const char *ref : refs)
            for (const char *user : users) {
                ImageDecision d = decide_image(action, ref, user, p, action == Action::Tag);
                out += d.allow ? 'A' : 'D';
            }
    return out;
}

void check_load(const PolicyLoad &load, std::string_view text) {
    FUZZ_PROPERTY((load.policy != nullptr) == !load.has_errors(), text);
    for (const auto &d : load.diagnostics) {
        FUZZ_PROPERTY(d.path.starts_with("$"), d.str());
        FUZZ_PROPERTY(!d.message.empty(), d.str());
    }
    if (load.policy)
        FUZZ_PROPERTY(!load.policy->organization.empty(), text);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    PolicyLoad lint = load_policy(text, true);
    PolicyLoad load = load_policy(text, false);
    check_load(lint, text);
    check_load(load, text);
    if (lint.policy) {
        FUZZ_PROPERTY(load.policy != nullptr, text);
        FUZZ_PROPERTY(decisions(*lint.policy) == decisions(*load.policy), text);
    }
    if (load.policy)
        (void)decisions(*load.policy);
    return 0;
}
