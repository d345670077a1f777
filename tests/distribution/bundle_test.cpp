// distribution/bundle.cpp: Ed25519 keys, signed bundles, and what a fetched bundle must satisfy.
#include "distribution/bundle.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace imagegate;

namespace {

std::string policy_json(std::string_view organization, int serial) {
    return "{\"organization\": \"" + std::string(organization) +
           "\", \"serial\": " + std::to_string(serial) + "}\n";
}

SigningKey new_key() {
    auto key = SigningKey::generate();
    REQUIRE(key.ok());
    return key.value();
}

SigningKey public_half(const SigningKey &key) {
    auto pub = SigningKey::parse_public_pem(key.public_pem());
    REQUIRE(pub.ok());
    return pub.value();
}

} // namespace

TEST_CASE("a signed bundle verifies and carries the policy bytes exactly as signed") {
    SigningKey key = new_key();
    for (std::string policy :
         {std::string(""), std::string("a"), std::string("ab"), std::string("abc"),
          policy_json("acme", 42), std::string("\0\xff\x80 binary", 10)}) {
        CAPTURE(policy);
        std::string bundle = sign_bundle(policy, key);
        auto verified = verify_bundle(bundle, public_half(key));
        REQUIRE_MESSAGE(verified.ok(), verified.error());
        CHECK(verified->policy_bytes == policy);
        CHECK(verified->key_id == key.key_id());
    }
}

