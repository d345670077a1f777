// trust/cosign.cpp and policy/trust_key.cpp against signatures cosign itself made: the fixtures
// containers/image ships (Debian's golang-github-containers-image-dev, which scripts/deps.sh
// installs), read where Debian puts them, never copied into this repository.
#include "policy/go_json.hpp"
#include "policy/trust_key.hpp"
#include "trust/cosign.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

using namespace imagegate;
namespace json = boost::json;

namespace {

const std::string kFixtures =
    "/usr/share/gocode/src/github.com/containers/image/signature/fixtures/";

std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), path << " is missing: bash scripts/deps.sh installs it");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// containers/image's "sigstore-json" signature file: a NUL, "sigstore-json\n", then JSON with
// the payload (base64) and the annotations cosign wrote.
struct CosignFixture {
    std::string payload, signature;
};
CosignFixture read_signature(const std::string &path) {
    std::string data = slurp(path);
    auto brace = data.find('{');
    REQUIRE(brace != std::string::npos);
    json::value v = json::parse(data.substr(brace));
    CosignFixture f;
    auto payload = base64_decode(v.at("payload").as_string());
    REQUIRE(payload);
    f.payload = payload.value();
    f.signature =
        std::string(v.at("annotations").at(std::string(kCosignSignatureAnnotation)).as_string());
    return f;
}

std::string manifest_of(const std::vector<std::pair<std::string, std::string>> &layers) {
    json::array a;
    for (const auto &[payload, signature] : layers)
        a.push_back(
            json::object{{"mediaType", kSimpleSigningMediaType},
                         {"digest", sha256_digest(payload)},
                         {"size", payload.size()},
                         {"annotations", json::object{{kCosignSignatureAnnotation, signature}}}});
    return json::serialize(json::object{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", json::object{{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                {"digest", sha256_digest("{}")},
                                {"size", 2}}},
        {"layers", a}});
}

struct Blobs {
    std::map<std::string, std::string> by_digest;
    int reads = 0;
    BlobReader reader() {
        return [this](const std::string &digest, std::size_t) -> Result<std::string> {
            ++reads;
            auto it = by_digest.find(digest);
            if (it == by_digest.end())
                return Error{"404"};
            return it->second;
        };
    }
};

TrustRule rule_with(const std::string &pem) {
    TrustRule rule;
    rule.name = "fixture";
    auto key = PublicKey::from_pem(pem);
    REQUIRE_MESSAGE(key, key.error());
    rule.keys.push_back(key.value());
    return rule;
}

} // namespace

