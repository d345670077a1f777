#include "common/args.hpp"

namespace imagegate {

std::optional<std::string> take_option(const Args &args, std::size_t &i, std::string_view name) {
    const std::string &a = args[i];
    if (a == name) {
        if (i + 1 >= args.size())
            throw UsageError(std::string(name) + " needs a value");
        i += 1;
        return args[i];
    }
    if (a.size() > name.size() && a.starts_with(name) && a[name.size()] == '=')
        return a.substr(name.size() + 1);
    return std::nullopt;
}

bool is_help(const std::string &arg) {
    return arg == "--help" || arg == "-h" || arg == "help";
}

} // namespace imagegate
