#include "trust/cosign.hpp"

#include "distribution/bundle.hpp"
#include "policy/go_json.hpp"
#include "policy/reference.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <initializer_list>

namespace imagegate {

namespace json = boost::json;

namespace {

// containers/image's ParanoidUnmarshalJSONObjectExactFields: an object with exactly these keys.
Result<const json::object *> exact_fields(const json::value &v, std::string_view what,
                                          std::initializer_list<std::string_view> keys) {
    if (!v.is_object())
        return Error{std::string(what) + " is not a JSON object"};
    const json::object &o = v.as_object();
    for (const auto &kv : o)
        if (std::find(keys.begin(), keys.end(), kv.key()) == keys.end())
            return Error{std::string(what) + " has an unknown field \"" +
                         std::string(kv.key().substr(0, 64)) + "\""};
    for (std::string_view k : keys)
        if (!o.contains(k))
            return Error{std::string(what) + " has no field \"" + std::string(k) + "\""};
    return &o;
}

Result<std::string> string_field(const json::object &o, std::string_view key,
                                 std::string_view what) {
    const json::value &v = o.at(key);
    if (!v.is_string())
        return Error{std::string(what) + "." + std::string(key) + " is not a string"};
    return std::string(v.as_string());
}

// A key given twice is refused, as containers/image's paranoid reader refuses it.
Result<json::value> parse_json(std::string_view text, std::string_view what) {
    auto v = go_parse_json(text, {}, 32);
    if (!v)
        return Error{std::string(what) + " is not valid JSON: " + v.error()};
    return v;
}

} // namespace

bool is_sha256_digest(std::string_view digest) {
    if (digest.size() != 71 || !digest.starts_with("sha256:"))
        return false;
    return std::all_of(digest.begin() + 7, digest.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string sha256_digest(std::string_view data) {
    return "sha256:" + sha256_hex(data);
}

Result<PayloadClaims> parse_simple_signing_payload(std::string_view payload) {
    auto root = parse_json(payload, "the payload");
    if (!root)
        return Error{root.error()};
    auto top = exact_fields(root.value(), "the payload", {"critical", "optional"});
    if (!top)
        return Error{top.error()};
    const json::value &optional = top.value()->at("optional");
    if (!optional.is_null()) {
        if (!optional.is_object())
            return Error{"the payload's optional is not an object"};
        if (auto *c = optional.as_object().if_contains("creator"); c && !c->is_string())
            return Error{"the payload's optional.creator is not a string"};
        if (auto *t = optional.as_object().if_contains("timestamp")) {
            bool integer = t->is_int64() || t->is_uint64() ||
                           (t->is_double() && std::trunc(t->as_double()) == t->as_double());
            if (!integer)
                return Error{"the payload's optional.timestamp is not an integer"};
        }
    }
    auto critical = exact_fields(top.value()->at("critical"), "the payload's critical",
                                 {"type", "image", "identity"});
    if (!critical)
        return Error{critical.error()};
    auto type = string_field(*critical.value(), "type", "critical");
    if (!type)
        return Error{type.error()};
    if (type.value() != kCosignSignatureType)
        return Error{"the payload's critical.type is \"" + type.value().substr(0, 64) +
                     "\", not \"" + std::string(kCosignSignatureType) + "\""};
    auto image = exact_fields(critical.value()->at("image"), "the payload's critical.image",
                              {"docker-manifest-digest"});
    if (!image)
        return Error{image.error()};
    auto identity = exact_fields(critical.value()->at("identity"),
                                 "the payload's critical.identity", {"docker-reference"});
    if (!identity)
        return Error{identity.error()};
    PayloadClaims claims;
    auto digest = string_field(*image.value(), "docker-manifest-digest", "critical.image");
    if (!digest)
        return Error{digest.error()};
    auto reference = string_field(*identity.value(), "docker-reference", "critical.identity");
    if (!reference)
        return Error{reference.error()};
    claims.digest = std::move(digest).value();
    claims.docker_reference = std::move(reference).value();
    return claims;
}

Result<std::vector<SignatureLayer>> parse_signature_manifest(std::string_view manifest) {
    if (manifest.size() > kMaxSignatureManifestBytes)
        return Error{"it is larger than " + std::to_string(kMaxSignatureManifestBytes / 1024) +
                     " KiB"};
    auto root = parse_json(manifest, "it");
    if (!root)
        return Error{root.error()};
    if (!root.value().is_object())
        return Error{"it is not a JSON object"};
    const json::object &o = root.value().as_object();
    if (auto *mt = o.if_contains("mediaType");
        mt && (!mt->is_string() ||
               (mt->as_string() != "application/vnd.oci.image.manifest.v1+json" &&
                mt->as_string() != "application/vnd.docker.distribution.manifest.v2+json")))
        return Error{"it is not an image manifest (mediaType)"};
    auto *layers = o.if_contains("layers");
    if (!layers || !layers->is_array())
        return Error{"it has no layers array"};
    if (layers->as_array().size() > kMaxSignatureLayers)
        return Error{"it has " + std::to_string(layers->as_array().size()) + " layers, more than " +
                     std::to_string(kMaxSignatureLayers)};
    std::vector<SignatureLayer> out;
    for (const auto &l : layers->as_array()) {
        if (!l.is_object())
            return Error{"a layer is not an object"};
        const json::object &layer = l.as_object();
        auto *mt = layer.if_contains("mediaType");
        auto *digest = layer.if_contains("digest");
        auto *size = layer.if_contains("size");
        if (!mt || !mt->is_string() || !digest || !digest->is_string() || !size ||
            !(size->is_int64() || size->is_uint64()))
            return Error{"a layer has no mediaType, digest or size"};
        if (mt->as_string() != kSimpleSigningMediaType)
            continue;
        auto *annotations = layer.if_contains("annotations");
        const json::value *sig =
            annotations && annotations->is_object()
                ? annotations->as_object().if_contains(kCosignSignatureAnnotation)
                : nullptr;
        if (!sig || !sig->is_string())
            continue;
        SignatureLayer s;
        s.digest = std::string(digest->as_string());
        s.size = size->is_int64() ? size->as_int64() : INT64_MAX;
        s.signature = std::string(sig->as_string());
        out.push_back(std::move(s));
    }
    return out;
}

Result<std::vector<std::string>> parse_referrers_index(std::string_view index) {
    if (index.size() > kMaxSignatureManifestBytes)
        return Error{"the referrers index is larger than " +
                     std::to_string(kMaxSignatureManifestBytes / 1024) + " KiB"};
    auto root = parse_json(index, "the referrers index");
    if (!root)
        return Error{root.error()};
    auto *manifests =
        root.value().is_object() ? root.value().as_object().if_contains("manifests") : nullptr;
    if (!manifests || !manifests->is_array())
        return Error{"the referrers index has no manifests array"};
    std::vector<std::string> out;
    for (const auto &m : manifests->as_array()) {
        if (!m.is_object())
            continue;
        auto *type = m.as_object().if_contains("artifactType");
        auto *digest = m.as_object().if_contains("digest");
        if (type && type->is_string() && type->as_string() == kCosignReferrerArtifactType &&
            digest && digest->is_string() && is_sha256_digest(digest->as_string()))
            out.emplace_back(digest->as_string());
        if (out.size() >= kMaxSignatureLayers)
            break;
    }
    return out;
}

TrustVerdict verify_signature_manifest(std::string_view manifest, const BlobReader &read_blob,
                                       const TrustCheck &check) {
    TrustVerdict v;
    auto rejected = [&](std::string reason) {
        v.state = TrustVerdict::State::Rejected;
        v.reason = std::move(reason);
        return v;
    };
    auto layers = parse_signature_manifest(manifest);
    if (!layers)
        return rejected("the signature manifest is not valid: " + layers.error());
    if (layers.value().empty())
        return rejected("the signature manifest holds no cosign signature");
    std::string first_reason;
    auto note = [&](std::string reason) {
        if (first_reason.empty())
            first_reason = std::move(reason);
    };
    for (const SignatureLayer &layer : layers.value()) {
        if (!is_sha256_digest(layer.digest)) {
            note("a signature layer's digest is not sha256");
            continue;
        }
        if (layer.size < 0 || static_cast<std::uint64_t>(layer.size) > kMaxSignaturePayloadBytes) {
            note("a signature payload is larger than " +
                 std::to_string(kMaxSignaturePayloadBytes / 1024) + " KiB");
            continue;
        }
        auto signature = base64_decode(layer.signature);
        if (!signature) {
            note("a signature is " + signature.error());
            continue;
        }
        auto blob = read_blob(layer.digest, kMaxSignaturePayloadBytes);
        if (!blob) {
            v.state = TrustVerdict::State::Unavailable;
            v.reason = "cannot read the signature payload " + layer.digest + ": " + blob.error();
            return v;
        }
        if (sha256_digest(blob.value()) != layer.digest) {
            note("a signature payload does not match its digest");
            continue;
        }
        const PublicKey *signer = nullptr;
        for (const auto &key : check.rule->keys)
            if (key->verify(blob.value(), signature.value())) {
                signer = key.get();
                break;
            }
        if (!signer) {
            note("no signature verifies with a key of the rule");
            continue;
        }
        auto claims = parse_simple_signing_payload(blob.value());
        if (!claims) {
            note("a signature by " + signer->id() + " signs no valid payload: " + claims.error());
            continue;
        }
        if (claims.value().digest != check.digest) {
            note("the signature by " + signer->id() + " is for another digest, " +
                 claims.value().digest.substr(0, 80));
            continue;
        }
        auto ref = parse_reference(claims.value().docker_reference);
        if (!ref || ref->match_name() != check.match_name) {
            note("the signature by " + signer->id() + " is for another repository, " +
                 claims.value().docker_reference.substr(0, 200));
            continue;
        }
        v.state = TrustVerdict::State::Verified;
        v.key_id = signer->id();
        v.reason.clear();
        return v;
    }
    return rejected(first_reason);
}

} // namespace imagegate
