// Host paths: normalisation and the protected-path rule (docs/hardening.md). No file system access:
// symlinks are resolved by the caller (plugin/) and both spellings are checked.
#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace imagegate {

// Lexical clean-up as Go's filepath.Clean: "//a/./b/../c/" → "/a/c". Relative paths stay relative.
std::string normalize_path(std::string_view path);

// True when mounting `host_path` would expose a protected path: it is one of them, lies inside
// one, or is a parent of one ("/", "/etc", "/run" ...). Both are normalised first.
bool exposes_protected_path(std::string_view host_path,
                            const std::vector<std::string> &protected_paths,
                            std::string *which = nullptr);

// Protected paths prepared for lookups (a policy's hardening.protectedPaths, which may be
// long): whether a host path exposes one costs a hash lookup per component of the host path,
// whatever their number. Same answer as exposes_protected_path, `which` included (the first
// protected path, in the order given, that the host path exposes).
class PathIndex {
  public:
    PathIndex() = default;
    explicit PathIndex(const std::vector<std::string> &protected_paths);
    bool exposes(std::string_view host_path, std::string *which = nullptr) const;

  private:
    std::vector<std::string> paths_;                     // normalised, in the order given
    std::unordered_map<std::string, std::size_t> exact_; // a protected path → its first index
    std::unordered_map<std::string, std::size_t>
        above_; // a proper ancestor of one → first index below it
};

} // namespace imagegate
