#include "policy/trust_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdio>

namespace imagegate {

namespace {
EVP_PKEY *as_pkey(void *p) {
    return static_cast<EVP_PKEY *>(p);
}
} // namespace

PublicKey::~PublicKey() {
    EVP_PKEY_free(as_pkey(pkey_));
}

Result<std::shared_ptr<const PublicKey>> PublicKey::from_pem(std::string_view pem) {
    auto begin = pem.find("-----BEGIN ");
    if (begin == std::string_view::npos)
        return Error{"not a PEM public key (no -----BEGIN line)"};
    if (pem.compare(begin, 26, "-----BEGIN PUBLIC KEY-----") != 0)
        return Error{"not a PEM public key: expected -----BEGIN PUBLIC KEY----- (a "
                     "SubjectPublicKeyInfo, as cosign.pub and `openssl pkey -pubout` write)"};
    if (pem.find("-----BEGIN ", begin + 1) != std::string_view::npos)
        return Error{"more than one PEM block: give each key as its own string"};
    BIO *bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio)
        return Error{"out of memory"};
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!pkey)
        return Error{"not a readable PEM public key"};
    std::shared_ptr<PublicKey> key(new PublicKey);
    key->pkey_ = pkey;
    key->pem_ = std::string(pem);
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
        char curve[64] = {};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(pkey, curve, sizeof curve, &len) != 1 ||
            std::string_view(curve) != SN_X9_62_prime256v1)
            return Error{"an ECDSA key must be on P-256 (this one is on " +
                         std::string(len ? curve : "an unknown curve") + ")"};
        key->algorithm_ = "ecdsa-p256";
        break;
    }
    case EVP_PKEY_ED25519:
        key->algorithm_ = "ed25519";
        break;
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < 2048)
            return Error{"an RSA key must have at least 2048 bits (this one has " +
                         std::to_string(EVP_PKEY_get_bits(pkey)) + ")"};
        key->algorithm_ = "rsa";
        break;
    default:
        return Error{"unsupported key type (expected ECDSA P-256, Ed25519 or RSA)"};
    }
    unsigned char *der = nullptr;
    int der_len = i2d_PUBKEY(pkey, &der);
    if (der_len <= 0)
        return Error{"cannot encode the key"};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_Digest(der, static_cast<std::size_t>(der_len), digest, &digest_len, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    key->id_ = "SHA256:";
    for (unsigned i = 0; i < 8; ++i) {
        char hex[3];
        std::snprintf(hex, sizeof hex, "%02x", digest[i]);
        key->id_ += hex;
    }
    return std::shared_ptr<const PublicKey>(std::move(key));
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return false;
    const EVP_MD *md = algorithm_ == "ed25519" ? nullptr : EVP_sha256();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, as_pkey(pkey_)) == 1;
    if (ok && algorithm_ == "rsa") {
        EVP_PKEY_CTX *pctx = EVP_MD_CTX_get_pkey_ctx(ctx);
        ok = pctx && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_DigestVerify(
                   ctx, reinterpret_cast<const unsigned char *>(signature.data()), signature.size(),
                   reinterpret_cast<const unsigned char *>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

} // namespace imagegate
