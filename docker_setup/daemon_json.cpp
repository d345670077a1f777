// daemon.json as install-docker edits it: parsed as dockerd reads it, the authorization-plugins
// list changed, written back two-space indented with every other key in its order.
#include "docker_setup/install_docker.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <string>

namespace imagegate {

namespace json = boost::json;

namespace {

// ---- daemon.json text ----------------------------------------------------------------------

std::string line_and_column(std::string_view text, std::size_t offset) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

bool is_blank(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

Result<json::object> parse_daemon_json(std::string_view text, std::string_view file) {
    // dockerd treats an empty daemon.json as no configuration (daemon/config/config.go).
    if (is_blank(text))
        return json::object{};
    json::parse_options options;
    options.max_depth = kMaxDaemonJsonDepth;
    json::stream_parser parser({}, options);
    boost::system::error_code ec;
    std::size_t consumed = parser.write(text.data(), text.size(), ec);
    if (!ec)
        parser.finish(ec);
    if (ec) {
        return Error{std::string(file) + ": not valid JSON (" + ec.message() + " at " +
                     line_and_column(text, consumed) + "); not changed"};
    }
    json::value value = parser.release();
    if (!value.is_object()) {
        return Error{std::string(file) + ": not a JSON object (dockerd's daemon.json is one " +
                     "object of settings); not changed"};
    }
    return std::move(value.as_object());
}

void append_indent(std::string &out, int depth) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

// Two-space indentation, as Docker's documentation writes daemon.json.
void append_pretty(std::string &out, const json::value &value, int depth) {
    if (value.is_object() && !value.as_object().empty()) {
        out += "{\n";
        bool first = true;
        for (const auto &member : value.as_object()) {
            if (!first)
                out += ",\n";
            first = false;
            append_indent(out, depth + 1);
            out += json::serialize(json::string_view(member.key()));
            out += ": ";
            append_pretty(out, member.value(), depth + 1);
        }
        out += "\n";
        append_indent(out, depth);
        out += "}";
    } else if (value.is_array() && !value.as_array().empty()) {
        out += "[\n";
        bool first = true;
        for (const auto &element : value.as_array()) {
            if (!first)
                out += ",\n";
            first = false;
            append_indent(out, depth + 1);
            append_pretty(out, element, depth + 1);
        }
        out += "\n";
        append_indent(out, depth);
        out += "]";
    } else {
        out += json::serialize(value);
    }
}

std::string pretty(const json::object &object) {
    std::string out;
    append_pretty(out, json::value(object), 0);
    out += "\n";
    return out;
}

// The list, or null when absent; an error when it is there but not a list of strings.
Result<json::array *> plugin_list(json::object &object, std::string_view file) {
    auto it = object.find(kAuthorizationPluginsKey);
    if (it == object.end())
        return static_cast<json::array *>(nullptr);
    auto *list = it->value().if_array();
    bool strings = list && std::all_of(list->begin(), list->end(),
                                       [](const json::value &v) { return v.is_string(); });
    if (!strings) {
        return Error{std::string(file) + ": \"" + std::string(kAuthorizationPluginsKey) +
                     "\" is not a list of plugin names; not changed"};
    }
    return list;
}

} // namespace

Result<DaemonJsonEdit> add_authorization_plugin(std::string_view text, std::string_view name,
                                                std::string_view file) {
    auto object = parse_daemon_json(text, file);
    if (!object)
        return Error{object.error()};
    auto list = plugin_list(object.value(), file);
    if (!list)
        return Error{list.error()};
    DaemonJsonEdit edit;
    if (*list == nullptr) {
        object.value()[kAuthorizationPluginsKey] = json::array{json::string(name)};
        edit.changed = true;
    } else if (std::none_of((*list)->begin(), (*list)->end(),
                            [&](const json::value &v) { return v.as_string() == name; })) {
        (*list)->emplace_back(json::string(name));
        edit.changed = true;
    }
    edit.text = pretty(object.value());
    return edit;
}

Result<DaemonJsonEdit> remove_authorization_plugin(std::string_view text, std::string_view name,
                                                   std::string_view file) {
    auto object = parse_daemon_json(text, file);
    if (!object)
        return Error{object.error()};
    auto list = plugin_list(object.value(), file);
    if (!list)
        return Error{list.error()};
    DaemonJsonEdit edit;
    if (*list != nullptr) {
        json::array &plugins = **list;
        std::size_t before = plugins.size();
        json::array kept;
        for (const auto &plugin : plugins) {
            if (plugin.as_string() != name)
                kept.push_back(plugin);
        }
        edit.changed = kept.size() != before;
        if (kept.empty()) {
            object.value().erase(kAuthorizationPluginsKey);
        } else {
            plugins = std::move(kept);
        }
    }
    edit.text = pretty(object.value());
    return edit;
}

} // namespace imagegate

namespace imagegate {

Result<DaemonJsonEdit> set_gateway_proxies(std::string_view text, std::string_view proxy_url,
                                           std::string_view file) {
    auto parsed = parse_daemon_json(text, file);
    if (!parsed)
        return Error{parsed.error()};
    json::object o = std::move(parsed).value();
    json::object *object = &o;
    json::object proxies{{"http-proxy", proxy_url}, {"https-proxy", proxy_url}, {"no-proxy", ""}};
    DaemonJsonEdit edit;
    auto it = object->find(kProxiesKey);
    if (it != object->end() && !it->value().is_object())
        return Error{std::string(file) + ": \"proxies\" is not an object; not changed"};
    if (it == object->end() || it->value().as_object() != proxies) {
        (*object)[kProxiesKey] = proxies;
        edit.changed = true;
    }
    edit.text = pretty(o);
    return edit;
}

Result<DaemonJsonEdit> remove_gateway_proxies(std::string_view text, std::string_view proxy_url,
                                              std::string_view file) {
    auto parsed = parse_daemon_json(text, file);
    if (!parsed)
        return Error{parsed.error()};
    json::object o = std::move(parsed).value();
    json::object *object = &o;
    DaemonJsonEdit edit;
    auto it = object->find(kProxiesKey);
    if (it != object->end() && it->value().is_object()) {
        const json::object &p = it->value().as_object();
        auto is = [&](std::string_view key, std::string_view want) {
            auto v = p.find(key);
            return v != p.end() && v->value().is_string() && v->value().as_string() == want;
        };
        if (is("http-proxy", proxy_url) && is("https-proxy", proxy_url)) {
            object->erase(kProxiesKey);
            edit.changed = true;
        }
    }
    edit.text = pretty(o);
    return edit;
}

} // namespace imagegate
