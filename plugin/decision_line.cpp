#include "plugin/decision_line.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace imagegate {

std::string rfc3339_now() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
    return out;
}

namespace {
// JSON string escaping (RFC 8259) without building a DOM: this runs for every decision.
void append_json_string(std::string &out, std::string_view s) {
    static const char *hex = "0123456789abcdef";
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
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

} // namespace

std::string decision_line(const LogContext &c, std::string_view action, std::string_view reference,
                          std::string_view category, std::string_view registry, bool allow,
                          std::string_view reason, bool tag_target) {
    std::string out;
    out.reserve(256 + reason.size() + reference.size());
    out.push_back('{');
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
    if (!c.endpoint.empty())
        field(out, "endpoint", c.endpoint);
    if (tag_target)
        out += ",\"tagTarget\":true";
    if (!c.digest.empty())
        field(out, "digest", c.digest);
    out += "}";
    return out;
}

std::string image_decision_line(const ImageDecision &i, const LogContext &c) {
    return decision_line(c, action_name(i.action), i.normalized, category_name(i.category),
                         i.registry, i.allow, i.reason, i.tag_target);
}

} // namespace imagegate
