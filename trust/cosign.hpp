// cosign signatures in a registry (docs/trust.md): the signature image REPO:sha256-HEX.sig, an
// OCI manifest whose layers are simple-signing payloads, each with its base64 signature in the
// dev.cosignproject.cosign/signature annotation. Pure: the blobs come through a function.
#pragma once
#include "common/result.hpp"
#include "policy/trust.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

inline constexpr std::size_t kMaxSignatureManifestBytes = 256 * 1024;
inline constexpr std::size_t kMaxSignatureLayers = 64;
inline constexpr std::size_t kMaxSignaturePayloadBytes = 64 * 1024;
inline constexpr std::string_view kSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kCosignSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr std::string_view kCosignSignatureType = "cosign container image signature";
// The artifact type of cosign's signatures stored as OCI 1.1 referrers.
inline constexpr std::string_view kCosignReferrerArtifactType =
    "application/vnd.dev.cosign.artifact.sig.v1+json";

// What a simple-signing payload claims (containers-signature(5)); read as containers/image
// reads it: exactly the fields {critical: {type, image: {docker-manifest-digest},
// identity: {docker-reference}}, optional}, optional null or an object.
struct PayloadClaims {
    std::string digest;           // critical.image.docker-manifest-digest
    std::string docker_reference; // critical.identity.docker-reference
};
Result<PayloadClaims> parse_simple_signing_payload(std::string_view payload);

// One signature layer of a signature manifest.
struct SignatureLayer {
    std::string digest; // of the payload blob
    std::int64_t size = 0;
    std::string signature; // the annotation: base64
};
// The simple-signing layers of a signature manifest (other layers are skipped); an error for
// a manifest that is not one, is over kMaxSignatureManifestBytes or has more than
// kMaxSignatureLayers layers.
Result<std::vector<SignatureLayer>> parse_signature_manifest(std::string_view manifest);

// The digests of cosign signature manifests in a referrers index (OCI 1.1 distribution spec).
Result<std::vector<std::string>> parse_referrers_index(std::string_view index);

// Reads a blob by digest, at most LIMIT bytes; an error means it could not be read.
using BlobReader = std::function<Result<std::string>(const std::string &digest, std::size_t limit)>;

// The verdict of the signatures of one signature manifest for CHECK: Verified as soon as one
// layer's payload verifies with a key of check.rule and names check.digest and the repository
// check.match_name; Unavailable if a blob cannot be read; Rejected with the reasons otherwise.
TrustVerdict verify_signature_manifest(std::string_view manifest, const BlobReader &read_blob,
                                       const TrustCheck &check);

// "sha256:" + hex (distribution's sha256_hex), and whether a string is one.
std::string sha256_digest(std::string_view data);
bool is_sha256_digest(std::string_view digest);

} // namespace imagegate
