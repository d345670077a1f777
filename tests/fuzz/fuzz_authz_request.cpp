// Fuzzes the AuthZReq/AuthZRes message as dockerd sends it (policy/authz_request.cpp: JSON,
// keys folded as Go does, base64 bodies, headers) and decides what parses under several
// policies (decide_harness.hpp). Properties: nothing throws; a parsed request has a method and a
// URI and a body within the limit; decisions are consistent (decide_harness.hpp).
#include "decide_harness.hpp"
#include "policy/authz_request.hpp"

#include <cstdint>

using namespace imagegate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    auto request = parse_authz_request(text);
    if (!request)
        return 0;
    FUZZ_PROPERTY(!request->method.empty() && !request->uri.empty(), text);
    FUZZ_PROPERTY(request->body.size() <= kMaxRequestBodyBytes, text);
    for (const auto &[key, value] : request->headers)
        for (char c : key)
            FUZZ_PROPERTY(!(c >= 'A' && c <= 'Z'), "header key not folded: " + key);
    fuzz::decide_everywhere(request.value(), std::string(text.substr(0, 300)));
    return 0;
}
