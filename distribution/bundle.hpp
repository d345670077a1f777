// Signed policy bundles (docs/policy-distribution.md): Ed25519 keys in PEM files, a bundle that
// carries the policy bytes exactly as signed, and the checks a fetched bundle must pass before it
// is used.
#pragma once
#include "common/result.hpp"
#include "policy/policy.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

namespace imagegate {

// A bundle is at most this large on the wire (the policy inside is base64, 4/3 of its size).
inline constexpr std::size_t kMaxBundleBytes = 16 * 1024 * 1024;
inline constexpr std::string_view kBundleFormat = "imagegate-bundle/1";

// An Ed25519 key (private or public half) loaded from PEM.
class SigningKey {
  public:
    static Result<SigningKey> generate();
    static Result<SigningKey> load_private(const std::string &path);
    static Result<SigningKey> load_public(const std::string &path);
    static Result<SigningKey> parse_private_pem(std::string_view pem);
    static Result<SigningKey> parse_public_pem(std::string_view pem);

    bool has_private() const { return has_private_; }
    // First 16 hex characters of SHA-256 over the raw 32-byte public key.
    const std::string &key_id() const { return key_id_; }
    std::string private_pem() const; // empty for a public key
    std::string public_pem() const;
    EVP_PKEY *pkey() const { return pkey_.get(); }

  private:
    struct Deleter {
        void operator()(EVP_PKEY *key) const;
    };
    SigningKey(EVP_PKEY *key, bool has_private);
    std::shared_ptr<EVP_PKEY> pkey_;
    bool has_private_ = false;
    std::string key_id_;
};

// The bundle file, as `policy sign` writes it (canonical JSON, fixed key order, one newline):
//   {"format":"imagegate-bundle/1","keyId":"…","signature":"BASE64","policy":"BASE64"}
// The signature covers "imagegate-bundle/1\n" followed by the policy bytes. A verifier accepts
// only this exact byte layout, so a change to any byte of the file fails verification.
std::string sign_bundle(std::string_view policy_bytes, const SigningKey &private_key);

struct VerifiedBundle {
    std::string policy_bytes; // exactly as signed
    std::string key_id;
};

// Checks the layout, the key id and the signature. Errors say what is wrong in words.
Result<VerifiedBundle> verify_bundle(std::string_view bundle_bytes, const SigningKey &public_key);

// What a verified bundle must also satisfy to replace the policy in force
// (docs/policy-distribution.md).
struct AcceptanceRules {
    std::string organization;                   // empty: any (nothing pinned yet)
    std::optional<std::int64_t> minimum_serial; // the cached serial: lower is a rollback
};

struct AcceptedBundle {
    std::shared_ptr<const Policy> policy;
    std::string policy_bytes;
    std::string key_id;
    std::vector<Diagnostic> warnings; // from loading the policy (unknown keys ...)
};

// verify_bundle, then load the policy (not strict, as at load), then the organization and
// the serial. Every refusal is an Error whose message is the reason shown in `status`.
Result<AcceptedBundle> accept_bundle(std::string_view bundle_bytes, const SigningKey &public_key,
                                     const AcceptanceRules &rules);

// Hex SHA-256 of bytes (cache bookkeeping, tests).
std::string sha256_hex(std::string_view bytes);
// Standard padded base64 (also registry basic auth, trust/verifier).
std::string base64_encode(std::string_view bytes);

} // namespace imagegate
