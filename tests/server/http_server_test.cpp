// The plugin socket's HTTP server (server/http_server.cpp): its limits, each at and past the
// limit, and many clients at once (these tests also run under TSan: make test-sanitize).
#include "server/http_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace imagegate;
using namespace std::chrono_literals;

namespace {

// A server on a temporary socket, run on its own thread; stopped, drained and joined at the end.
class TestServer {
  public:
    explicit TestServer(HttpServerLimits limits)
        : path_("/tmp/ig-http-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter_++) + ".sock"),
          server_(
              [this](std::string_view method, std::string_view target, std::string_view body) {
                  ++requests;
                  return HttpReply{200,
                                   std::string(method) + " " + std::string(target) + " " +
                                       std::to_string(body.size()),
                                   false};
              },
              std::move(limits)) {
        server_.listen_unix(path_, false);
        thread_ = std::thread([this] { server_.run(); });
    }
    ~TestServer() {
        server_.stop();
        thread_.join();
        // run() returns with every connection closed; this only guards against a regression.
        for (int i = 0; i < 500 && server_.connection_count() > 0; ++i)
            std::this_thread::sleep_for(10ms);
        ::unlink(path_.c_str());
    }
    const std::string &path() const { return path_; }
    std::size_t connections() const { return server_.connection_count(); }
    std::atomic<int> requests{0};

  private:
    static inline std::atomic<int> counter_{0};
    std::string path_;
    HttpServer server_;
    std::thread thread_;
};

int connect_to(const std::string &path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
    return fd;
}

void send_text(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
        if (n <= 0)
            return; // the server may close first; the reply says why
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string post(std::string_view target, std::string_view body) {
    return "POST " + std::string(target) +
           " HTTP/1.1\r\nHost: plugin\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + std::string(body);
}

struct Reply {
    int status = 0;
    std::string body;
    bool close = false;
};

// One reply (status, Content-Length body); nullopt if the connection ends first.
std::optional<Reply> read_reply(int fd, std::string &buffer) {
    while (true) {
        auto end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
            auto cl = buffer.find("Content-Length: ");
            REQUIRE(cl != std::string::npos);
            std::size_t length = std::stoul(buffer.substr(cl + 16));
            if (buffer.size() >= end + 4 + length) {
                Reply r{std::stoi(buffer.substr(9, 3)), buffer.substr(end + 4, length),
                        buffer.substr(0, end).find("Connection: close") != std::string::npos};
                buffer.erase(0, end + 4 + length);
                return r;
            }
        }
        char chunk[4096];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return std::nullopt;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

// True when the server closes the connection within `wait` (EOF or reset).
bool closed_within(int fd, std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0)
        return false;
    char c;
    return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

// One request on a connection of its own: the reply, if one came.
std::optional<Reply> one_reply(const std::string &path, std::string_view text) {
    int fd = connect_to(path);
    send_text(fd, text);
    std::string buffer;
    auto reply = read_reply(fd, buffer);
    ::close(fd);
    return reply;
}

// `count` connections to `path`, each sent one POST of `target`; their descriptors.
std::vector<int> send_on_new_connections(const std::string &path, int count,
                                         std::string_view target) {
    std::vector<int> fds;
    for (int i = 0; i < count; ++i) {
        fds.push_back(connect_to(path));
        send_text(fds.back(), post(target, ""));
    }
    return fds;
}

} // namespace

TEST_CASE("many keep-alive clients at once each get their own replies") {
    TestServer server(HttpServerLimits{});
    constexpr int kClients = 16, kRequests = 200;
    std::atomic<int> wrong{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
        clients.emplace_back([&, c] {
            int fd = connect_to(server.path());
            std::string buffer;
            for (int i = 0; i < kRequests; ++i) {
                std::string body(static_cast<std::size_t>(c * 100 + i), 'x');
                send_text(fd, post("/AuthZPlugin.AuthZReq", body));
                auto reply = read_reply(fd, buffer);
                if (!reply || reply->status != 200 ||
                    reply->body != "POST /AuthZPlugin.AuthZReq " + std::to_string(body.size()))
                    ++wrong;
            }
            ::close(fd);
        });
    for (auto &t : clients)
        t.join();
    CHECK(wrong == 0);
    CHECK(server.requests == kClients * kRequests);
}

TEST_CASE("pipelined requests are answered in order on one connection") {
    TestServer server(HttpServerLimits{});
    int fd = connect_to(server.path());
    send_text(fd, post("/a", "1") + post("/b", "22") + post("/c", ""));
    std::string buffer;
    for (std::string want : {"POST /a 1", "POST /b 2", "POST /c 0"}) {
        auto reply = read_reply(fd, buffer);
        REQUIRE(reply);
        CHECK(reply->body == want);
    }
    ::close(fd);
}

TEST_CASE("a body at the limit is served, one byte more is refused with 413 before it is read") {
    HttpServerLimits limits;
    limits.max_body_bytes = 1024;
    TestServer server(limits);
    std::string buffer;
    int fd = connect_to(server.path());
    send_text(fd, post("/x", std::string(1024, 'a')));
    auto ok = read_reply(fd, buffer);
    REQUIRE(ok);
    CHECK(ok->status == 200);
    ::close(fd);

    // Only the header: the server must refuse on Content-Length, not wait for 100 MB.
    auto refused = one_reply(server.path(),
                             "POST /x HTTP/1.1\r\nHost: p\r\nContent-Length: 104857600\r\n\r\n");
    REQUIRE(refused);
    CHECK(refused->status == 413);
    CHECK(refused->close);
    CHECK(refused->body.find("\"Allow\":false") != std::string::npos);
}

TEST_CASE("a chunked body past the limit is refused with 413") {
    HttpServerLimits limits;
    limits.max_body_bytes = 1024;
    TestServer server(limits);
    auto refused = one_reply(
        server.path(), "POST /x HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
                           std::string(1024, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n");
    REQUIRE(refused);
    CHECK(refused->status == 413);
}

TEST_CASE("a header past the limit is refused with 400") {
    HttpServerLimits limits;
    limits.max_header_bytes = 1024;
    TestServer server(limits);
    auto refused =
        one_reply(server.path(), "POST /x HTTP/1.1\r\nHost: p\r\nX-Pad: " + std::string(2048, 'a') +
                                     "\r\nContent-Length: 0\r\n\r\n");
    REQUIRE(refused);
    CHECK(refused->status == 400);
}

TEST_CASE("a client that sends a request too slowly is cut off after the request timeout") {
    HttpServerLimits limits;
    limits.request_timeout_seconds = 1;
    TestServer server(limits);
    int fd = connect_to(server.path());
    std::string request = post("/x", "{}");
    auto started = std::chrono::steady_clock::now();
    std::optional<Reply> reply;
    std::string buffer;
    // One byte every 200 ms: each read succeeds, the whole request never arrives in time.
    for (std::size_t i = 0; i < request.size(); ++i) {
        send_text(fd, request.substr(i, 1));
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) > 0) {
            reply = read_reply(fd, buffer);
            break;
        }
    }
    auto took = std::chrono::steady_clock::now() - started;
    REQUIRE(reply);
    CHECK(reply->status == 400);
    CHECK(took < 5s);
    ::close(fd);
}

TEST_CASE("an idle keep-alive connection is closed after the idle timeout, an active one is not") {
    HttpServerLimits limits;
    limits.idle_timeout_seconds = 1;
    TestServer server(limits);
    int idle = connect_to(server.path());
    CHECK(closed_within(idle, 3000ms));
    ::close(idle);

    int busy = connect_to(server.path());
    std::string buffer;
    for (int i = 0; i < 6; ++i) { // 6 × 300 ms: longer than the idle timeout in all
        send_text(busy, post("/x", ""));
        REQUIRE(read_reply(busy, buffer));
        std::this_thread::sleep_for(300ms);
    }
    ::close(busy);
}

TEST_CASE("connections past max_connections are closed at once, and served again when one ends") {
    HttpServerLimits limits;
    limits.max_connections = 2;
    TestServer server(limits);
    int a = connect_to(server.path()), b = connect_to(server.path());
    for (int i = 0; i < 200 && server.connections() < 2; ++i)
        std::this_thread::sleep_for(10ms);
    REQUIRE(server.connections() == 2);
    int c = connect_to(server.path());
    CHECK(closed_within(c, 2000ms));
    ::close(c);
    ::close(a);
    for (int i = 0; i < 200 && server.connections() > 1; ++i)
        std::this_thread::sleep_for(10ms);
    int d = connect_to(server.path());
    std::string buffer;
    send_text(d, post("/x", "1"));
    auto reply = read_reply(d, buffer);
    REQUIRE(reply);
    CHECK(reply->status == 200);
    ::close(b);
    ::close(d);
}

TEST_CASE("a malformed request is refused with 400 and the connection closed") {
    TestServer server(HttpServerLimits{});
    int fd = connect_to(server.path());
    send_text(fd, "POST /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n");
    std::string buffer;
    auto reply = read_reply(fd, buffer);
    REQUIRE(reply);
    CHECK(reply->status == 400);
    CHECK(closed_within(fd, 2000ms));
    ::close(fd);
}

TEST_CASE("more pipelined requests than one turn of a serving thread are all answered") {
    // A thread serves up to 64 requests of one connection before it looks at others; the rest
    // of a pipelined batch is in the server's buffer, not the socket, and must not wait for
    // more bytes that never come.
    TestServer server(HttpServerLimits{});
    int fd = connect_to(server.path());
    std::string batch;
    for (int i = 0; i < 200; ++i)
        batch += post("/p", std::string(static_cast<std::size_t>(i % 7), 'x'));
    send_text(fd, batch);
    std::string buffer;
    for (int i = 0; i < 200; ++i) {
        auto reply = read_reply(fd, buffer);
        REQUIRE(reply);
        CHECK(reply->body == "POST /p " + std::to_string(i % 7));
    }
    ::close(fd);
}

TEST_CASE("handlers blocked on an outside wait do not starve the request that would release them") {
    // dockerd asks imagegate about imagegate's own lookups: a handler waiting on a lookup needs
    // another thread to answer. More handlers block here than the server starts threads for.
    std::mutex m;
    std::condition_variable cv;
    bool released = false;
    std::atomic<int> blocked{0};
    const std::string path = "/tmp/ig-http-test-block-" + std::to_string(::getpid()) + ".sock";
    HttpServer server([&](std::string_view, std::string_view target, std::string_view) {
        if (target == "/block") {
            BlockingScope scope;
            ++blocked;
            std::unique_lock lock(m);
            bool ok = cv.wait_for(lock, 20s, [&] { return released; });
            return HttpReply{200, ok ? "released" : "timed out", false};
        }
        {
            std::lock_guard lock(m);
            released = true;
        }
        cv.notify_all();
        return HttpReply{200, "release", false};
    });
    server.listen_unix(path, false);
    std::thread runner([&] { server.run(); });
    const int blockers = static_cast<int>(std::thread::hardware_concurrency()) + 4;
    std::vector<int> fds = send_on_new_connections(path, blockers, "/block");
    for (int i = 0; i < 1000 && blocked < blockers; ++i)
        std::this_thread::sleep_for(10ms);
    CHECK(blocked == blockers);
    auto release = one_reply(path, post("/release", ""));
    REQUIRE(release);
    CHECK(release->body == "release");
    for (int fd : fds) {
        std::string buffer;
        auto reply = read_reply(fd, buffer);
        REQUIRE(reply);
        CHECK(reply->body == "released");
        ::close(fd);
    }
    server.stop();
    runner.join();
    CHECK(server.connection_count() == 0);
    ::unlink(path.c_str());
}

TEST_CASE("stop() ends run() with every connection closed, idle ones included") {
    auto server = std::make_unique<TestServer>(HttpServerLimits{});
    int idle = connect_to(server->path());
    int used = connect_to(server->path());
    std::string buffer;
    send_text(used, post("/x", ""));
    REQUIRE(read_reply(used, buffer));
    for (int i = 0; i < 200 && server->connections() < 2; ++i)
        std::this_thread::sleep_for(10ms);
    CHECK(server->connections() == 2);
    server.reset(); // stop, join
    CHECK(closed_within(idle, 2000ms));
    CHECK(closed_within(used, 2000ms));
    ::close(idle);
    ::close(used);
}

TEST_CASE("a long request does not hold up other connections") {
    // Threads not serving stand by; when every serving thread is busy with a long request, one
    // of them is woken to take new requests (within the accept thread's sweep, 250 ms).
    std::atomic<bool> slow_done{false};
    const std::string path = "/tmp/ig-http-test-slow-" + std::to_string(::getpid()) + ".sock";
    HttpServer server([&](std::string_view, std::string_view target, std::string_view) {
        if (target == "/slow") {
            std::this_thread::sleep_for(3s);
            slow_done = true;
        }
        return HttpReply{200, std::string(target), false};
    });
    server.listen_unix(path, false);
    std::thread runner([&] { server.run(); });
    const int slow = static_cast<int>(std::thread::hardware_concurrency()) + 2;
    std::vector<int> fds = send_on_new_connections(path, slow, "/slow");
    std::this_thread::sleep_for(100ms);
    auto quick = one_reply(path, post("/quick", ""));
    REQUIRE(quick);
    CHECK(quick->body == "/quick");
    CHECK_FALSE(slow_done); // answered while the slow ones were still running
    for (int fd : fds) {
        std::string buffer;
        CHECK(read_reply(fd, buffer));
        ::close(fd);
    }
    server.stop();
    runner.join();
    ::unlink(path.c_str());
}
