// hammer: load and fault generator for the plugin socket (issue 8, tests/e2e/load_test.sh).
// It talks to imagegate as dockerd does (HTTP/1.1 keep-alive over a Unix socket, POST
// /AuthZPlugin.AuthZReq and .AuthZRes with JSON bodies) and plays the misbehaving clients.
//
//   hammer load  --socket S [--clients 32] [--seconds 60] [--label L]
//       well-behaved clients, one keep-alive connection each, sending a mix of AuthZReq and
//       AuthZRes messages whose decisions under the shipped default policy are known; counts
//       transport errors and wrong decisions, prints throughput and latency percentiles.
//   hammer idle  --socket S [--connections 200] [--seconds 60]
//       opens connections and never sends a byte.
//   hammer slow  --socket S [--connections 8] [--seconds 60]
//       sends a valid request one byte a second on each connection (reconnecting when closed).
//   hammer big   --socket S [--bytes 104857600] [--seconds 60] [--chunked]
//       sends requests with a huge body as fast as the socket takes it, again and again.
//   hammer once  --socket S --body-file F [--path /AuthZPlugin.AuthZReq]
//       sends one message and prints the status, the time it took and the reply.
//
// Every mode prints one result line `hammer MODE: key=value ...`; `load` exits 1 if any
// request failed or was decided wrongly.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string mode, socket, label, body_file, path = "/AuthZPlugin.AuthZReq";
    int clients = 32, connections = -1;
    double seconds = 60;
    long long bytes = 100LL * 1024 * 1024;
    bool chunked = false;
};

[[noreturn]] void usage(const std::string &why) {
    std::cerr << "hammer: " << why
              << "\nusage: hammer load|idle|slow|big|once --socket PATH [options] (see the source "
                 "header)\n";
    std::exit(2);
}