TEST_CASE(
    "a key id is 16 hex characters of SHA-256 over the raw public key, the same for both halves") {
    SigningKey key = new_key();
    CHECK(key.key_id().size() == 16);
    CHECK(key.key_id().find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(public_half(key).key_id() == key.key_id());
    CHECK(new_key().key_id() != key.key_id());
}

TEST_CASE("keys round trip through PEM") {
    SigningKey key = new_key();
    auto reloaded = SigningKey::parse_private_pem(key.private_pem());
    REQUIRE(reloaded.ok());
    CHECK(reloaded->has_private());
    CHECK(reloaded->key_id() == key.key_id());
    CHECK(key.private_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
    CHECK(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    CHECK(public_half(key).private_pem().empty());
}

TEST_CASE("a PEM that is not an Ed25519 key is refused") {
    CHECK(SigningKey::parse_public_pem("not a key").error().starts_with("not a PEM public key"));
    CHECK(SigningKey::parse_private_pem("").error().starts_with("not a PEM private key"));
    // An RSA public key (openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:512 | openssl pkey
    // -pubout).
    const char *rsa = "-----BEGIN PUBLIC KEY-----\n"
                      "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMgbT0Xc1Oc1Ot6D3uqUeTTPGC2mI6G8\n"
                      "OHMSlr5exA8j2Ub1gNJ+0gX2V7Uo8skumz4o2L/XmCixC2/i1YXAQgcCAwEAAQ==\n"
                      "-----END PUBLIC KEY-----\n";
    auto loaded = SigningKey::parse_public_pem(rsa);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error() == "not an Ed25519 key (imagegate verifies Ed25519 signatures)");
}

TEST_CASE("changing any single byte of a bundle fails verification with a reason") {
    SigningKey key = new_key();
    SigningKey pub = public_half(key);
    const std::string bundle = sign_bundle(policy_json("acme", 42), key);
    int checked = 0;
    for (std::size_t i = 0; i < bundle.size(); ++i) {
        for (unsigned char mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}) {
            std::string damaged = bundle;
            damaged[i] = char(static_cast<unsigned char>(damaged[i]) ^ mask);
            auto verified = verify_bundle(damaged, pub);
            if (verified.ok())
                FAIL("byte ", i, " xor ", int(mask), " still verifies");
            CHECK_FALSE(verified.error().empty());
            ++checked;
        }
    }
    CHECK(checked == int(bundle.size() * 8));
}

TEST_CASE("the reason names what was changed") {
    SigningKey key = new_key();
    SigningKey pub = public_half(key);
    const std::string bundle = sign_bundle(policy_json("acme", 42), key);
    std::size_t policy_at = bundle.find("\"policy\":\"") + 12;
    std::size_t signature_at = bundle.find("\"signature\":\"") + 15;

    SUBCASE("the policy") {
        std::string damaged = bundle;
        damaged[policy_at] = damaged[policy_at] == 'A' ? 'B' : 'A';
        CHECK(verify_bundle(damaged, pub).error() ==
              "bad signature: the bundle was changed after it was signed");
    }
    SUBCASE("the signature") {
        std::string damaged = bundle;
        damaged[signature_at] = damaged[signature_at] == 'A' ? 'B' : 'A';
        CHECK(verify_bundle(damaged, pub).error() ==
              "bad signature: the bundle was changed after it was signed");
    }
    SUBCASE("the layout") {
        std::string damaged = bundle;
        damaged.insert(1, " ");
        CHECK(verify_bundle(damaged, pub).error() ==
              "damaged bundle: it is not byte for byte as `imagegate policy sign` wrote it");
    }
    SUBCASE("truncated") {
        CHECK(verify_bundle(bundle.substr(0, bundle.size() / 2), pub)
                  .error()
                  .starts_with("not a policy bundle: invalid JSON"));
        CHECK(verify_bundle("", pub).error() == "bundle is empty");
    }
    SUBCASE("not a bundle") {
        CHECK(verify_bundle(policy_json("acme", 42), pub).error() ==
              "not a policy bundle: no \"format\"");
        CHECK(verify_bundle("[]", pub).error() == "not a policy bundle: not a JSON object");
    }
    SUBCASE("another format version") {
        std::string other = bundle;
        other.replace(other.find("bundle/1"), 8, "bundle/2");
        CHECK(verify_bundle(other, pub).error() ==
              "unsupported bundle format \"imagegate-bundle/2\" (expected imagegate-bundle/1)");
    }
}

TEST_CASE("a bundle over the size limit is refused before parsing") {
    SigningKey pub = public_half(new_key());
    std::string huge(kMaxBundleBytes + 1, ' ');
    CHECK(verify_bundle(huge, pub).error() == "bundle is " + std::to_string(kMaxBundleBytes + 1) +
                                                  " bytes, over the limit of " +
                                                  std::to_string(kMaxBundleBytes));
}

TEST_CASE("a bundle signed with another key is refused, naming both keys") {
    SigningKey signer = new_key();
    SigningKey other = public_half(new_key());
    std::string bundle = sign_bundle(policy_json("acme", 42), signer);
    CHECK(verify_bundle(bundle, other).error() == "bundle is signed with key " + signer.key_id() +
                                                      ", not with the configured public key " +
                                                      other.key_id());
}

TEST_CASE("a signature made with another key under the right key id is refused") {
    SigningKey right = new_key();
    SigningKey wrong = new_key();
    std::string forged = sign_bundle(policy_json("acme", 42), wrong);
    forged.replace(forged.find(wrong.key_id()), 16, right.key_id());
    CHECK(verify_bundle(forged, public_half(right)).error() ==
          "bad signature: the bundle was changed after it was signed");
}

TEST_CASE("accepting a bundle: organization pin and rollback protection") {
    SigningKey key = new_key();
    SigningKey pub = public_half(key);
    std::string bundle = sign_bundle(policy_json("acme", 42), key);

    SUBCASE("nothing pinned yet: any organization, any serial") {
        auto accepted = accept_bundle(bundle, pub, {});
        REQUIRE_MESSAGE(accepted.ok(), accepted.error());
        CHECK(accepted->policy->organization == "acme");
        CHECK(accepted->policy->serial == 42);
        CHECK(accepted->key_id == key.key_id());
        CHECK(accepted->policy_bytes == policy_json("acme", 42));
    }
    SUBCASE("the pinned organization") {
        CHECK(accept_bundle(bundle, pub, {"acme", 41}).ok());
    }
    SUBCASE("another organization") {
        CHECK(accept_bundle(bundle, pub, {"globex", std::nullopt}).error() ==
              "bundle is for organization \"acme\", this host follows \"globex\"");
    }
    SUBCASE("the same serial is not a rollback") {
        CHECK(accept_bundle(bundle, pub, {"acme", 42}).ok());
    }
    SUBCASE("a lower serial is a rollback") {
        CHECK(accept_bundle(bundle, pub, {"acme", 43}).error() ==
              "bundle has serial 42, lower than the cached serial 43 (rollback refused)");
    }
    SUBCASE("a bad signature is refused before anything else") {
        std::string damaged = bundle;
        std::size_t at = damaged.find("\"policy\":\"") + 12;
        damaged[at] = damaged[at] == 'A' ? 'B' : 'A';
        CHECK(accept_bundle(damaged, pub, {"globex", 99}).error() ==
              "bad signature: the bundle was changed after it was signed");
    }
    SUBCASE("a signed policy that does not load") {
        std::string broken = sign_bundle("{\"serial\": 1}", key);
        auto accepted = accept_bundle(broken, pub, {});
        REQUIRE_FALSE(accepted.ok());
        CHECK(accepted.error().starts_with("signed policy does not load:"));
        CHECK(accepted.error().find("organization") != std::string::npos);
    }
}
