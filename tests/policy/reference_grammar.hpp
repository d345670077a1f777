// The image reference grammar of distribution/reference (regexp.go, normalize.go;
// docs/authz-protocol.md §5) written out as one regular expression, independently of
// policy/reference.cpp, so that tests can check the parser against it.
#pragma once
#include <regex>
#include <string>

namespace imagegate::testing {

// ReferenceRegexp, anchored: name[:tag][@digest].
inline const std::regex &reference_grammar() {
    static const std::regex grammar = [] {
        const std::string alphanumeric = "[a-z0-9]+";
        const std::string separator = "(?:[._]|__|[-]+)";
        const std::string path_component = alphanumeric + "(?:" + separator + alphanumeric + ")*";
        const std::string domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        const std::string domain_name = domain_component + "(?:\\." + domain_component + ")*";
        const std::string ipv6 = "\\[(?:[a-fA-F0-9:]+)\\]";
        const std::string domain = "(?:" + domain_name + "|" + ipv6 + ")(?::[0-9]+)?";
        const std::string name =
            "(?:" + domain + "/)?" + path_component + "(?:/" + path_component + ")*";
        const std::string tag = "[\\w][\\w.-]{0,127}";
        const std::string digest =
            "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
        return std::regex("^" + name + "(?::" + tag + ")?(?:@" + digest + ")?$",
                          std::regex::ECMAScript | std::regex::optimize);
    }();
    return grammar;
}

// What ParseNormalizedNamed accepts: the grammar, and not a bare 64-character hex ID.
// (Lengths are checked by the caller: the grammar does not bound them.)
inline bool grammar_accepts(const std::string &text) {
    if (text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos)
        return false;
    return std::regex_match(text, reference_grammar());
}

} // namespace imagegate::testing
