// A public key of a trust rule (docs/trust.md): ECDSA P-256, Ed25519 or RSA (2048 bits or
// more), read from PEM, verifying signatures as cosign makes them.
#pragma once
#include "common/result.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace imagegate {

class PublicKey {
  public:
    // One "PUBLIC KEY" PEM block (SubjectPublicKeyInfo); the error says what is wrong.
    static Result<std::shared_ptr<const PublicKey>> from_pem(std::string_view pem);
    ~PublicKey();
    PublicKey(const PublicKey &) = delete;
    PublicKey &operator=(const PublicKey &) = delete;

    // "SHA256:" and the first 16 hex digits of the SHA-256 of the DER SubjectPublicKeyInfo:
    // what the decision log, `report` and messages name the key by.
    const std::string &id() const { return id_; }
    std::string_view algorithm() const { return algorithm_; } // "ecdsa-p256", "ed25519", "rsa"
    const std::string &pem() const { return pem_; }
    // cosign's conventions: ECDSA (ASN.1 DER) and RSA PKCS #1 v1.5 over SHA-256 of the message,
    // Ed25519 over the message itself.
    bool verify(std::string_view message, std::string_view signature) const;

  private:
    PublicKey() = default;
    void *pkey_ = nullptr; // EVP_PKEY
    std::string id_, algorithm_, pem_;
};

} // namespace imagegate
