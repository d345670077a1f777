// Fuzzes the signed bundle reader (distribution/bundle.cpp). The first byte picks a mode:
//   even: the rest is a bundle file as fetched from the policy server: verify_bundle and
//         accept_bundle must refuse it cleanly (nothing here can forge a signature: an input
//         that verifies is a crash, unless it is a real bundle of the fuzzing key);
//   odd:  the rest is a policy that the fuzzing key signs; the bundle must verify and give back
//         the exact bytes, accept_bundle must agree with load_policy, and changing any one byte
//         of the bundle (the input picks which) must make verification fail.
#include "distribution/bundle.hpp"
#include "fuzz_support.hpp"

#include <cstdint>
#include <limits>

using namespace imagegate;

namespace {
// A fixed key, so that crashes reproduce. Not a secret: it signs fuzz inputs only.
constexpr std::string_view kFuzzPrivateKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIHuxWjkET2p+G4BZ5GFF9X0xwk45407/9mwGA46O7A0l\n"
    "-----END PRIVATE KEY-----\n";

const SigningKey &private_key() {
    static const SigningKey key = [] {
        auto k = SigningKey::parse_private_pem(kFuzzPrivateKey);
        if (!k) {
            std::fprintf(stderr, "fuzz key: %s\n", k.error().c_str());
            std::abort();
        }
        return k.value();
    }();
    return key;
}
const SigningKey &public_key() {
    static const SigningKey key = [] {
        auto k = SigningKey::parse_public_pem(private_key().public_pem());
        if (!k)
            std::abort();
        return k.value();
    }();
    return key;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0)
        return 0;
    std::string_view input(reinterpret_cast<const char *>(data) + 1, size - 1);
    if (data[0] % 2 == 0) {
        auto verified = verify_bundle(input, public_key());
        auto accepted = accept_bundle(input, public_key(), AcceptanceRules{"acme", 1});
        if (verified) {
            // Only a bundle this key signed verifies: it must be exactly what sign_bundle writes.
            FUZZ_PROPERTY(sign_bundle(verified->policy_bytes, private_key()) == input, input);
        } else {
            FUZZ_PROPERTY(!verified.error().empty(), input);
            FUZZ_PROPERTY(!accepted, input);
        }
        (void)SigningKey::parse_public_pem(input);
        (void)SigningKey::parse_private_pem(input);
        return 0;
    }
    std::string bundle = sign_bundle(input, private_key());
    auto verified = verify_bundle(bundle, public_key());
    FUZZ_PROPERTY(verified.ok(), bundle + "\n  " + (verified ? "" : verified.error()));
    FUZZ_PROPERTY(verified->policy_bytes == input, bundle);
    FUZZ_PROPERTY(verified->key_id == public_key().key_id(), bundle);

    auto accepted = accept_bundle(bundle, public_key(), AcceptanceRules{});
    PolicyLoad load = load_policy(input, false);
    FUZZ_PROPERTY(accepted.ok() == (load.policy != nullptr), input);
    if (accepted && load.policy->serial < std::numeric_limits<std::int64_t>::max()) {
        auto pinned =
            accept_bundle(bundle, public_key(), AcceptanceRules{"acme", load.policy->serial + 1});
        FUZZ_PROPERTY(!pinned, input); // a lower serial is a rollback (or another organization)
    }

    std::size_t at = (size * 7919) % bundle.size();
    std::string damaged = bundle;
    damaged[at] = static_cast<char>(damaged[at] ^ (1 + data[0] % 255));
    auto tampered = verify_bundle(damaged, public_key());
    FUZZ_PROPERTY(!tampered, "changing byte " + std::to_string(at) + " still verifies: " + damaged);
    return 0;
}
