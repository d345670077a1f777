// Host paths: normalisation and the protected-path rule (SPEC §1.6). No file system access:
// symlinks are resolved by the caller (plugin/) and both spellings are checked.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

// Lexical clean-up as Go's filepath.Clean: "//a/./b/../c/" → "/a/c". Relative paths stay relative.
std::string normalize_path(std::string_view path);

// True when mounting `host_path` would expose a protected path: it is one of them, lies inside
// one, or is a parent of one ("/", "/etc", "/run" ...). Both are normalised first.
bool exposes_protected_path(std::string_view host_path, const std::vector<std::string> &protected_paths,
                            std::string *which = nullptr);

} // namespace imagegate
