#include "policy/reference.hpp"

#include <doctest/doctest.h>

using namespace imagegate;

namespace {
const std::string kDigest = "sha256:" + std::string(64, 'a');
}

TEST_CASE("references normalise as the Docker CLI does") {
    struct Row {
        std::string input, normalized;
    } rows[] = {
        {"alpine", "docker.io/library/alpine:latest"},
        {"alpine:3.19", "docker.io/library/alpine:3.19"},
        {"user/app", "docker.io/user/app:latest"},
        {"docker.io/library/alpine", "docker.io/library/alpine:latest"},
        {"docker.io/alpine", "docker.io/library/alpine:latest"},
        {"index.docker.io/user/app:1", "docker.io/user/app:1"},
        {"registry-1.docker.io/user/app", "docker.io/user/app:latest"},
        {"Docker.IO/user/app", "docker.io/user/app:latest"},
        {"registry-1.docker.io:443/user/app", "docker.io/user/app:latest"},
        {"ghcr.io/org/app:v1", "ghcr.io/org/app:v1"},
        {"localhost/app", "localhost/app:latest"},
        {"localhost:5000/app", "localhost:5000/app:latest"},
        {"localhost:5000", "docker.io/library/localhost:5000"},
        {"Foo/bar", "Foo/bar:latest"},
        {"[::1]:5000/app", "[::1]:5000/app:latest"},
        {"registry.acme.example:5000/acme/team/app",
         "registry.acme.example:5000/acme/team/app:latest"},
        {"alpine@" + kDigest, "docker.io/library/alpine@" + kDigest},
        {"alpine:3@" + kDigest, "docker.io/library/alpine:3@" + kDigest},
        {"a__b/c-d---e.f_g", "docker.io/a__b/c-d---e.f_g:latest"},
        {"app:" + std::string(128, 'x'), "docker.io/library/app:" + std::string(128, 'x')},
    };
    for (const auto &row : rows) {
        CAPTURE(row.input);
        auto ref = parse_reference(row.input);
        REQUIRE_MESSAGE(ref.ok(), (ref.ok() ? "" : ref.error()));
        CHECK(ref->str() == row.normalized);
        SUBCASE("normalising a normalised reference changes nothing") {
            auto again = parse_reference(ref->str());
            REQUIRE(again.ok());
            CHECK(again->str() == ref->str());
        }
    }
}

TEST_CASE("invalid references are refused with a message that quotes them") {
    struct Row {
        std::string input, message;
    } rows[] = {
        {"", "invalid reference \"\": empty reference"},
        {"Alpine", "invalid reference \"Alpine\": repository name must be lowercase"},
        {"ghcr.io/Org/app",
         "invalid reference \"ghcr.io/Org/app\": repository name must be lowercase"},
        {"a//b", "invalid reference \"a//b\": invalid repository name"},
        {"/alpine", "invalid reference \"/alpine\": invalid repository name"},
        {"alpine/", "invalid reference \"alpine/\": invalid repository name"},
        {"alpine:", "invalid reference \"alpine:\": invalid tag"},
        {"alpine:-x", "invalid reference \"alpine:-x\": invalid tag"},
        {"app:" + std::string(129, 'x'),
         "invalid reference \"app:" + std::string(129, 'x') + "\": invalid tag"},
        {"alpine@sha256:abc", "invalid reference \"alpine@sha256:abc\": invalid digest"},
        {"alpine@md5:" + std::string(32, 'a'),
         "invalid reference \"alpine@md5:" + std::string(32, 'a') + "\": invalid digest"},
        {std::string(64, 'a'), "invalid reference \"" + std::string(64, 'a') +
                                   "\": cannot specify 64-byte hexadecimal strings"},
        {"a b", "invalid reference \"a b\": contains a space, control or non-ASCII character"},
        {"a..b", "invalid reference \"a..b\": invalid repository name"},
        {"a_-b", "invalid reference \"a_-b\": invalid repository name"},
        {"-registry.io/app", "invalid reference \"-registry.io/app\": invalid registry name"},
        {"docker.io/" + std::string(256, 'a'),
         "invalid reference \"docker.io/" + std::string(256, 'a') +
             "\": repository name must not be longer than 255 characters"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.input);
        auto ref = parse_reference(row.input);
        REQUIRE_FALSE(ref.ok());
        CHECK(ref.error() == row.message);
    }
}

TEST_CASE("a 255-character repository path is the longest accepted") {
    CHECK(parse_reference("docker.io/a/" + std::string(253, 'a')).ok());
    CHECK_FALSE(parse_reference("docker.io/a/" + std::string(254, 'a')).ok());
    CHECK(parse_reference("ghcr.io/" + std::string(255, 'a')).ok());
    CHECK_FALSE(parse_reference("ghcr.io/" + std::string(256, 'a')).ok());
}

TEST_CASE("the library/ of a one-component Docker Hub name counts towards the 255 characters") {
    // ParseNormalizedNamed parses "docker.io/library/NAME": NAME may have 247 characters.
    CHECK(parse_reference(std::string(247, 'a')).ok());
    auto ref = parse_reference(std::string(248, 'a'));
    REQUIRE_FALSE(ref.ok());
    CHECK(ref.error() == "invalid reference \"" + std::string(248, 'a') +
                             "\": repository name must not be longer than 255 characters");
    CHECK_FALSE(parse_reference("docker.io/" + std::string(248, 'a')).ok());
}

TEST_CASE("a reference whose normalised form is longer than the limit is refused") {
    // Within the limit as given, but ":latest" takes the normalised form past it.
    std::string at_limit = "r" + std::string(1009, 'e') + ".io/app";
    REQUIRE(at_limit.size() == 1017);
    CHECK(parse_reference(at_limit).ok()); // 1017 + ":latest" = 1024
    std::string over = "r" + std::string(1010, 'e') + ".io/app";
    auto ref = parse_reference(over);
    REQUIRE_FALSE(ref.ok());
    CHECK(ref.error().ends_with("...\": reference too long"));
}

TEST_CASE("registry-1.docker.io is Docker Hub") {
    for (std::string spelling : {"docker.io", "index.docker.io", "registry-1.docker.io",
                                 "DOCKER.IO", "registry-1.docker.io:443", "docker.io."})
        CHECK(canonical_registry(spelling) == "docker.io");
    CHECK(canonical_registry("docker.io:5000") == "docker.io:5000");
    CHECK(canonical_registry("notdocker.io") == "notdocker.io");
}

TEST_CASE("image IDs are recognised") {
    CHECK(looks_like_image_id("sha256:" + std::string(64, 'a')));
    CHECK(looks_like_image_id("3fb4c2"));
    CHECK_FALSE(looks_like_image_id("alpine"));
}
