// The AuthZ request dockerd sends (docs/authz-protocol.md §1), decoded into a plain value.
#pragma once
#include "common/result.hpp"
#include "policy/policy.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace imagegate {

// dockerd buffers at most 4 MiB of body; base64 and JSON framing make the message larger.
inline constexpr std::size_t kMaxAuthzMessageBytes = 8 * 1024 * 1024;
inline constexpr std::size_t kMaxRequestBodyBytes = 4 * 1024 * 1024;

struct AuthzRequest {
    std::string user;
    std::string user_authn_method;
    std::string method;
    std::string uri;                // raw RequestUri
    std::string body;               // RequestBody, base64-decoded
    StringMap<std::string> headers; // keys lower-cased
    const std::string *header(std::string_view lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? nullptr : &it->second;
    }
};

// Decodes an AuthZReq/AuthZRes message. Keys match case-insensitively, as Go's encoding/json
// does (including its folding of U+017F and U+212A); a key given twice is an error.
Result<AuthzRequest> parse_authz_request(std::string_view json_text);

} // namespace imagegate
