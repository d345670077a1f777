// A load client for Unix-socket HTTP/1.1 servers: the plugin socket (as dockerd's plugin
// client talks to it) or dockerd's own API socket (as the docker CLI does). One thread and one
// keep-alive connection per client, one request in flight per connection; reports latency
// percentiles and throughput. Part of `make bench` (bench/run.sh, issue 7).
#include "samples.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <csignal>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

const char *kUsage = R"(usage: loadclient --socket PATH [options]

Request
  --method M            HTTP method (default GET, or POST when a body is given)
  --path P              request target (default /_ping)
  --body-file F         request body from a file
  --body TEXT           request body as given
  --sample NAME         built-in request; sets method, path and body:
                          authzreq-create  1 KB AuthZReq of POST /containers/create (--size N to change)
                          authzreq-ping    AuthZReq of GET /_ping (~150 bytes)
                          authzres         4.7 KB AuthZRes of GET /containers/json (--size N)
                          activate         POST /Plugin.Activate
                          create-body      POST /containers/create with the bench image (dockerd)
  --size N              target size of the sized samples, bytes
  --image REF           image of the containers/create samples (default acme-team-04321/bench:latest)
  --content-type T      Content-Type header (default application/json when a body is sent to
                          dockerd; none for plugin messages, as dockerd sends none)
  --host H              Host header (default plugin.moby.localhost for /Plugin.* and
                          /AuthZPlugin.*, else docker)
  --dump                print the request body and exit

Load
  --connections N       connections, one client thread each (default 1)
  --busy B              only the first B connections send back to back; the others idle
                          between calls (--gap, default 10-30 ms) [needs --duration]
  --threads T           client threads (default: one per connection); a thread with several
                          connections drives them with epoll
  --requests N          measured requests in total (default 1000)
  --duration S          measure for S seconds instead
  --warmup N            unmeasured requests per connection first (default 20)
  --gap MIN-MAX         idle gap between calls per connection, milliseconds (e.g. 10-30)
  --expect-status C     count other statuses as errors (default: any 2xx)
  --expect-substr S     count responses whose body lacks S as errors

Output
  --label TEXT          prefix of the result line
  --format F            text (default), kv (key=value line) or json
  --raw FILE            also write every measured latency (us, one a line) to FILE
  --wait S              first wait up to S seconds for the socket to accept and answer
)";

struct Options {
    std::string socket;
    std::string method;
    std::string path = "/_ping";
    std::string body;
    bool has_body = false;
    std::optional<std::string> content_type;
    std::string host;
    int connections = 1;
    int busy = -1;
    int threads = 0; // 0: one per connection
    long requests = 1000;
    double duration = 0;
    int warmup = 20;
    double gap_min_ms = 0, gap_max_ms = 0;
    bool gap_given = false;
    int expect_status = 0;
    std::string expect_substr;
    std::string label;
    std::string format = "text";
    std::string raw_file;
    double wait_seconds = 0;
    bool dump = false;
};

[[noreturn]] void usage_error(const std::string &message) {
    std::cerr << "loadclient: " << message << "\n" << kUsage;
    std::exit(2);
}

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        usage_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

