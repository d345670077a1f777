#include "policy/authz_request.hpp"

#include "policy/go_json.hpp"

#include <boost/json.hpp>

namespace imagegate {
namespace json = boost::json;

namespace {
Result<std::string> string_field(const json::object &o, std::string_view name) {
    auto field = go_field(o, name);
    if (!field)
        return Error{field.error()};
    const json::value *v = field.value();
    if (!v || v->is_null())
        return std::string();
    if (!v->is_string())
        return Error{"AuthZ request field " + std::string(name) + " is not a string"};
    return std::string(v->as_string());
}
} // namespace

Result<AuthzRequest> parse_authz_request(std::string_view json_text) {
    if (json_text.size() > kMaxAuthzMessageBytes)
        return Error{"AuthZ request larger than the limit"};
    unsigned char stack_buffer[16384];
    json::monotonic_resource resource(stack_buffer, sizeof stack_buffer);
    json::parse_options options;
    options.max_depth = 8;
    std::error_code ec;
    json::value root = json::parse(json_text, ec, &resource, options);
    if (ec)
        return Error{"AuthZ request is not valid JSON: " + ec.message()};
    if (!root.is_object())
        return Error{"AuthZ request is not a JSON object"};
    const json::object &o = root.as_object();

    AuthzRequest request;
    struct Field {
        std::string_view name;
        std::string *out;
    } fields[] = {{"user", &request.user},
                  {"userauthnmethod", &request.user_authn_method},
                  {"requestmethod", &request.method},
                  {"requesturi", &request.uri}};
    for (auto &f : fields) {
        auto v = string_field(o, f.name);
        if (!v)
            return Error{v.error()};
        *f.out = std::move(v).value();
    }
    auto body = string_field(o, "requestbody");
    if (!body)
        return Error{body.error()};
    if (!body->empty()) {
        auto decoded = base64_decode(body.value());
        if (!decoded)
            return Error{"AuthZ request body: " + decoded.error()};
        if (decoded->size() > kMaxRequestBodyBytes)
            return Error{"request body larger than 4 MiB"};
        request.body = std::move(decoded).value();
    }
    auto headers = go_field(o, "requestheaders");
    if (!headers)
        return Error{headers.error()};
    if (const json::value *h = headers.value(); h && !h->is_null()) {
        if (!h->is_object())
            return Error{"AuthZ request headers are not an object"};
        for (const auto &kv : h->as_object()) {
            if (!kv.value().is_string())
                return Error{"AuthZ request header " + std::string(kv.key()) + " is not a string"};
            std::string key = go_fold(kv.key()); // HTTP header names are case-insensitive
            if (request.headers.contains(key))
                return Error{"AuthZ request header " + key + " is given twice"};
            request.headers.emplace(std::move(key), std::string(kv.value().as_string()));
        }
    }
    if (request.method.empty())
        return Error{"AuthZ request has no RequestMethod"};
    if (request.uri.empty())
        return Error{"AuthZ request has no RequestUri"};
    return request;
}

} // namespace imagegate
