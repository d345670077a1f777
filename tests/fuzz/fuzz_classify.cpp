// Fuzzes classify_request (policy/classify.cpp) with the RequestUri, method, headers and body
// of an AuthZ request. Input, as text lines:
//     METHOD
//     RequestUri
//     Content-Type      ("-": no header)
//     Content-Length    ("-": no header)
//     body...           (the rest, raw bytes)
// Properties: it never throws; and what must not change the answer does not change it —
//  - a /v1.NN version prefix,
//  - percent-encoding one more path character,
//  - reordering the query parameters, or repeating one of them with the same value
// each give the same classification (same action, images, container settings) whenever the
// original was classified, and repeating a parameter with a different value is never
// silently accepted with the first value only.
#include "fuzz_support.hpp"
#include "policy/classify.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace imagegate;

namespace {

std::string describe(const Result<ClassifiedRequest> &c) {
    if (!c)
        return "error: " + c.error();
    std::string out = std::string(action_name(c->action)) + " " + c->endpoint + " [";
    // Sorted: the order of repeated parameters (build tags "t", "names") is no part of the answer.
    std::vector<std::string> images;
    for (const auto &use : c->images)
        images.push_back(std::to_string(static_cast<int>(use.need)) + ":" + use.reference);
    std::sort(images.begin(), images.end());
    for (const auto &image : images)
        out += image + " ";
    out += "]";
    if (c->container) {
        const ContainerSettings &s = *c->container;
        out += " container{mounts=" + std::to_string(s.mounts.size()) +
               " volumes=" + std::to_string(s.named_volumes.size()) +
               " priv=" + std::to_string(s.privileged) +
               " ns=" + std::to_string(s.host_namespaces.size()) +
               " net=" + std::to_string(s.host_network) +
               " caps=" + std::to_string(s.cap_add.size()) +
               " dev=" + std::to_string(s.devices.size()) +
               " sec=" + std::to_string(s.security_options.size()) +
               " sysctl=" + std::to_string(s.sysctls.size()) + " user=" + (s.user ? *s.user : "-") +
               "}";
    }
    out += " special=" + std::to_string(static_cast<int>(c->special)) +
           " plugin=" + c->plugin_name + " install=" + std::to_string(c->plugin_install);
    return out;
}

// Same answer, the endpoint text aside (it shows the path as given).
std::string answer(const Result<ClassifiedRequest> &c) {
    if (!c)
        return "error";
    std::string d = describe(c);
    auto endpoint_end = d.find(" [");
    return std::string(action_name(c->action)) + d.substr(endpoint_end);
}

Result<ClassifiedRequest> classify_with_uri(AuthzRequest request, std::string uri) {
    request.uri = std::move(uri);
    return classify_request(request);
}

// The parameter's name as dockerd reads it (percent-decoded, '+' is a space).
std::string parameter_name(std::string_view pair) {
    std::string_view raw = pair.substr(0, pair.find('='));
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '%' && i + 2 < raw.size()) {
            out += static_cast<char>(
                std::strtol(std::string(raw.substr(i + 1, 2)).c_str(), nullptr, 16));
            i += 2;
        } else {
            out += raw[i] == '+' ? ' ' : raw[i];
        }
    }
    return out;
}

bool unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    auto parts = fuzz::split_lines(std::string_view(reinterpret_cast<const char *>(data), size), 4);
    AuthzRequest request;
    request.method = parts[0];
    request.uri = parts[1];
    if (parts[2] != "-")
        request.headers["content-type"] = parts[2];
    if (parts[3] != "-")
        request.headers["content-length"] = parts[3];
    request.body = parts[4];

    auto original = classify_request(request);
    std::string seen = answer(original);
    if (!original)
        return 0;
    const std::string &uri = request.uri;
    // Only origin-form URIs with no version prefix and no fragment are varied.
    if (uri.empty() || uri[0] != '/' || uri.starts_with("/v") || uri.find('#') != std::string::npos)
        return 0;

    // 1. A version prefix.
    // A raw URI that ends in "/auth" is refused whatever else it says (CVE-2024-41110: dockerd
    // withholds the body), so variants that end in "/auth" are other requests: not compared.
    if (uri.ends_with("/auth"))
        return 0;
    auto versioned = classify_with_uri(request, "/v1.41" + uri);
    FUZZ_PROPERTY(answer(versioned) == seen,
                  uri + "\n  " + describe(original) + "\n  " + describe(versioned));

    auto qmark = uri.find('?');
    std::string path = uri.substr(0, qmark);
    std::string query = qmark == std::string::npos ? "" : uri.substr(qmark + 1);

    // 2. Percent-encoding one unreserved path character (the input's own byte picks which).
    if (path.size() > 1) {
        std::size_t at = 1 + (size % (path.size() - 1));
        bool inside_escape = path[at - 1] == '%' || (at >= 2 && path[at - 2] == '%');
        if (unreserved(path[at]) && !inside_escape &&
            !(path.size() - at <= 4 && path.ends_with("auth"))) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(path[at]));
            std::string encoded = path.substr(0, at) + hex + path.substr(at + 1);
            auto variant = classify_with_uri(
                request, encoded + (qmark == std::string::npos ? "" : uri.substr(qmark)));
            FUZZ_PROPERTY(answer(variant) == seen, uri + " vs " + encoded + "\n  " +
                                                       describe(original) + "\n  " +
                                                       describe(variant));
        }
    }
    if (query.empty() || uri.ends_with("/auth"))
        return 0;

    // 3. The query parameters reversed, and the first one repeated at the end.
    std::vector<std::string> params;
    for (std::size_t start = 0;;) {
        auto amp = query.find('&', start);
        params.push_back(
            query.substr(start, amp == std::string::npos ? std::string::npos : amp - start));
        if (amp == std::string::npos)
            break;
        start = amp + 1;
    }
    std::string reversed, repeated = query + "&" + params.front();
    for (auto it = params.rbegin(); it != params.rend(); ++it)
        reversed += (reversed.empty() ? "" : "&") + *it;
    auto variant = classify_with_uri(request, path + "?" + reversed);
    if (!reversed.ends_with("/auth"))
        FUZZ_PROPERTY(answer(variant) == seen, uri + " vs ?" + reversed + "\n  " +
                                                   describe(original) + "\n  " + describe(variant));
    // Every value of "t" (build tags) and "names" is used: repeating one adds an image.
    std::string first_name = parameter_name(params.front());
    bool multi_valued = first_name == "t" || first_name == "names";
    if (!multi_valued && !params.front().empty() && !repeated.ends_with("/auth")) {
        auto variant = classify_with_uri(request, path + "?" + repeated);
        FUZZ_PROPERTY(answer(variant) == seen, uri + " vs ?" + repeated + "\n  " +
                                                   describe(original) + "\n  " + describe(variant));
    }

    // 4. The first parameter repeated with another value: either refused, or the parameter
    //    was not one the answer depends on (the answer is unchanged).
    auto eq = params.front().find('=');
    if (eq != std::string::npos && !multi_valued) {
        std::string other = params.front().substr(0, eq + 1) + "docker.io%2Fsomeone%2Fother";
        auto variant = classify_with_uri(request, path + "?" + query + "&" + other);
        FUZZ_PROPERTY(!variant || answer(variant) == seen, uri + " + " + other + "\n  " +
                                                               describe(original) + "\n  " +
                                                               describe(variant));
    }
    return 0;
}
