#include "policy/paths.hpp"

namespace imagegate {

std::string normalize_path(std::string_view path) {
    bool absolute = !path.empty() && path.front() == '/';
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        std::string_view part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part == ".") {
        } else if (part == "..") {
            if (!parts.empty() && parts.back() != "..") parts.pop_back();
            else if (!absolute) parts.push_back(part);
        } else {
            parts.push_back(part);
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    std::string out = absolute ? "/" : "";
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += "/";
        out += parts[i];
    }
    if (out.empty()) out = ".";
    return out;
}

namespace {
// `inner` equals `outer` or lies below it.
bool within(std::string_view inner, std::string_view outer) {
    if (outer == "/") return true;
    return inner == outer || (inner.starts_with(outer) && inner.size() > outer.size() && inner[outer.size()] == '/');
}
} // namespace

bool exposes_protected_path(std::string_view host_path, const std::vector<std::string> &protected_paths,
                            std::string *which) {
    std::string path = normalize_path(host_path);
    for (const auto &p : protected_paths) {
        std::string guarded = normalize_path(p);
        if (within(path, guarded) || within(guarded, path)) {
            if (which) *which = guarded;
            return true;
        }
    }
    return false;
}

} // namespace imagegate
