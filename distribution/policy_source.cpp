#include "distribution/policy_source.hpp"

#include "distribution/sync.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace imagegate {

namespace {
Result<std::shared_ptr<const ActivePolicy>>
from_text(std::string_view text, const std::string &source, const std::string &name,
          Clock::time_point synced_at, std::vector<std::string> *warnings) {
    PolicyLoad load = load_policy(text, false);
    std::string errors;
    for (const auto &d : load.diagnostics) {
        if (d.severity == Diagnostic::Severity::Error)
            errors += (errors.empty() ? "" : "; ") + d.path + ": " + d.message;
        else if (warnings)
            warnings->push_back(name + ": " + d.str());
    }
    if (!load.policy)
        return Error{name + ": invalid policy: " + errors};
    auto active = std::make_shared<ActivePolicy>();
    active->policy = load.policy;
    active->source = source;
    active->synced_at = synced_at;
    return std::shared_ptr<const ActivePolicy>(std::move(active));
}
} // namespace

Result<std::shared_ptr<const ActivePolicy>>
load_configured_policy(const Config &config, std::vector<std::string> *warnings) {
    if (!config.policy_url.empty()) {
        auto cached = load_policy_cache(config);
        if (!cached)
            return Error{cached.error()};
        auto active = std::make_shared<ActivePolicy>();
        active->policy = cached->bundle.policy;
        active->source = "cache:" + cached->path;
        active->synced_at = cached->synced_at;
        return std::shared_ptr<const ActivePolicy>(std::move(active));
    }
    if (!config.policy_file.empty()) {
        auto text = read_file(config.policy_file, kMaxPolicyFileBytes);
        if (!text)
            return Error{text.error()};
        return from_text(text.value(), "file:" + config.policy_file, config.policy_file,
                         Clock::now(), warnings);
    }
    return from_text(default_policy_json(), "default", "the shipped default policy", Clock::now(),
                     warnings);
}

} // namespace imagegate
