#include "policy/action.hpp"

#include <array>

namespace imagegate {
namespace {
struct ActionNames {
    Action action;
    std::string_view name, verb;
};
constexpr std::array<ActionNames, 10> kActions{{
    {Action::Pull, "image.pull", "pull"},
    {Action::Run, "image.run", "run"},
    {Action::Push, "image.push", "push"},
    {Action::Tag, "image.tag", "tag"},
    {Action::Delete, "image.delete", "delete"},
    {Action::Inspect, "image.inspect", "inspect"},
    {Action::List, "image.list", "list"},
    {Action::Import, "image.import", "import"},
    {Action::Build, "image.build", "build"},
    {Action::Other, "other", "request"},
}};
} // namespace

std::string_view action_name(Action action) {
    return kActions[static_cast<int>(action)].name;
}
std::string_view action_verb(Action action) {
    return kActions[static_cast<int>(action)].verb;
}

std::optional<Action> parse_action(std::string_view text) {
    for (const auto &a : kActions) {
        if (a.action == Action::Other)
            continue;
        if (text == a.name || text == a.name.substr(6))
            return a.action;
    }
    return std::nullopt;
}

std::string_view category_name(Category category) {
    switch (category) {
    case Category::None:
        return "none";
    case Category::Organization:
        return "organization";
    case Category::DockerOfficial:
        return "docker-official";
    case Category::VerifiedPublisher:
        return "verified-publisher";
    case Category::SponsoredOpenSource:
        return "sponsored-open-source";
    case Category::Community:
        return "community";
    case Category::OtherRegistry:
        return "other-registry";
    }
    return "none";
}

std::string_view category_title(Category category) {
    switch (category) {
    case Category::None:
        return "Unclassified";
    case Category::Organization:
        return "Organization";
    case Category::DockerOfficial:
        return "Docker Official";
    case Category::VerifiedPublisher:
        return "Verified Publisher";
    case Category::SponsoredOpenSource:
        return "Sponsored Open Source";
    case Category::Community:
        return "Community";
    case Category::OtherRegistry:
        return "Other registry";
    }
    return "Unclassified";
}

} // namespace imagegate
