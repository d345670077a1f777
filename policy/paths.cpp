#include "policy/paths.hpp"

namespace imagegate {

std::string normalize_path(std::string_view path) {
    bool absolute = !path.empty() && path.front() == '/';
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        std::string_view part = path.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part == ".") {
        } else if (part == "..") {
            if (!parts.empty() && parts.back() != "..")
                parts.pop_back();
            else if (!absolute)
                parts.push_back(part);
        } else {
            parts.push_back(part);
        }
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    std::string out = absolute ? "/" : "";
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += "/";
        out += parts[i];
    }
    if (out.empty())
        out = ".";
    return out;
}

namespace {
// `inner` equals `outer` or lies below it.
bool within(std::string_view inner, std::string_view outer) {
    if (outer == "/")
        return true;
    return inner == outer ||
           (inner.starts_with(outer) && inner.size() > outer.size() && inner[outer.size()] == '/');
}
} // namespace

bool exposes_protected_path(std::string_view host_path,
                            const std::vector<std::string> &protected_paths, std::string *which) {
    std::string path = normalize_path(host_path);
    for (const auto &p : protected_paths) {
        std::string guarded = normalize_path(p);
        if (within(path, guarded) || within(guarded, path)) {
            if (which)
                *which = guarded;
            return true;
        }
    }
    return false;
}

namespace {
// "/a/b/c" → "/a/b", "/a", "/"; nothing for "/" or a relative path.
template <class F> void for_each_proper_ancestor(std::string_view path, F &&f) {
    if (path.empty() || path.front() != '/' || path == "/")
        return;
    for (std::size_t slash = path.rfind('/'); slash != std::string_view::npos;
         slash = path.rfind('/', slash - 1)) {
        f(slash == 0 ? std::string_view("/") : path.substr(0, slash));
        if (slash == 0)
            break;
    }
}
} // namespace

PathIndex::PathIndex(const std::vector<std::string> &protected_paths) {
    for (const auto &p : protected_paths) {
        std::size_t index = paths_.size();
        paths_.push_back(normalize_path(p));
        const std::string &q = paths_.back();
        exact_.emplace(q, index); // keeps the first index of a repeated path
        for_each_proper_ancestor(
            q, [&](std::string_view a) { above_.emplace(std::string(a), index); });
    }
}

bool PathIndex::exposes(std::string_view host_path, std::string *which) const {
    if (paths_.empty())
        return false;
    std::string path = normalize_path(host_path);
    std::size_t best = paths_.size();
    auto consider = [&](const std::unordered_map<std::string, std::size_t> &map,
                        const std::string &key) {
        if (auto it = map.find(key); it != map.end() && it->second < best)
            best = it->second;
    };
    consider(exact_, path); // it is a protected path
    if (path.front() != '/')
        consider(exact_, "/"); // a protected "/" covers even relative paths
    consider(above_, path);    // it is a parent of one
    std::string ancestor;
    for_each_proper_ancestor(path, [&](std::string_view a) { // it lies inside one
        ancestor.assign(a);
        consider(exact_, ancestor);
    });
    if (best == paths_.size())
        return false;
    if (which)
        *which = paths_[best];
    return true;
}

} // namespace imagegate
