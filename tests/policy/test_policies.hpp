// Policies the unit tests decide with.
#pragma once
#include "policy/policy.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

namespace imagegate::testing {

inline std::string fixture(const std::string &name) {
    std::ifstream in(std::string(IMAGEGATE_SOURCE_DIR) + "/tests/fixtures/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::shared_ptr<const Policy> load(const std::string &text) {
    auto load = load_policy(text, true);
    for (const auto &d : load.diagnostics)
        INFO(d.str());
    REQUIRE(load.policy);
    return load.policy;
}

// The example policy (acme, serial 42).
inline std::shared_ptr<const Policy> acme() {
    static auto policy = load(fixture("policies/acme.json"));
    return policy;
}

} // namespace imagegate::testing