int connect_unix(const std::string &path, int timeout_seconds = 30) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    timeval tv{timeout_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string http_request(std::string_view path, std::string_view body) {
    // What dockerd's plugin client sends (pkg/plugins/client.go): no Content-Type.
    return "POST " + std::string(path) +
           " HTTP/1.1\r\nHost: plugin.moby.localhost\r\nUser-Agent: Go-http-client/1.1\r\n"
           "Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nAccept-Encoding: gzip\r\n\r\n" + std::string(body);
}

struct Reply {
    int status = 0;
    std::string body;
    bool keep_alive = true;
};

// Reads one HTTP/1.1 response with a Content-Length (what imagegate sends). nullopt: the
// connection failed, timed out or closed before a whole response.
std::optional<Reply> read_reply(int fd, std::string &buffer) {
    std::size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        char chunk[8192];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return std::nullopt;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
    Reply reply;
    std::string head = buffer.substr(0, header_end);
    if (head.size() < 12 || !head.starts_with("HTTP/1.1 "))
        return std::nullopt;
    reply.status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto cl = lower.find("\r\ncontent-length:");
    if (cl == std::string::npos)
        return std::nullopt;
    std::size_t length = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
    reply.keep_alive = lower.find("\r\nconnection: close") == std::string::npos;
    std::size_t need = header_end + 4 + length;
    while (buffer.size() < need) {
        char chunk[8192];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return std::nullopt;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
    reply.body = buffer.substr(header_end + 4, length);
    buffer.erase(0, need);
    return reply;
}

std::string base64(std::string_view in) {
    static const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        unsigned n =
            (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += {a[n >> 18 & 63], a[n >> 12 & 63], a[n >> 6 & 63], a[n & 63]};
    }
    if (std::size_t r = in.size() - i) {
        unsigned n = (unsigned char)in[i] << 16 | (r == 2 ? (unsigned char)in[i + 1] << 8 : 0);
        out += {a[n >> 18 & 63], a[n >> 12 & 63], r == 2 ? a[n >> 6 & 63] : '=', '='};
    }
    return out;
}

struct Message {
    std::string name;
    std::string path; // /AuthZPlugin.AuthZReq or .AuthZRes
    std::string body;
    bool expect_allow;
};

std::string authz(std::string_view method, std::string_view uri, std::string_view body = {},
                  std::string_view user = {}) {
    std::string out = "{";
    if (!user.empty())
        out += "\"User\":\"" + std::string(user) + "\",\"UserAuthNMethod\":\"TLS\",";
    out += "\"RequestMethod\":\"" + std::string(method) + "\",\"RequestUri\":\"" +
           std::string(uri) + "\"";
    if (!body.empty())
        out += ",\"RequestBody\":\"" + base64(body) +
               "\",\"RequestHeaders\":{\"Content-Type\":\"application/json\","
               "\"Content-Length\":\"" +
               std::to_string(body.size()) +
               "\",\"User-Agent\":\"Docker-Client/20.10.24 (linux)\"}";
    else
        out += ",\"RequestHeaders\":{\"User-Agent\":\"Docker-Client/20.10.24 (linux)\"}";
    return out + "}\n";
}

// The mix: what a busy host asks, with the answers of the shipped default policy.
std::vector<Message> message_mix() {
    const std::string create =
        R"({"Hostname":"","User":"","Env":["PATH=/usr/bin:/bin","A=1"],"Cmd":["sh","-c","true"],)"
        R"("Image":"alpine:3.19","Labels":{"app":"x"},"HostConfig":{"Binds":["/srv/data:/data:ro"],)"
        R"("NetworkMode":"default","RestartPolicy":{"Name":"no"},"Mounts":[{"Type":"volume","Target":"/v"}]}})";
    std::string big_env = R"({"Image":"bitnami/redis","Env":[)";
    for (int i = 0; i < 1500; ++i)
        big_env += std::string(i ? "," : "") + "\"VARIABLE_" + std::to_string(i) +
                   "=some value of some length\"";
    big_env += "]}";
    std::string response_body(4700, 'x');
    std::string res = "{\"RequestMethod\":\"GET\",\"RequestUri\":\"/v1.41/containers/"
                      "json\",\"RequestHeaders\":{},"
                      "\"ResponseStatusCode\":200,\"ResponseBody\":\"" +
                      base64(response_body) +
                      "\",\"ResponseHeaders\":{\"Content-Type\":\"application/json\"}}\n";
    const std::string req = "/AuthZPlugin.AuthZReq";
    return {
        {"ping", req, authz("GET", "/_ping"), true},
        {"ps", req, authz("GET", "/v1.41/containers/json?all=1"), true},
        {"pull-official", req, authz("POST", "/v1.41/images/create?fromImage=alpine&tag=3.19"),
         true},
        {"pull-verified", req,
         authz("POST", "/v1.43/images/create?fromImage=docker.io%2Fbitnami%2Fredis&tag=latest"),
         true},
        {"pull-community", req,
         authz("POST", "/v1.41/images/create?fromImage=someone%2Ftool&tag=latest"), false},
        {"create", req, authz("POST", "/v1.41/containers/create?name=web", create), true},
        {"create-64k", req, authz("POST", "/v1.41/containers/create", big_env), true},
        {"user-without-grant", req,
         authz("POST", "/v1.41/images/create?fromImage=alpine&tag=3.19", {}, "mallory"), false},
        {"create-privileged", req,
         authz("POST", "/v1.41/containers/create",
               R"({"Image":"alpine","HostConfig":{"Privileged":true}})"),
         false},
        {"create-docker-sock", req,
         authz("POST", "/containers/create",
               R"({"Image":"alpine","HostConfig":{"Binds":["/var/run/docker.sock:/s"]}})"),
         false},
        {"run-community", req,
         authz("POST", "/v1.41/containers/create", R"({"Image":"someone/tool"})"), false},
        {"push", req, authz("POST", "/v1.41/images/acme%2Fapp/push?tag=1"), true},
        {"garbage", req, "{\"RequestMethod\":", false},
        {"response", "/AuthZPlugin.AuthZRes", res, true},
        {"response-small", "/AuthZPlugin.AuthZRes", authz("GET", "/_ping"), true},
    };
}

struct Stats {
    long long requests = 0, errors = 0, wrong = 0, reconnects = 0;
    std::vector<double> latencies_ms;
    std::vector<std::string> samples; // first few problems, for the log
};

void run_load(const Options &o) {
    auto mix = message_mix();
    std::vector<Stats> stats(static_cast<std::size_t>(o.clients));
    std::atomic<bool> stop{false};
    auto deadline = Clock::now() + std::chrono::duration<double>(o.seconds);
    std::vector<std::thread> threads;
    for (int c = 0; c < o.clients; ++c) {
        threads.emplace_back([&, c] {
            Stats &s = stats[static_cast<std::size_t>(c)];
            int fd = -1;
            std::string buffer;
            std::size_t next = static_cast<std::size_t>(c);
            while (Clock::now() < deadline && !stop) {
                const Message &m = mix[next++ % mix.size()];
                if (fd < 0) {
                    fd = connect_unix(o.socket);
                    buffer.clear();
                    ++s.reconnects;
                    if (fd < 0) {
                        ++s.errors;
                        if (s.samples.size() < 5)
                            s.samples.push_back("connect: " + std::string(std::strerror(errno)));
                        std::this_thread::sleep_for(std::chrono::milliseconds(50));
                        continue;
                    }
                }
                auto start = Clock::now();
                std::optional<Reply> reply;
                if (send_all(fd, http_request(m.path, m.body)))
                    reply = read_reply(fd, buffer);
                double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
                ++s.requests;
                if (!reply || reply->status != 200) {
                    ++s.errors;
                    if (s.samples.size() < 5)
                        s.samples.push_back(
                            m.name + ": " +
                            (reply ? "HTTP " + std::to_string(reply->status) + " " + reply->body
                                   : "no reply (" + std::string(std::strerror(errno)) + ")"));
                    ::close(fd);
                    fd = -1;
                    continue;
                }
                s.latencies_ms.push_back(ms);
                bool allowed = reply->body.find("\"Allow\":true") != std::string::npos;
                bool denied = reply->body.find("\"Allow\":false") != std::string::npos;
                if (allowed == denied || allowed != m.expect_allow) {
                    ++s.wrong;
                    if (s.samples.size() < 5)
                        s.samples.push_back(m.name + ": unexpected reply " +
                                            reply->body.substr(0, 300));
                }
                if (!reply->keep_alive) {
                    ::close(fd);
                    fd = -1;
                }
            }
            if (fd >= 0)
                ::close(fd);
        });
    }
    for (auto &t : threads)
        t.join();
    Stats total;
    for (auto &s : stats) {
        total.requests += s.requests;
        total.errors += s.errors;
        total.wrong += s.wrong;
        total.reconnects += s.reconnects - 1;
        total.latencies_ms.insert(total.latencies_ms.end(), s.latencies_ms.begin(),
                                  s.latencies_ms.end());
        for (auto &x : s.samples)
            if (total.samples.size() < 10)
                total.samples.push_back(x);
    }
    std::sort(total.latencies_ms.begin(), total.latencies_ms.end());
    auto pct = [&](double p) {
        if (total.latencies_ms.empty())
            return 0.0;
        std::size_t i = std::min(total.latencies_ms.size() - 1,
                                 static_cast<std::size_t>(p / 100.0 * total.latencies_ms.size()));
        return total.latencies_ms[i];
    };
    for (auto &x : total.samples)
        std::cout << "  problem: " << x << "\n";
    std::printf("hammer load%s%s: clients=%d seconds=%.0f requests=%lld rps=%.0f errors=%lld "
                "wrong=%lld reconnects=%lld "
                "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
                o.label.empty() ? "" : " ", o.label.c_str(), o.clients, o.seconds, total.requests,
                static_cast<double>(total.requests) / o.seconds, total.errors, total.wrong,
                total.reconnects, pct(50), pct(90), pct(99), pct(99.9),
                total.latencies_ms.empty() ? 0.0 : total.latencies_ms.back());
    std::fflush(stdout);
    std::exit(total.errors == 0 && total.wrong == 0 && total.requests > 0 ? 0 : 1);
}

// Connections that never send: held open until the server closes them or time is up.
void run_idle(const Options &o) {
    int n = o.connections < 0 ? 200 : o.connections;
    std::vector<int> fds;
    int refused = 0;
    for (int i = 0; i < n; ++i) {
        int fd = connect_unix(o.socket, 1);
        if (fd < 0)
            ++refused;
        else
            fds.push_back(fd);
    }
    auto start = Clock::now();
    auto deadline = start + std::chrono::duration<double>(o.seconds);
    int closed = 0;
    double first_close = -1;
    std::vector<pollfd> polls;
    for (int fd : fds)
        polls.push_back({fd, POLLIN, 0});
    while (Clock::now() < deadline && closed < static_cast<int>(fds.size())) {
        int ready = ::poll(polls.data(), polls.size(), 200);
        if (ready <= 0)
            continue;
        for (auto &p : polls) {
            if (p.fd < 0 || !p.revents)
                continue;
            char c;
            if (::recv(p.fd, &c, 1, MSG_DONTWAIT) <= 0) {
                ++closed;
                if (first_close < 0)
                    first_close = std::chrono::duration<double>(Clock::now() - start).count();
                ::close(p.fd);
                p.fd = -1;
            }
        }
    }
    for (auto &p : polls)
        if (p.fd >= 0)
            ::close(p.fd);
    std::printf("hammer idle: opened=%zu refused=%d closed_by_server=%d first_close_s=%.1f\n",
                fds.size(), refused, closed, first_close);
}

// One byte a second of a valid request on each connection; reconnects when the server gives up.
void run_slow(const Options &o) {
    int n = o.connections < 0 ? 8 : o.connections;
    std::atomic<long long> bytes{0}, closed{0}, replies{0};
    std::mutex mutex;
    std::vector<int> statuses;
    auto deadline = Clock::now() + std::chrono::duration<double>(o.seconds);
    std::vector<std::thread> threads;
    std::string request = http_request("/AuthZPlugin.AuthZReq", authz("GET", "/_ping"));
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&] {
            while (Clock::now() < deadline) {
                int fd = connect_unix(o.socket, 2);
                if (fd < 0) {
                    std::this_thread::sleep_for(std::chrono::seconds(1));
                    continue;
                }
                for (std::size_t at = 0; Clock::now() < deadline; at = (at + 1) % request.size()) {
                    if (!send_all(fd, std::string_view(request).substr(at, 1)))
                        break;
                    ++bytes;
                    pollfd p{fd, POLLIN, 0};
                    if (::poll(&p, 1, 1000) >
                        0) { // the server answered or closed: it gave up on us
                        std::string buffer;
                        if (auto r = read_reply(fd, buffer)) {
                            ++replies;
                            std::lock_guard lock(mutex);
                            statuses.push_back(r->status);
                        }
                        break;
                    }
                }
                ::close(fd);
                ++closed;
            }
        });
    for (auto &t : threads)
        t.join();
    std::sort(statuses.begin(), statuses.end());
    statuses.erase(std::unique(statuses.begin(), statuses.end()), statuses.end());
    std::string codes;
    for (int s : statuses)
        codes += (codes.empty() ? "" : ",") + std::to_string(s);
    std::printf("hammer slow: connections=%d bytes_sent=%lld connections_ended=%lld "
                "server_replies=%lld statuses=%s\n",
                n, bytes.load(), closed.load(), replies.load(),
                codes.empty() ? "-" : codes.c_str());
}

