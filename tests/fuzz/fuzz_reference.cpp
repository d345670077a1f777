// Fuzzes parse_reference (policy/reference.cpp). Properties:
//  - it never throws and never crashes (any exception reaches libFuzzer as a crash);
//  - an accepted reference is accepted by the grammar of docs/authz-protocol.md §5, written
//    independently as a regular expression (tests/policy/reference_grammar.hpp);
//  - normalising a normalised reference changes nothing (parse(str(r)) == r);
//  - the normalised parts keep the documented invariants (lower-case path <= 255, a tag or a
//    digest, docker.io for every spelling of Docker Hub, library/ for one-component Hub names);
//  - canonical_registry is idempotent; errors quote the input.
#include "fuzz_support.hpp"
#include "policy/reference.hpp"
#include "policy/reference_grammar.hpp"

#include <algorithm>
#include <cstdint>

using namespace imagegate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string text(reinterpret_cast<const char *>(data), size);
    auto ref = parse_reference(text);
    if (!ref) {
        FUZZ_PROPERTY(ref.error().starts_with("invalid reference \""), ref.error());
        return 0;
    }
    const Reference &r = ref.value();
    // The grammar bounds nothing, so only short inputs are worth the regex (and its recursion).
    if (text.size() <= 512)
        FUZZ_PROPERTY(testing::grammar_accepts(text), text);
    FUZZ_PROPERTY(!r.path.empty() && r.path.size() <= kMaxNameLength + 8, text); // + "library/"
    FUZZ_PROPERTY(
        std::none_of(r.path.begin(), r.path.end(), [](char c) { return c >= 'A' && c <= 'Z'; }),
        text);
    FUZZ_PROPERTY(!r.tag.empty() || !r.digest.empty(), text);
    FUZZ_PROPERTY(!r.registry.empty(), text);
    FUZZ_PROPERTY(r.is_docker_hub() == (r.registry_key() == kDockerHub), text);
    if (r.is_docker_hub())
        FUZZ_PROPERTY(r.path.find('/') != std::string::npos, text);
    FUZZ_PROPERTY(canonical_registry(r.registry_key()) == r.registry_key(), text);

    std::string normalized = r.str();
    auto again = parse_reference(normalized);
    FUZZ_PROPERTY(again.ok(), text + " -> " + normalized + ": " + (again ? "" : again.error()));
    FUZZ_PROPERTY(again->str() == normalized, text + " -> " + normalized + " -> " + again->str());
    FUZZ_PROPERTY(again->registry == r.registry && again->path == r.path && again->tag == r.tag &&
                      again->digest == r.digest,
                  text + " -> " + normalized);
    FUZZ_PROPERTY(again->match_name() == r.match_name(), text);
    return 0;
}
