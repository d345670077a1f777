// Signed policy bundles: Ed25519 with OpenSSL 3 EVP, strict canonical layout.
#include "distribution/bundle.hpp"
#include "common/files.hpp"

#include <boost/json.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace imagegate {
namespace json = boost::json;

namespace {

// The signed message starts with the format, so a signature made for anything else with the
// same key (a bare policy, another format version) never verifies as a bundle.
std::string signed_message(std::string_view policy_bytes) {
    std::string message;
    message.reserve(kBundleFormat.size() + 1 + policy_bytes.size());
    message.append(kBundleFormat).append("\n").append(policy_bytes);
    return message;
}

std::string openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0)
        return "unknown OpenSSL error";
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    return text.data();
}

struct BioDeleter {
    void operator()(BIO *bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX *ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Strict: padded, no whitespace, unused bits zero — one text per byte string, so a changed
// character never decodes to the same bytes.
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0)
        return std::nullopt;
    std::array<int, 256> value{};
    value.fill(-1);
    for (std::size_t i = 0; i < kBase64Alphabet.size(); ++i)
        value[std::uint8_t(kBase64Alphabet[i])] = int(i);
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        int pad = 0;
        if (last && text[i + 3] == '=')
            pad = text[i + 2] == '=' ? 2 : 1;
        std::uint32_t n = 0;
        for (int j = 0; j < 4; ++j) {
            int v = j >= 4 - pad ? 0 : value[std::uint8_t(text[i + j])];
            if (v < 0)
                return std::nullopt;
            n = (n << 6) | std::uint32_t(v);
        }
        if (pad == 2 && (n & 0xFFFF) != 0)
            return std::nullopt;
        if (pad == 1 && (n & 0xFF) != 0)
            return std::nullopt;
        out += char((n >> 16) & 0xFF);
        if (pad < 2)
            out += char((n >> 8) & 0xFF);
        if (pad < 1)
            out += char(n & 0xFF);
    }
    return out;
}

std::string to_hex(const unsigned char *data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 15];
    }
    return out;
}

constexpr std::size_t kMaxKeyFileBytes = 1024 * 1024; // a PEM key is a few hundred bytes

Result<std::string> read_key_file(const std::string &path) {
    auto text = read_file(path, kMaxKeyFileBytes);
    if (!text)
        return Error{"cannot read key file " + text.error()};
    return text;
}

std::string canonical_bundle(std::string_view key_id, std::string_view signature_b64,
                             std::string_view policy_b64) {
    std::string out;
    out.reserve(96 + key_id.size() + signature_b64.size() + policy_b64.size());
    out.append("{\"format\":\"").append(kBundleFormat).append("\",\"keyId\":\"").append(key_id);
    out.append("\",\"signature\":\"").append(signature_b64);
    out.append("\",\"policy\":\"").append(policy_b64).append("\"}\n");
    return out;
}

} // namespace

void SigningKey::Deleter::operator()(EVP_PKEY *key) const {
    EVP_PKEY_free(key);
}

SigningKey::SigningKey(EVP_PKEY *key, bool has_private)
    : pkey_(key, Deleter{}), has_private_(has_private) {
    std::array<unsigned char, 32> raw{};
    std::size_t size = raw.size();
    if (EVP_PKEY_get_raw_public_key(key, raw.data(), &size) == 1) {
        key_id_ = sha256_hex(std::string_view(reinterpret_cast<const char *>(raw.data()), size))
                      .substr(0, 16);
    }
}

Result<SigningKey> SigningKey::generate() {
    EVP_PKEY *key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr)
        return Error{"cannot generate an Ed25519 key: " + openssl_error()};
    return SigningKey(key, true);
}

Result<SigningKey> SigningKey::parse_private_pem(std::string_view pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr)
        return Error{"not a PEM private key (" + openssl_error() + ")"};
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return Error{"not an Ed25519 key (imagegate signs with Ed25519: imagegate policy keygen)"};
    }
    return SigningKey(key, true);
}

Result<SigningKey> SigningKey::parse_public_pem(std::string_view pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr)
        return Error{"not a PEM public key (" + openssl_error() + ")"};
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return Error{"not an Ed25519 key (imagegate verifies Ed25519 signatures)"};
    }
    return SigningKey(key, false);
}

Result<SigningKey> SigningKey::load_private(const std::string &path) {
    auto text = read_key_file(path);
    if (!text)
        return Error{text.error()};
    auto key = parse_private_pem(text.value());
    if (!key)
        return Error{path + ": " + key.error()};
    return key;
}

Result<SigningKey> SigningKey::load_public(const std::string &path) {
    auto text = read_key_file(path);
    if (!text)
        return Error{text.error()};
    auto key = parse_public_pem(text.value());
    if (!key)
        return Error{path + ": " + key.error()};
    return key;
}

std::string SigningKey::private_pem() const {
    if (!has_private_)
        return {};
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
        1)
        return {};
    char *data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, std::size_t(size));
}

std::string SigningKey::public_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1)
        return {};
    char *data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, std::size_t(size));
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                 (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
        out += kBase64Alphabet[(n >> 18) & 63];
        out += kBase64Alphabet[(n >> 12) & 63];
        out += kBase64Alphabet[(n >> 6) & 63];
        out += kBase64Alphabet[n & 63];
    }
    if (std::size_t rest = bytes.size() - i; rest > 0) {
        std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
        if (rest == 2)
            n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
        out += kBase64Alphabet[(n >> 18) & 63];
        out += kBase64Alphabet[(n >> 12) & 63];
        out += rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
    return to_hex(digest.data(), size);
}

