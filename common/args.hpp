// Small helpers for sub-command argument parsing.
#pragma once
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

// A sub-command's arguments, without the program and command names.
using Args = std::vector<std::string>;

// Takes "--name VALUE" or "--name=VALUE" at args[i]; advances i past the value.
// Returns nullopt when args[i] is not that option; throws UsageError when the value is missing.
std::optional<std::string> take_option(const Args &args, std::size_t &i, std::string_view name);

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bool is_help(const std::string &arg);

} // namespace imagegate