// Huge bodies, sent as fast as the socket takes them.
void run_big(const Options &o) {
    auto deadline = Clock::now() + std::chrono::duration<double>(o.seconds);
    long long attempts = 0, total_sent = 0, replies = 0;
    std::vector<int> statuses;
    double longest = 0;
    std::string chunk(64 * 1024, 'A');
    while (Clock::now() < deadline) {
        int fd = connect_unix(o.socket, 5);
        if (fd < 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        ++attempts;
        auto start = Clock::now();
        std::string head = "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin.moby.localhost\r\n";
        head += o.chunked ? "Transfer-Encoding: chunked\r\n\r\n"
                          : "Content-Length: " + std::to_string(o.bytes) + "\r\n\r\n";
        std::string prefix = "{\"RequestMethod\":\"POST\",\"RequestBody\":\"";
        if (o.chunked) {
            char size[16];
            std::snprintf(size, sizeof size, "%zx\r\n", prefix.size());
            prefix = size + prefix + "\r\n";
        }
        bool ok = send_all(fd, head + prefix);
        long long sent = 0;
        while (ok && sent < o.bytes && Clock::now() < deadline) {
            std::string piece = o.chunked ? "10000\r\n" + chunk + "\r\n" : chunk;
            ok = send_all(fd, piece);
            if (ok)
                sent += static_cast<long long>(chunk.size());
        }
        total_sent += sent;
        std::string buffer;
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (auto r = read_reply(fd, buffer)) {
            ++replies;
            if (std::find(statuses.begin(), statuses.end(), r->status) == statuses.end())
                statuses.push_back(r->status);
        }
        longest = std::max(longest, std::chrono::duration<double>(Clock::now() - start).count());
        ::close(fd);
    }
    std::string codes;
    for (int s : statuses)
        codes += (codes.empty() ? "" : ",") + std::to_string(s);
    std::printf("hammer big: body_bytes=%lld%s attempts=%lld mib_sent=%.1f server_replies=%lld "
                "statuses=%s longest_s=%.2f\n",
                o.bytes, o.chunked ? " (chunked)" : "", attempts,
                static_cast<double>(total_sent) / (1024 * 1024), replies,
                codes.empty() ? "-" : codes.c_str(), longest);
}

void run_once(const Options &o) {
    std::ifstream in(o.body_file, std::ios::binary);
    if (!in)
        usage("cannot read " + o.body_file);
    std::stringstream body;
    body << in.rdbuf();
    int fd = connect_unix(o.socket, 600);
    if (fd < 0)
        usage("cannot connect to " + o.socket);
    auto start = Clock::now();
    std::string buffer;
    std::optional<Reply> reply;
    if (send_all(fd, http_request(o.path, body.str())))
        reply = read_reply(fd, buffer);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ::close(fd);
    std::printf("hammer once%s%s: bytes=%zu status=%d seconds=%.3f reply=%.200s\n",
                o.label.empty() ? "" : " ", o.label.c_str(), body.str().size(),
                reply ? reply->status : 0, seconds, reply ? reply->body.c_str() : "(none)");
    std::exit(reply && reply->status == 200 ? 0 : 1);
}

} // namespace

int main(int argc, char **argv) {
    std::signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        usage("no mode");
    Options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--socket")
            o.socket = value();
        else if (a == "--clients")
            o.clients = std::atoi(value().c_str());
        else if (a == "--connections")
            o.connections = std::atoi(value().c_str());
        else if (a == "--seconds")
            o.seconds = std::atof(value().c_str());
        else if (a == "--bytes")
            o.bytes = std::atoll(value().c_str());
        else if (a == "--chunked")
            o.chunked = true;
        else if (a == "--label")
            o.label = value();
        else if (a == "--body-file")
            o.body_file = value();
        else if (a == "--path")
            o.path = value();
        else
            usage("unknown option " + a);
    }
    if (o.socket.empty())
        usage("--socket is required");
    if (o.mode == "load")
        run_load(o);
    else if (o.mode == "idle")
        run_idle(o);
    else if (o.mode == "slow")
        run_slow(o);
    else if (o.mode == "big")
        run_big(o);
    else if (o.mode == "once")
        run_once(o);
    else
        usage("unknown mode " + o.mode);
    return 0;
}
