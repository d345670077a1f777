// The actions of the README's "What it decides" table and their names.
#pragma once
#include <optional>
#include <string_view>

namespace imagegate {

enum class Action { Pull, Run, Push, Tag, Delete, Inspect, List, Import, Build, Other };

std::string_view action_name(Action action); // "image.pull", ..., "other"
std::string_view action_verb(Action action); // "pull", "run", ... for messages
// Accepts "image.pull" or "pull"; nullopt for anything else.
std::optional<Action> parse_action(std::string_view text);

enum class Category {
    None,
    Organization,
    DockerOfficial,
    VerifiedPublisher,
    SponsoredOpenSource,
    Community,
    OtherRegistry
};
// A single token, for log lines, metrics labels and `check` columns: "community", "docker-official"
// ...
std::string_view category_name(Category category);
// For messages: "Community", "Docker Official" ...
std::string_view category_title(Category category);

} // namespace imagegate
