#include "decision_log/line.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace imagegate {

namespace {
// JSON string escaping (RFC 8259) without building a DOM: this runs for every decision. Runs of
// characters that need no escape are appended whole.
void append_json_string(std::string &out, std::string_view s) {
    static const char *hex = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0; // start of the pending run of plain characters
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
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
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    out.append(s.data() + run, s.size() - run);
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
                          std::string_view reason, bool tag_target, std::string_view cause) {
    std::string out;
    out.reserve(256 + reason.size() + reference.size());
    out += "{\"time\":\"";
    append_rfc3339_now(out); // no character of it needs escaping
    out += '"';
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
    field(out, "cause", cause);
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
    if (i.trust_rule.empty())
        return decision_line(c, action_name(i.action), i.normalized, category_name(i.category),
                             i.registry, i.allow, i.reason, i.tag_target,
                             cause_name(i.allow ? Cause::None : i.cause));
    // Trust (docs/trust.md): the rule, the key and the digest; a rule in audit mode logs its
    // would-be denial as one, in audit mode.
    LogContext context = c;
    bool audit = i.allow && i.trust_audit;
    if (audit)
        context.audit = true;
    if (context.digest.empty())
        context.digest = i.digest;
    std::string line = decision_line(context, action_name(i.action), i.normalized,
                                     category_name(i.category), i.registry, i.allow && !audit,
                                     audit ? i.trust_denial : i.reason, i.tag_target,
                                     cause_name(audit     ? Cause::Trust
                                                : i.allow ? Cause::None
                                                          : i.cause));
    line.pop_back(); // the closing brace
    field(line, "trustRule", i.trust_rule);
    if (!i.key_id.empty())
        field(line, "keyId", i.key_id);
    line += '}';
    return line;
}

std::string rotated_log_name(const std::string &path, int index) {
    if (index == 0)
        return path;
    std::string base = path, ext;
    auto dot = path.rfind('.');
    auto slash = path.find_last_of('/');
    if (dot != std::string::npos && dot != 0 && dot != path.size() - 1 &&
        (slash == std::string::npos || slash < dot - 1)) {
        base = path.substr(0, dot);
        ext = path.substr(dot);
    }
    return base + "." + std::to_string(index) + ext;
}

} // namespace imagegate