std::string sign_bundle(std::string_view policy_bytes, const SigningKey &private_key) {
    if (!private_key.has_private())
        throw std::logic_error("sign_bundle needs a private key");
    std::string message = signed_message(policy_bytes);
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::array<unsigned char, 64> signature{};
    std::size_t size = signature.size();
    // Ed25519 is "pure": no digest is named, and the whole message goes in one call.
    if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, private_key.pkey()) != 1 ||
        EVP_DigestSign(ctx.get(), signature.data(), &size,
                       reinterpret_cast<const unsigned char *>(message.data()),
                       message.size()) != 1) {
        throw std::runtime_error("Ed25519 signing failed: " + openssl_error());
    }
    return canonical_bundle(
        private_key.key_id(),
        base64_encode(std::string_view(reinterpret_cast<const char *>(signature.data()), size)),
        base64_encode(policy_bytes));
}

Result<VerifiedBundle> verify_bundle(std::string_view bundle_bytes, const SigningKey &public_key) {
    if (bundle_bytes.size() > kMaxBundleBytes) {
        return Error{"bundle is " + std::to_string(bundle_bytes.size()) +
                     " bytes, over the limit of " + std::to_string(kMaxBundleBytes)};
    }
    if (bundle_bytes.empty())
        return Error{"bundle is empty"};
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 4;
    json::value document = json::parse(bundle_bytes, ec, {}, options);
    if (ec)
        return Error{"not a policy bundle: invalid JSON (" + ec.message() +
                     "); truncated or damaged?"};
    const json::object *object = document.if_object();
    if (object == nullptr)
        return Error{"not a policy bundle: not a JSON object"};
    auto field = [&](std::string_view name) -> const json::string * {
        const json::value *v = object->if_contains(name);
        return v ? v->if_string() : nullptr;
    };
    const json::string *format = field("format");
    if (format == nullptr)
        return Error{"not a policy bundle: no \"format\""};
    if (*format != kBundleFormat) {
        return Error{"unsupported bundle format \"" + std::string(*format) + "\" (expected " +
                     std::string(kBundleFormat) + ")"};
    }
    const json::string *key_id = field("keyId");
    const json::string *signature_b64 = field("signature");
    const json::string *policy_b64 = field("policy");
    if (key_id == nullptr || signature_b64 == nullptr || policy_b64 == nullptr ||
        object->size() != 4) {
        return Error{"damaged bundle: it must have exactly \"format\", \"keyId\", \"signature\" "
                     "and \"policy\""};
    }
    auto signature = base64_decode(*signature_b64);
    if (!signature || signature->size() != 64)
        return Error{"damaged bundle: the signature is not 64 bytes of base64"};
    auto policy_bytes = base64_decode(*policy_b64);
    if (!policy_bytes)
        return Error{"damaged bundle: the policy is not valid base64"};
    // Only the exact bytes `policy sign` writes are accepted, so that no byte of the file
    // (whitespace, key order, escapes) can change without failing verification.
    if (canonical_bundle(*key_id, *signature_b64, *policy_b64) != bundle_bytes) {
        return Error{"damaged bundle: it is not byte for byte as `imagegate policy sign` wrote it"};
    }
    if (std::string_view(*key_id) != public_key.key_id()) {
        return Error{"bundle is signed with key " + std::string(*key_id) +
                     ", not with the configured public key " + public_key.key_id()};
    }
    std::string message = signed_message(*policy_bytes);
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, public_key.pkey()) != 1) {
        return Error{"cannot verify: " + openssl_error()};
    }
    int verified = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char *>(signature->data()), signature->size(),
        reinterpret_cast<const unsigned char *>(message.data()), message.size());
    ERR_clear_error();
    if (verified != 1) {
        return Error{"bad signature: the bundle was changed after it was signed"};
    }
    return VerifiedBundle{std::move(*policy_bytes), std::string(*key_id)};
}

Result<AcceptedBundle> accept_bundle(std::string_view bundle_bytes, const SigningKey &public_key,
                                     const AcceptanceRules &rules) {
    auto verified = verify_bundle(bundle_bytes, public_key);
    if (!verified)
        return Error{verified.error()};
    PolicyLoad load = load_policy(verified->policy_bytes, false);
    if (!load.policy) {
        std::string message = "signed policy does not load:";
        for (const Diagnostic &d : load.diagnostics) {
            if (d.severity == Diagnostic::Severity::Error)
                message += " " + d.str() + ";";
        }
        message.pop_back();
        return Error{message};
    }
    const Policy &policy = *load.policy;
    if (!rules.organization.empty() && policy.organization != rules.organization) {
        return Error{"bundle is for organization \"" + policy.organization +
                     "\", this host follows \"" + rules.organization + "\""};
    }
    if (rules.minimum_serial && policy.serial < *rules.minimum_serial) {
        return Error{"bundle has serial " + std::to_string(policy.serial) +
                     ", lower than the cached serial " + std::to_string(*rules.minimum_serial) +
                     " (rollback refused)"};
    }
    AcceptedBundle accepted;
    accepted.policy = load.policy;
    accepted.policy_bytes = std::move(verified.value().policy_bytes);
    accepted.key_id = std::move(verified.value().key_id);
    for (Diagnostic &d : load.diagnostics) {
        if (d.severity == Diagnostic::Severity::Warning)
            accepted.warnings.push_back(std::move(d));
    }
    return accepted;
}

} // namespace imagegate
