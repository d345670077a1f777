#include "plugin/decision_log.hpp"

#include <boost/json.hpp>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <filesystem>

namespace imagegate {

std::string rfc3339_now() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
    return out;
}

DecisionLog::DecisionLog(const std::string &path, std::size_t max_bytes, int max_files) {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    try {
        auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path, max_bytes, static_cast<std::size_t>(max_files));
        logger_ = std::make_shared<spdlog::logger>("decisions", sink);
        logger_->set_pattern("%v");
        logger_->set_level(spdlog::level::info);
        logger_->flush_on(spdlog::level::info); // one write(2) per line: no torn lines between writers
    } catch (const std::exception &e) {
        throw std::runtime_error("cannot open the decision log " + path + ": " + e.what());
    }
}

namespace {
std::string line(const LogContext &c, std::string_view action, std::string_view reference, std::string_view category,
                 std::string_view registry, bool allow, std::string_view reason, bool tag_target) {
    boost::json::object o;
    o["time"] = rfc3339_now();
    o["user"] = c.user;
    o["action"] = action;
    o["reference"] = reference;
    o["category"] = category;
    o["registry"] = registry;
    o["decision"] = allow ? "allow" : "deny";
    o["reason"] = reason;
    o["organization"] = c.organization;
    if (c.policy_serial >= 0) o["policySerial"] = c.policy_serial;
    else o["policySerial"] = nullptr;
    o["mode"] = c.audit ? "audit" : "enforce";
    o["source"] = c.source;
    if (!c.endpoint.empty()) o["endpoint"] = c.endpoint;
    if (tag_target) o["tagTarget"] = true;
    if (!c.digest.empty()) o["digest"] = c.digest;
    return boost::json::serialize(o);
}
} // namespace

void DecisionLog::write_image(const ImageDecision &i, const LogContext &c) {
    if (!logger_) return;
    logger_->info(line(c, action_name(i.action), i.normalized, category_name(i.category), i.registry, i.allow,
                       i.reason, i.tag_target));
}

void DecisionLog::write(const Decision &d, const LogContext &c) {
    if (!logger_) return;
    bool logged_denial = false;
    for (const auto &i : d.images) {
        write_image(i, c);
        if (!i.allow) logged_denial = true;
    }
    // A denial that no image line explains (hardening, protocol, sign-in, no policy).
    if (d.policy_denied && !logged_denial)
        logger_->info(line(c, action_name(d.action), "", "none", "", false, d.message, false));
}

void DecisionLog::flush() {
    if (logger_) logger_->flush();
}

} // namespace imagegate
