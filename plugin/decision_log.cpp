#include "plugin/decision_log.hpp"

#include <boost/json.hpp>
#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>

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

DecisionLog::DecisionLog(const std::string &path, std::size_t max_bytes, int max_files, bool asynchronous) {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    try {
        auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path, max_bytes, static_cast<std::size_t>(max_files));
        // Lines are written by spdlog's worker thread, off the request path; a full queue
        // blocks rather than drops (a decision is never lost).
        if (asynchronous) {
            static std::once_flag pool_once;
            std::call_once(pool_once, [] { spdlog::init_thread_pool(8192, 1); });
            logger_ = std::make_shared<spdlog::async_logger>("decisions", sink, spdlog::thread_pool(),
                                                             spdlog::async_overflow_policy::block);
        } else {
            logger_ = std::make_shared<spdlog::logger>("decisions", sink);
        }
        logger_->set_pattern("%v");
        logger_->set_level(spdlog::level::info);
        logger_->flush_on(spdlog::level::info); // one write(2) per line: no torn lines between writers
    } catch (const std::exception &e) {
        throw std::runtime_error("cannot open the decision log " + path + ": " + e.what());
    }
}

namespace {
// JSON string escaping (RFC 8259) without building a DOM: this runs for every decision.
void append_json_string(std::string &out, std::string_view s) {
    static const char *hex = "0123456789abcdef";
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    out.push_back('"');
}

void field(std::string &out, std::string_view key, std::string_view value) {
    out += out.size() > 1 ? ",\"" : "\"";
    out += key;
    out += "\":";
    append_json_string(out, value);
}

std::string line(const LogContext &c, std::string_view action, std::string_view reference, std::string_view category,
                 std::string_view registry, bool allow, std::string_view reason, bool tag_target) {
    std::string out;
    out.reserve(256 + reason.size() + reference.size());
    out = "{";
    field(out, "time", rfc3339_now());
    field(out, "user", c.user);
    field(out, "action", action);
    field(out, "reference", reference);
    field(out, "category", category);
    field(out, "registry", registry);
    field(out, "decision", allow ? "allow" : "deny");
    field(out, "reason", reason);
    field(out, "organization", c.organization);
    out += ",\"policySerial\":";
    out += c.policy_serial >= 0 ? std::to_string(c.policy_serial) : "null";
    field(out, "mode", c.audit ? "audit" : "enforce");
    field(out, "source", c.source);
    if (!c.endpoint.empty()) field(out, "endpoint", c.endpoint);
    if (tag_target) out += ",\"tagTarget\":true";
    if (!c.digest.empty()) field(out, "digest", c.digest);
    out += "}";
    return out;
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