Options parse_options(int argc, char **argv) {
    Options o;
    std::string sample, image(imagegate::bench::kBenchImage);
    std::size_t size = 0;
    auto value = [&](int &i) -> std::string {
        if (i + 1 >= argc)
            usage_error(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--socket")
            o.socket = value(i);
        else if (a == "--method")
            o.method = value(i);
        else if (a == "--path")
            o.path = value(i);
        else if (a == "--body-file") {
            o.body = read_file(value(i));
            o.has_body = true;
        } else if (a == "--body") {
            o.body = value(i);
            o.has_body = true;
        } else if (a == "--sample")
            sample = value(i);
        else if (a == "--size")
            size = std::stoul(value(i));
        else if (a == "--image")
            image = value(i);
        else if (a == "--content-type")
            o.content_type = value(i);
        else if (a == "--host")
            o.host = value(i);
        else if (a == "--connections")
            o.connections = std::stoi(value(i));
        else if (a == "--busy")
            o.busy = std::stoi(value(i));
        else if (a == "--threads")
            o.threads = std::stoi(value(i));
        else if (a == "--requests")
            o.requests = std::stol(value(i));
        else if (a == "--duration")
            o.duration = std::stod(value(i));
        else if (a == "--warmup")
            o.warmup = std::stoi(value(i));
        else if (a == "--gap") {
            std::string g = value(i);
            auto dash = g.find('-');
            o.gap_min_ms = std::stod(g.substr(0, dash));
            o.gap_max_ms = dash == std::string::npos ? o.gap_min_ms : std::stod(g.substr(dash + 1));
            if (o.gap_max_ms < o.gap_min_ms)
                usage_error("--gap MIN-MAX with MIN <= MAX");
            o.gap_given = true;
        } else if (a == "--expect-status")
            o.expect_status = std::stoi(value(i));
        else if (a == "--expect-substr")
            o.expect_substr = value(i);
        else if (a == "--label")
            o.label = value(i);
        else if (a == "--format")
            o.format = value(i);
        else if (a == "--raw")
            o.raw_file = value(i);
        else if (a == "--wait")
            o.wait_seconds = std::stod(value(i));
        else if (a == "--dump")
            o.dump = true;
        else if (a == "-h" || a == "--help") {
            std::cout << kUsage;
            std::exit(0);
        } else
            usage_error("unknown option " + a);
    }
    namespace s = imagegate::bench;
    if (!sample.empty()) {
        o.method = "POST";
        o.has_body = true;
        if (sample == "authzreq-create") {
            o.path = "/AuthZPlugin.AuthZReq";
            o.body = s::authz_create_request(size ? size : 1024, image);
        } else if (sample == "authzreq-ping") {
            o.path = "/AuthZPlugin.AuthZReq";
            o.body = s::authz_ping_request();
        } else if (sample == "authzres") {
            o.path = "/AuthZPlugin.AuthZRes";
            o.body = s::authz_response(size ? size : 4700);
        } else if (sample == "activate") {
            o.path = "/Plugin.Activate";
            o.body.clear();
        } else if (sample == "create-body") {
            o.path = "/v1.41/containers/create";
            o.body = s::container_create_body(image);
        } else
            usage_error("unknown sample " + sample);
    }
    if (o.dump)
        return o;
    if (o.socket.empty())
        usage_error("--socket is required");
    if (o.method.empty())
        o.method = o.has_body ? "POST" : "GET";
    bool plugin = o.path.rfind("/Plugin.", 0) == 0 || o.path.rfind("/AuthZPlugin.", 0) == 0;
    if (o.host.empty())
        o.host = plugin ? "plugin.moby.localhost" : "docker";
    if (!o.content_type && o.has_body && !o.body.empty() && !plugin)
        o.content_type = "application/json";
    if (o.connections < 1)
        usage_error("--connections must be at least 1");
    if (o.busy > o.connections)
        usage_error("--busy must not exceed --connections");
    if (o.busy >= 0 && o.busy < o.connections && o.duration <= 0)
        usage_error("--busy needs --duration");
    if (o.busy >= 0 && o.busy < o.connections && !o.gap_given) {
        o.gap_min_ms = 10;
        o.gap_max_ms = 30;
    }
    if (o.format != "text" && o.format != "kv" && o.format != "json")
        usage_error("--format text|kv|json");
    return o;
}

// What the server sends back, read off one keep-alive connection.
struct Response {
    int status = 0;
    bool close = false;
    std::string body;
};

// Parses one response at the start of `buffer`. Returns the bytes it spans, 0 when more input
// is needed, or npos on garbage. Without a length, the body ends at end of stream (`at_eof`).
std::size_t parse_response(const std::string &buffer, bool at_eof, Response &r) {
    std::size_t head_end = buffer.find("\r\n\r\n");
    if (head_end == std::string::npos)
        return 0;
    std::string_view head(buffer.data(), head_end);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/")
        return std::string::npos;
    r.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    r.close = false;
    long content_length = -1;
    bool chunked = false;
    for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos && pos < head.size();) {
        std::size_t start = pos + 2;
        std::size_t end = head.find("\r\n", start);
        std::string lower(head.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                                           : end - start));
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (lower.rfind("content-length:", 0) == 0)
            content_length = std::atol(lower.c_str() + 15);
        else if (lower.rfind("transfer-encoding:", 0) == 0 &&
                 lower.find("chunked") != std::string::npos)
            chunked = true;
        else if (lower.rfind("connection:", 0) == 0 && lower.find("close") != std::string::npos)
            r.close = true;
        pos = end;
    }
    std::size_t at = head_end + 4;
    r.body.clear();
    if (chunked) {
        for (;;) {
            std::size_t eol = buffer.find("\r\n", at);
            if (eol == std::string::npos)
                return 0;
            std::size_t size = std::strtoul(buffer.c_str() + at, nullptr, 16);
            at = eol + 2;
            if (size == 0) {
                for (;;) { // trailers, then an empty line
                    eol = buffer.find("\r\n", at);
                    if (eol == std::string::npos)
                        return 0;
                    bool empty = eol == at;
                    at = eol + 2;
                    if (empty)
                        return at;
                }
            }
            if (buffer.size() < at + size + 2)
                return 0;
            r.body.append(buffer, at, size);
            at += size + 2;
        }
    }
    if (content_length >= 0) {
        if (buffer.size() < at + static_cast<std::size_t>(content_length))
            return 0;
        r.body.assign(buffer, at, static_cast<std::size_t>(content_length));
        return at + static_cast<std::size_t>(content_length);
    }
    if (r.status == 204 || r.status == 304 || r.status < 200)
        return at;
    if (!at_eof)
        return 0;
    r.body.assign(buffer, at);
    r.close = true;
    return buffer.size();
}