TEST_CASE("a signature cosign made verifies; changed, re-aimed or foreign ones do not") {
    CosignFixture sig = read_signature(kFixtures + "dir-img-cosign-valid/signature-1");
    std::string image_manifest = slurp(kFixtures + "dir-img-cosign-valid/manifest.json");
    TrustRule rule = rule_with(slurp(kFixtures + "cosign.pub"));
    Blobs blobs;
    blobs.by_digest[sha256_digest(sig.payload)] = sig.payload;
    TrustCheck check{"192.168.64.2:5000", "cosign-signed-single-sample",
                     "192.168.64.2:5000/cosign-signed-single-sample", sha256_digest(image_manifest),
                     &rule};

    auto claims = parse_simple_signing_payload(sig.payload);
    REQUIRE_MESSAGE(claims, claims.error());
    CHECK(claims.value().digest == check.digest);

    TrustVerdict v = verify_signature_manifest(manifest_of({{sig.payload, sig.signature}}),
                                               blobs.reader(), check);
    CHECK_MESSAGE(v.state == TrustVerdict::State::Verified, v.reason);
    CHECK(v.key_id == rule.keys[0]->id());

    SUBCASE("the image was changed after signing: another digest") {
        std::string modified = slurp(kFixtures + "dir-img-cosign-modified-manifest/manifest.json");
        check.digest = sha256_digest(modified);
        v = verify_signature_manifest(manifest_of({{sig.payload, sig.signature}}), blobs.reader(),
                                      check);
        CHECK(v.state == TrustVerdict::State::Rejected);
        CHECK(v.reason.find("is for another digest") != std::string::npos);
    }
    SUBCASE("another repository") {
        check.match_name = "192.168.64.2:5000/someone-else";
        v = verify_signature_manifest(manifest_of({{sig.payload, sig.signature}}), blobs.reader(),
                                      check);
        CHECK(v.state == TrustVerdict::State::Rejected);
        CHECK(v.reason.find("is for another repository") != std::string::npos);
    }
    SUBCASE("a key the rule does not hold") {
        CosignFixture unknown = read_signature(kFixtures + "unknown-cosign-key.signature");
        blobs.by_digest[sha256_digest(unknown.payload)] = unknown.payload;
        v = verify_signature_manifest(manifest_of({{unknown.payload, unknown.signature}}),
                                      blobs.reader(), check);
        CHECK(v.state == TrustVerdict::State::Rejected);
        CHECK(v.reason.find("no signature verifies") != std::string::npos);
    }
    SUBCASE("one flipped byte of the payload") {
        std::string changed = sig.payload;
        changed[changed.size() / 2] ^= 1;
        blobs.by_digest[sha256_digest(changed)] = changed;
        v = verify_signature_manifest(manifest_of({{changed, sig.signature}}), blobs.reader(),
                                      check);
        CHECK(v.state == TrustVerdict::State::Rejected);
    }
    SUBCASE("a blob that is not what its digest says") {
        std::string manifest = manifest_of({{sig.payload, sig.signature}});
        blobs.by_digest[sha256_digest(sig.payload)] = sig.payload + " ";
        v = verify_signature_manifest(manifest, blobs.reader(), check);
        CHECK(v.state == TrustVerdict::State::Rejected);
        CHECK(v.reason.find("does not match its digest") != std::string::npos);
    }
    SUBCASE("a payload that cannot be read fails closed") {
        blobs.by_digest.clear();
        v = verify_signature_manifest(manifest_of({{sig.payload, sig.signature}}), blobs.reader(),
                                      check);
        CHECK(v.state == TrustVerdict::State::Unavailable);
    }
    SUBCASE("a later good signature after a bad one counts") {
        CosignFixture unknown = read_signature(kFixtures + "unknown-cosign-key.signature");
        blobs.by_digest[sha256_digest(unknown.payload)] = unknown.payload;
        v = verify_signature_manifest(
            manifest_of({{unknown.payload, unknown.signature}, {sig.payload, sig.signature}}),
            blobs.reader(), check);
        CHECK(v.state == TrustVerdict::State::Verified);
    }
    SUBCASE("truncated, huge and malformed signature manifests are refused") {
        blobs.reads = 0;
        std::string manifest = manifest_of({{sig.payload, sig.signature}});
        for (std::size_t cut :
             {std::size_t(0), std::size_t(1), manifest.size() / 2, manifest.size() - 1}) {
            v = verify_signature_manifest(manifest.substr(0, cut), blobs.reader(), check);
            CHECK(v.state == TrustVerdict::State::Rejected);
            CHECK(v.reason.find("not valid") != std::string::npos);
        }
        std::vector<std::pair<std::string, std::string>> many(kMaxSignatureLayers + 1,
                                                              {sig.payload, sig.signature});
        v = verify_signature_manifest(manifest_of(many), blobs.reader(), check);
        CHECK(v.state == TrustVerdict::State::Rejected);
        CHECK(v.reason.find("more than 64") != std::string::npos);
        std::string big = manifest;
        big.insert(big.size() - 1,
                   ",\"padding\":\"" + std::string(kMaxSignatureManifestBytes, 'x') + "\"");
        v = verify_signature_manifest(big, blobs.reader(), check);
        CHECK(v.reason.find("larger than 256 KiB") != std::string::npos);
        CHECK(blobs.reads == 0);
    }
}

TEST_CASE("the payload is read as containers/image reads it: exactly its fields") {
    std::string digest = "sha256:" + std::string(64, 'a');
    auto payload = [&](std::string critical_extra, std::string top_extra = "",
                       std::string optional = "null") {
        return R"({"critical":{"identity":{"docker-reference":"docker.io/acme/app"},"image":{"docker-manifest-digest":")" +
               digest + R"("},"type":"cosign container image signature")" + critical_extra +
               R"(},"optional":)" + optional + top_extra + "}";
    };
    CHECK(parse_simple_signing_payload(payload("")));
    CHECK(parse_simple_signing_payload(
        payload("", "", R"({"creator":"x","timestamp":1,"any":[1]})")));
    CHECK_FALSE(parse_simple_signing_payload(payload(R"(,"also":"x")")));
    CHECK_FALSE(parse_simple_signing_payload(payload("", R"(,"extra":1)")));
    CHECK_FALSE(parse_simple_signing_payload(payload("", "", R"({"timestamp":1.5})")));
    CHECK_FALSE(parse_simple_signing_payload(payload("", "", R"({"creator":7})")));
    CHECK_FALSE(parse_simple_signing_payload(payload("", "", "[]")));
    CHECK_FALSE(parse_simple_signing_payload(R"({"critical":{},"optional":null})"));
    // A key given twice is ambiguous: refused, as containers/image refuses it.
    std::string twice = payload("");
    twice.insert(twice.find("\"optional\""), R"("optional":null,)");
    auto dup = parse_simple_signing_payload(twice);
    REQUIRE_FALSE(dup);
    CHECK(dup.error().find("not valid JSON") != std::string::npos);
    CHECK_FALSE(parse_simple_signing_payload("{\"optional\":null}"));
    std::string other_type = payload("");
    other_type.replace(other_type.find("cosign container"), 6, "atomic");
    auto r = parse_simple_signing_payload(other_type);
    REQUIRE_FALSE(r);
    CHECK(r.error().find("critical.type") != std::string::npos);
}

