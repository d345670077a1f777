// Sample messages shared by the load client and the micro-benchmarks, shaped like what
// dockerd 20.10 sends (docs/authz-protocol.md §1): Go's json.Encoder field order, omitempty,
// standard padded base64 for bodies, a trailing newline.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace imagegate::bench {

// The image the benchmarks create containers from: an organization namespace of the generated
// 10k policy (bench/generate_policy.py), imported into the benchmark dockerds by bench/run.sh.
inline constexpr std::string_view kBenchImage = "acme-team-04321/bench:latest";

inline std::string base64(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v =
            (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += '=';
    }
    return out;
}

// A `docker create IMAGE /hello` body as the CLI sends it, trimmed of the HostConfig fields
// that are zero, plus a padding label when `pad` > 0.
inline std::string container_create_body(std::string_view image = kBenchImage,
                                         std::size_t pad = 0) {
    std::string body =
        R"({"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,)"
        R"("AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,)"
        R"("Cmd":["/hello"],"Image":")";
    body += image;
    body += R"(","Volumes":{},"WorkingDir":"","Entrypoint":null,"Labels":{)";
    if (pad > 0)
        body += R"("pad":")" + std::string(pad, 'x') + '"';
    body += R"(},"HostConfig":{"Binds":null,"NetworkMode":"default","RestartPolicy":{"Name":"no"},)"
            R"("CapAdd":null,"Privileged":false,"PidMode":"","SecurityOpt":null,"UsernsMode":""},)"
            R"("NetworkingConfig":{"EndpointsConfig":{}}})";
    return body + "\n";
}

inline std::string authz_request(std::string_view method, std::string_view uri,
                                 std::string_view body) {
    std::string m = R"({"RequestMethod":")";
    m += method;
    m += R"(","RequestUri":")";
    m += uri;
    m += '"';
    if (!body.empty()) {
        m += R"(,"RequestBody":")" + base64(body) + '"';
        m +=
            R"(,"RequestHeaders":{"Content-Length":")" + std::to_string(body.size()) +
            R"J(","Content-Type":"application/json","User-Agent":"Docker-Client/20.10.24+dfsg1 (linux)"}})J";
    } else {
        m += R"J(,"RequestHeaders":{"User-Agent":"Docker-Client/20.10.24+dfsg1 (linux)"}})J";
    }
    return m + "\n";
}

// AuthZReq of POST /v1.41/containers/create, padded to about `target` bytes (1 KB by default).
inline std::string authz_create_request(std::size_t target = 1024,
                                        std::string_view image = kBenchImage) {
    std::string m = authz_request("POST", "/v1.41/containers/create", container_create_body(image));
    if (m.size() >= target)
        return m;
    // Each padding byte costs 4/3 bytes of base64; the framing of the label costs 9.
    std::size_t pad = (target - m.size()) * 3 / 4;
    pad = pad > 9 ? pad - 9 : 1;
    return authz_request("POST", "/v1.41/containers/create", container_create_body(image, pad));
}

// AuthZReq of GET /_ping: the smallest message dockerd sends (the baseline's 153-byte case).
inline std::string authz_ping_request() {
    return authz_request("GET", "/_ping", {});
}

// AuthZRes of GET /v1.41/containers/json?all=1, about `target` bytes (4.7 KB by default).
inline std::string authz_response(std::size_t target = 4700) {
    auto message = [](std::string_view json) {
        std::string m =
            R"({"RequestMethod":"GET","RequestUri":"/v1.41/containers/json?all=1",)"
            R"J("RequestHeaders":{"User-Agent":"Docker-Client/20.10.24+dfsg1 (linux)"},)J"
            R"("ResponseStatusCode":200,"ResponseBody":")";
        m += base64(json);
        m +=
            R"(","ResponseHeaders":{"Api-Version":"1.41","Content-Type":"application/json",)"
            R"J("Docker-Experimental":"false","Ostype":"linux","Server":"Docker/20.10.24+dfsg1 (linux)"}})J";
        return m + "\n";
    };
    auto container = [](int i) {
        std::string id(64, "0123456789abcdef"[i % 16]);
        return R"({"Id":")" + id + R"(","Names":["/bench-)" + std::to_string(i) +
               R"("],"Image":")" + std::string(kBenchImage) +
               R"(","Command":"/hello","Created":1764000000,"Ports":[],)"
               R"("Labels":{},"State":"created","Status":"Created","HostConfig":{"NetworkMode":"none"}})";
    };
    std::string json = "[";
    for (int i = 0;; ++i) {
        std::string next = json + (i ? "," : "") + container(i);
        if (message(next + "]\n").size() > target)
            break;
        json = std::move(next);
    }
    json += "]\n";
    return message(json);
}

} // namespace imagegate::bench
