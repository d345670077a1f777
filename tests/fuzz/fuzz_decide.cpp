// Fuzzes whole decisions from the Engine API request upwards. The input is the request as
// text lines, which this target wraps into the AuthZReq message dockerd would send (the body
// base64-encoded), so that mutations land in the URI and the JSON body rather than in framing:
//     User
//     METHOD
//     RequestUri
//     Content-Type      ("-": no header)
//     body...           (the rest; Content-Length is set to its size)
// Properties: the message round-trips through parse_authz_request (base64 and JSON strings
// decode to what was encoded); nothing throws; decisions are consistent (decide_harness.hpp).
#include "decide_harness.hpp"
#include "policy/authz_request.hpp"

#include <algorithm>
#include <cstdint>

using namespace imagegate;

namespace {
bool ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    auto parts = fuzz::split_lines(std::string_view(reinterpret_cast<const char *>(data), size), 4);
    const std::string &user = parts[0], &method = parts[1], &uri = parts[2],
                      &content_type = parts[3], &body = parts[4];
    std::string message =
        "{\"User\":" + fuzz::json_quote(user) +
        ",\"UserAuthNMethod\":\"TLS\",\"RequestMethod\":" + fuzz::json_quote(method) +
        ",\"RequestUri\":" + fuzz::json_quote(uri) + ",\"RequestBody\":\"" +
        fuzz::base64_encode(body) + "\",\"RequestHeaders\":{";
    if (content_type != "-")
        message += "\"Content-Type\":" + fuzz::json_quote(content_type) + ",";
    message += "\"Content-Length\":\"" + std::to_string(body.size()) + "\"}}\n";

    auto request = parse_authz_request(message);
    if (method.empty() || uri.empty()) {
        FUZZ_PROPERTY(!request, message);
        return 0;
    }
    FUZZ_PROPERTY(request.ok(), message + "\n  " + (request ? "" : request.error()));
    FUZZ_PROPERTY(request->body == body, message);
    if (ascii(user))
        FUZZ_PROPERTY(request->user == user, message);
    if (ascii(method))
        FUZZ_PROPERTY(request->method == method, message);
    if (ascii(uri))
        FUZZ_PROPERTY(request->uri == uri, message);
    if (content_type != "-" && ascii(content_type)) {
        const std::string *header = request->header("content-type");
        FUZZ_PROPERTY(header && *header == content_type, message);
    }
    fuzz::decide_everywhere(request.value(), method + " " + uri.substr(0, 300));
    return 0;
}