TEST_CASE("public keys: P-256, Ed25519 and RSA of 2048 bits and more; nothing else") {
    auto ec = PublicKey::from_pem(slurp(kFixtures + "cosign.pub"));
    REQUIRE(ec);
    CHECK(ec.value()->algorithm() == "ecdsa-p256");
    CHECK(ec.value()->id().starts_with("SHA256:"));
    CHECK(ec.value()->id().size() == 7 + 16);
    CHECK_FALSE(PublicKey::from_pem("not a key"));
    CHECK_FALSE(
        PublicKey::from_pem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"));
    // Made with openssl genpkey (P-384, RSA 1024, Ed25519) and pkey -pubout.
    const char *p384 = "-----BEGIN PUBLIC KEY-----\n"
                       "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEf3S0STRGHxGukDW6MkLztKsimK0aTjev\n"
                       "UMjlkrHZMIkWnHq5Mh9506c9TN2qCMOdZkgHzsDhYF65a2L9Fa+pJdjhrGLOUtWO\n"
                       "h+fm8QP5EU34Q3+6zgZFVIod0nDidVfx\n"
                       "-----END PUBLIC KEY-----\n";
    auto refused = PublicKey::from_pem(p384);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().find("must be on P-256") != std::string::npos);
    const char *rsa1024 = "-----BEGIN PUBLIC KEY-----\n"
                          "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDr8clsYaFjdQroIkmyBdk1uK3V\n"
                          "gbnEGiLZ4fCLZtHnQ6Y+884AXeI65t9s8NJm09Q9HQMpjngf8O+ZtMfnCQEJE2b7\n"
                          "AtcWHuszf88LrIG+wQVyt96i9WFPGWqjCmjAzgmAQsHiyr8vRDwvQothsywspG2e\n"
                          "0WLgLovapqqkJigI6QIDAQAB\n"
                          "-----END PUBLIC KEY-----\n";
    auto small = PublicKey::from_pem(rsa1024);
    REQUIRE_FALSE(small);
    CHECK(small.error().find("at least 2048 bits") != std::string::npos);
    auto ed = PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n"
                                  "MCowBQYDK2VwAyEAdEjcaVQLosVvqKoLEcH+nZEAUCd3OIGymwE/3WgdED8=\n"
                                  "-----END PUBLIC KEY-----\n");
    REQUIRE(ed);
    CHECK(ed.value()->algorithm() == "ed25519");
    CHECK_FALSE(ed.value()->verify("message", std::string(64, '\0')));
    std::string two = slurp(kFixtures + "cosign.pub");
    CHECK_FALSE(PublicKey::from_pem(two + two));
}

TEST_CASE("base64 is read as Go's StdEncoding reads it (policy/go_json)") {
    CHECK(base64_decode("aGVsbG8=").value() == "hello");
    CHECK(base64_decode("aGVsbG8h").value() == "hello!");
    CHECK_FALSE(base64_decode("aGVsbG8"));
    CHECK_FALSE(base64_decode("aGVs bG8="));
    CHECK_FALSE(base64_decode("aGV=bG8="));
    CHECK(base64_decode("aGVs\r\nbG8=").value() == "hello");
}

TEST_CASE("referrers: only cosign signature manifests are read") {
    std::string d1 = "sha256:" + std::string(64, '1'), d2 = "sha256:" + std::string(64, '2');
    auto list = parse_referrers_index(
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
        R"({"artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","digest":")" +
        d1 + R"("},{"artifactType":"application/spdx+json","digest":")" + d2 + R"("}]})");
    REQUIRE(list);
    CHECK(list.value() == std::vector<std::string>{d1});
    CHECK_FALSE(parse_referrers_index("{"));
}
