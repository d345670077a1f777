// Image references, normalised as distribution/reference and the Docker CLI do
// (docs/authz-protocol.md §5).
#pragma once
#include "common/result.hpp"
#include <string>
#include <string_view>

namespace imagegate {

inline constexpr std::string_view kDockerHub = "docker.io";
// distribution/reference: NameTotalLengthMax (the path, domain excluded, since v0.6.0).
inline constexpr std::size_t kMaxNameLength = 255;
// Nothing longer is ever parsed: a domain, a path, a tag and a digest fit well within it.
inline constexpr std::size_t kMaxReferenceLength = 1024;

struct Reference {
    std::string registry; // "docker.io" for every spelling of Docker Hub; others as written ("Foo",
                          // "localhost:5000")
    std::string path;     // "library/alpine", "acme/team/app"
    std::string tag;      // "latest" unless a digest alone was given
    std::string digest;   // "sha256:..." or empty

    // registry/path as written (normalised).
    std::string name() const { return registry + "/" + path; }
    // The registry as compared: lower case (registry names match case-insensitively).
    std::string registry_key() const;
    // registry_key/path: what roles, allowlists and resource patterns match against.
    std::string match_name() const { return registry_key() + "/" + path; }
    // The full normalised form: name[:tag][@digest].
    std::string str() const;
    // The first path component: the Docker Hub namespace.
    std::string_view first_component() const;
    bool is_docker_hub() const { return registry == kDockerHub; }
};

// Parses and normalises `text`. Errors quote the input.
Result<Reference> parse_reference(std::string_view text);

// Registry names compare case-insensitively; every spelling of Docker Hub is "docker.io".
std::string canonical_registry(std::string_view registry);

// True for strings dockerd resolves as image IDs rather than names: "sha256:<hex>",
// or a bare hex string (an ID prefix), which parse_reference would read as a library image.
bool looks_like_image_id(std::string_view text);

} // namespace imagegate