int connect_unix(const std::string &path, bool nonblocking) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0)
        return fd;
    int saved = errno;
    if (fd >= 0)
        ::close(fd);
    errno = saved;
    return -1;
}

bool write_all(int fd, const std::string &data, std::string &error) {
    const char *p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) { // a full socket buffer: wait for room
            pollfd pfd{fd, POLLOUT, 0};
            ::poll(&pfd, 1, 1000);
            continue;
        }
        if (n <= 0) {
            error = std::string("write: ") + std::strerror(errno);
            return false;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return true;
}

// One blocking keep-alive connection: the client of a thread that owns a single connection.
class Connection {
  public:
    explicit Connection(const std::string &path) : path_(path) {}
    ~Connection() { disconnect(); }

    bool connect_socket() {
        disconnect();
        fd_ = connect_unix(path_, false);
        buffer_.clear();
        return fd_ >= 0;
    }
    void disconnect() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }
    bool connected() const { return fd_ >= 0; }

    // Sends the request and reads one whole response.
    bool exchange(const std::string &request, Response &response, std::string &error) {
        if (!write_all(fd_, request, error))
            return false;
        bool eof = false;
        for (;;) {
            std::size_t used = parse_response(buffer_, eof, response);
            if (used == std::string::npos) {
                error = "malformed response";
                return false;
            }
            if (used > 0) {
                buffer_.erase(0, used);
                return true;
            }
            if (eof) {
                error = "connection closed by server";
                return false;
            }
            char chunk[65536];
            ssize_t n = ::read(fd_, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                error = std::string("read: ") + std::strerror(errno);
                return false;
            }
            if (n == 0)
                eof = true;
            else
                buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

  private:
    std::string path_;
    int fd_ = -1;
    std::string buffer_;
};

struct ConnectionResult {
    std::vector<std::uint32_t> latencies_ns;
    long errors = 0;
    long reconnects = 0;
    std::string first_error;
    bool idle = false;
};

std::string build_request(const Options &o) {
    std::string r = o.method + " " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n";
    bool plugin = o.host == "plugin.moby.localhost";
    if (plugin)
        r += "User-Agent: Go-http-client/1.1\r\nAccept: "
             "application/vnd.docker.plugins.v1.2+json\r\n";
    else
        r += "User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n";
    if (o.content_type)
        r += "Content-Type: " + *o.content_type + "\r\n";
    if (o.has_body || o.method == "POST" || o.method == "PUT")
        r += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
    r += "\r\n";
    r += o.body;
    return r;
}

double percentile(const std::vector<std::uint32_t> &sorted, double p) {
    if (sorted.empty())
        return 0;
    std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    if (rank == 0)
        rank = 1;
    return sorted[std::min(rank, sorted.size()) - 1] / 1000.0;
}

bool wait_ready(const Options &o, const std::string &request) {
    auto deadline = Clock::now() + std::chrono::duration<double>(o.wait_seconds);
    do {
        Connection c(o.socket);
        Response r;
        std::string error;
        if (c.connect_socket() && c.exchange(request, r, error))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (Clock::now() < deadline);
    return false;
}

} // namespace

int main(int argc, char **argv) {
    std::signal(SIGPIPE, SIG_IGN);
    Options o = parse_options(argc, argv);
    if (o.dump) {
        std::cout << o.body;
        return 0;
    }
    const std::string request = build_request(o);
    if (o.wait_seconds > 0 && !wait_ready(o, request)) {
        std::cerr << "loadclient: " << o.socket << " did not answer within " << o.wait_seconds
                  << " s\n";
        return 1;
    }

    const int n = o.connections;
    const int busy = o.busy < 0 ? n : o.busy;
    const int thread_count = std::min(n, o.threads > 0 ? o.threads : n);
    std::vector<ConnectionResult> results(n);
    std::barrier start_line(thread_count + 1);
    std::atomic<bool> stop{false};
    std::atomic<long> remaining{o.duration > 0 ? 0 : o.requests};

    // A response is an error unless it has the expected status and body.
    auto check = [&](const Response &response, std::string &error) {
        if (o.expect_status ? response.status != o.expect_status
                            : (response.status < 200 || response.status > 299)) {
            error =
                "status " + std::to_string(response.status) + ": " + response.body.substr(0, 300);
            return false;
        }
        if (!o.expect_substr.empty() && response.body.find(o.expect_substr) == std::string::npos) {
            error = "unexpected body: " + response.body.substr(0, 300);
            return false;
        }
        return true;
    };
    // A request that never reached the server (no connection) counts as an error, not a latency.
    auto record = [](ConnectionResult &res, std::optional<Clock::duration> latency, bool ok,
                     const std::string &error) {
        if (latency)
            res.latencies_ns.push_back(static_cast<std::uint32_t>(std::min<long long>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(*latency).count(),
                UINT32_MAX)));
        if (!ok) {
            ++res.errors;
            if (res.first_error.empty())
                res.first_error = error;
        }
    };
    auto may_send = [&]() {
        if (o.duration > 0)
            return !stop.load(std::memory_order_relaxed);
        return remaining.fetch_sub(1, std::memory_order_relaxed) > 0;
    };
    auto uses_gaps = [&](int index) { return index >= busy || (o.busy < 0 && o.gap_max_ms > 0); };

    // A thread with one connection: blocking calls, nothing between the client and the clock.
    auto blocking_client = [&](int index) {
        ConnectionResult &res = results[index];
        res.idle = index >= busy;
        bool gaps = uses_gaps(index);
        std::mt19937_64 random(0x1ea5e + index);
        std::uniform_real_distribution<double> gap_ms(o.gap_min_ms, o.gap_max_ms);
        Connection conn(o.socket);
        Response response;
        std::string error;

        auto one = [&](bool measured) {
            if (gaps && measured)
                std::this_thread::sleep_for(
                    std::chrono::duration<double, std::milli>(gap_ms(random)));
            if (!conn.connected()) {
                if (!conn.connect_socket()) {
                    error = std::string("connect ") + o.socket + ": " + std::strerror(errno);
                    if (measured)
                        record(res, std::nullopt, false, error);
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    return;
                }
                if (measured)
                    ++res.reconnects;
            }
            auto t0 = Clock::now();
            bool ok = conn.exchange(request, response, error);
            auto t1 = Clock::now();
            if (!ok || response.close)
                conn.disconnect();
            if (ok)
                ok = check(response, error);
            if (measured)
                record(res, t1 - t0, ok, error);
        };

        conn.connect_socket();
        for (int i = 0; i < o.warmup; ++i)
            one(false);
        start_line.arrive_and_wait();
        res.latencies_ns.reserve(o.duration > 0 ? 1 << 16
                                                : static_cast<std::size_t>(o.requests / n + 1));
        while (may_send())
            one(true);
    };

    // A thread with several connections: non-blocking sockets and epoll, as a Go client's
    // few OS threads serve many connections.
    auto event_client = [&](std::vector<int> indexes) {
        struct Slot {
            int index;
            int fd = -1;
            bool idle, gaps, awaiting = false;
            int warmup_left;
            std::string in;
            Clock::time_point sent, next_send;
            std::mt19937_64 random;
        };
        std::vector<Slot> slots;
        for (int index : indexes)
            slots.push_back(Slot{index,
                                 -1,
                                 index >= busy,
                                 uses_gaps(index),
                                 false,
                                 o.warmup,
                                 {},
                                 {},
                                 {},
                                 std::mt19937_64(0x1ea5e + index)});
        std::uniform_real_distribution<double> gap_ms(o.gap_min_ms, o.gap_max_ms);
        int ep = ::epoll_create1(EPOLL_CLOEXEC);
        std::string error;
        Response response;
        bool measuring = false;

        auto open = [&](Slot &s) {
            if (s.fd >= 0) {
                ::epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
                ::close(s.fd);
            }
            s.in.clear();
            s.fd = connect_unix(o.socket, true);
            if (s.fd < 0)
                return false;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.ptr = &s;
            ::epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
            return true;
        };
        auto fail = [&](Slot &s, Clock::time_point now, const std::string &why,
                        bool reached = true) {
            if (measuring)
                record(results[s.index], reached ? std::optional(now - s.sent) : std::nullopt,
                       false, why);
            s.awaiting = false;
            s.next_send = now + std::chrono::milliseconds(1);
            if (s.fd >= 0) {
                ::epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
                ::close(s.fd);
                s.fd = -1;
            }
        };
        auto send_due = [&](Clock::time_point now) {
            for (Slot &s : slots) {
                if (s.awaiting || s.next_send > now)
                    continue;
                if (measuring ? !may_send() : s.warmup_left-- <= 0)
                    continue;
                if (s.fd < 0 && !open(s)) {
                    s.sent = now;
                    fail(s, now, std::string("connect: ") + std::strerror(errno), false);
                    continue;
                }
                s.sent = Clock::now();
                s.awaiting = true;
                if (!write_all(s.fd, request, error))
                    fail(s, s.sent, error);
            }
        };
        // Runs until every connection is done with its phase; `finished` says when no more are
        // sent.
        auto run = [&](auto finished) {
            for (;;) {
                auto now = Clock::now();
                send_due(now);
                bool any_awaiting = false;
                Clock::time_point wake = Clock::time_point::max();
                for (Slot &s : slots) {
                    if (s.awaiting)
                        any_awaiting = true;
                    else
                        wake = std::min(wake, s.next_send);
                }
                int timeout = -1;
                if (wake != Clock::time_point::max())
                    timeout = static_cast<int>(std::max<long long>(
                        0,
                        std::chrono::duration_cast<std::chrono::microseconds>(wake - Clock::now())
                                    .count() /
                                1000 +
                            1));
                if (!any_awaiting && finished())
                    break;
                if (o.duration > 0 && measuring && timeout < 0)
                    timeout = 10; // notice `stop`
                if (o.duration > 0 && measuring && timeout > 10)
                    timeout = 10;
                epoll_event events[256];
                int ready = ::epoll_wait(ep, events, 256, timeout);
                for (int i = 0; i < ready; ++i) {
                    Slot &s = *static_cast<Slot *>(events[i].data.ptr);
                    char chunk[65536];
                    bool eof = false;
                    for (;;) {
                        ssize_t r = ::read(s.fd, chunk, sizeof chunk);
                        if (r > 0) {
                            s.in.append(chunk, static_cast<std::size_t>(r));
                            continue;
                        }
                        if (r == 0)
                            eof = true;
                        break;
                    }
                    auto t = Clock::now();
                    std::size_t used = parse_response(s.in, eof, response);
                    if (used == 0 || used == std::string::npos) {
                        if (eof || used == std::string::npos)
                            fail(s, t, eof ? "connection closed by server" : "malformed response");
                        continue;
                    }
                    s.in.erase(0, used);
                    bool ok = check(response, error);
                    if (measuring)
                        record(results[s.index], t - s.sent, ok, error);
                    s.awaiting = false;
                    s.next_send =
                        s.gaps && measuring
                            ? t + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double, std::milli>(gap_ms(s.random)))
                            : t;
                    if (response.close || eof) {
                        ::epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
                        ::close(s.fd);
                        s.fd = -1;
                        if (measuring)
                            ++results[s.index].reconnects;
                    }
                }
            }
        };
        for (Slot &s : slots) {
            results[s.index].idle = s.idle;
            open(s);
        }
        run([&] {
            return std::all_of(slots.begin(), slots.end(),
                               [](const Slot &s) { return s.warmup_left <= 0; });
        });
        start_line.arrive_and_wait();
        measuring = true;
        auto t0 = Clock::now();
        for (Slot &s : slots)
            s.next_send =
                s.gaps ? t0 + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double, std::milli>(gap_ms(s.random)))
                       : t0;
        run([&] { return o.duration > 0 ? stop.load() : remaining.load() <= 0; });
        for (Slot &s : slots)
            if (s.fd >= 0)
                ::close(s.fd);
        ::close(ep);
    };

    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int t = 0; t < thread_count; ++t) {
        std::vector<int> indexes;
        for (int i = t; i < n; i += thread_count)
            indexes.push_back(i);
        if (indexes.size() == 1)
            threads.emplace_back(blocking_client, indexes[0]);
        else
            threads.emplace_back(event_client, indexes);
    }
    start_line.arrive_and_wait();
    auto t_start = Clock::now();
    if (o.duration > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
        stop = true;
    }
    for (auto &t : threads)
        t.join();
    double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();

    std::vector<std::uint32_t> all, idle;
    long errors = 0, reconnects = 0;
    std::string first_error;
    for (auto &r : results) {
        all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
        if (r.idle)
            idle.insert(idle.end(), r.latencies_ns.begin(), r.latencies_ns.end());
        errors += r.errors;
        reconnects += r.reconnects;
        if (first_error.empty())
            first_error = r.first_error;
    }
    if (!o.raw_file.empty()) {
        std::ofstream raw(o.raw_file);
        char value[32];
        for (auto v : all) {
            std::snprintf(value, sizeof value, "%.1f\n", v / 1000.0);
            raw << value;
        }
    }
    std::sort(all.begin(), all.end());
    std::sort(idle.begin(), idle.end());
    double mean = 0;
    for (auto v : all)
        mean += v;
    mean = all.empty() ? 0 : mean / static_cast<double>(all.size()) / 1000.0;
    double rps = elapsed > 0 ? static_cast<double>(all.size()) / elapsed : 0;

    char line[1024];
    if (o.format == "kv") {
        std::snprintf(line, sizeof line,
                      "n=%zu errors=%ld reconnects=%ld rps=%.0f p50_us=%.1f p90_us=%.1f "
                      "p99_us=%.1f p999_us=%.1f "
                      "max_us=%.1f mean_us=%.1f idle_p99_us=%.1f",
                      all.size(), errors, reconnects, rps, percentile(all, .5), percentile(all, .9),
                      percentile(all, .99), percentile(all, .999),
                      all.empty() ? 0.0 : all.back() / 1000.0, mean, percentile(idle, .99));
        std::cout << (o.label.empty() ? "" : o.label + " ") << line << "\n";
    } else if (o.format == "json") {
        std::snprintf(line, sizeof line,
                      "{\"label\":\"%s\",\"n\":%zu,\"errors\":%ld,\"reconnects\":%ld,\"rps\":%.0f,"
                      "\"p50_us\":%.1f,"
                      "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_"
                      "us\":%.1f,\"idle_p99_us\":%.1f}",
                      o.label.c_str(), all.size(), errors, reconnects, rps, percentile(all, .5),
                      percentile(all, .9), percentile(all, .99), percentile(all, .999),
                      all.empty() ? 0.0 : all.back() / 1000.0, mean, percentile(idle, .99));
        std::cout << line << "\n";
    } else {
        std::snprintf(line, sizeof line,
                      "%zu requests in %.2f s over %d connection(s): %.0f req/s\n"
                      "latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
                      all.size(), elapsed, n, rps, percentile(all, .5), percentile(all, .9),
                      percentile(all, .99), percentile(all, .999),
                      all.empty() ? 0.0 : all.back() / 1000.0, mean);
        std::cout << (o.label.empty() ? "" : o.label + "\n") << line;
        if (!idle.empty())
            std::printf("idle clients: %zu requests, p99 %.1f us\n", idle.size(),
                        percentile(idle, .99));
        std::printf("errors: %ld  reconnects: %ld\n", errors, reconnects);
    }
    if (!first_error.empty())
        std::cerr << "loadclient: first error: " << first_error << "\n";
    return errors > 0 ? 1 : 0;
}
