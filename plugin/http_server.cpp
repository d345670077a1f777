#include "plugin/http_server.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <pthread.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace imagegate {
namespace http = boost::beast::http;

namespace {
std::string_view status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    default: return "Internal Server Error";
    }
}

bool write_all(int fd, const std::string &head, const std::string &body) {
    iovec iov[2] = {{const_cast<char *>(head.data()), head.size()}, {const_cast<char *>(body.data()), body.size()}};
    int count = 2;
    iovec *v = iov;
    while (count > 0) {
        ssize_t n = ::writev(fd, v, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        auto done = static_cast<std::size_t>(n);
        while (count > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            ++v;
            --count;
        }
        if (count > 0) {
            v->iov_base = static_cast<char *>(v->iov_base) + done;
            v->iov_len -= done;
        }
    }
    return true;
}

bool send_reply(int fd, const HttpReply &reply, bool keep_alive) {
    std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + std::string(status_text(reply.status)) +
                       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(reply.body.size()) +
                       (keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
    return write_all(fd, head, reply.body);
}

struct ConnectionArgs {
    HttpServer *server;
    int fd;
};
} // namespace

HttpServer::HttpServer(HttpHandler handler, HttpServerLimits limits)
    : handler_(std::move(handler)), limits_(std::move(limits)) {}

HttpServer::~HttpServer() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
}

void HttpServer::listen_unix(const std::string &path, bool allow_socket_activation) {
    path_ = path;
    // systemd socket activation (sd_listen_fds protocol) without libsystemd.
    const char *pid = std::getenv("LISTEN_PID");
    const char *fds = std::getenv("LISTEN_FDS");
    if (allow_socket_activation && pid && fds && std::atoi(pid) == static_cast<int>(::getpid()) && std::atoi(fds) >= 1) {
        listen_fd_ = 3;
        socket_activated_ = true;
        ::unsetenv("LISTEN_PID");
        ::unsetenv("LISTEN_FDS");
        ::unsetenv("LISTEN_FDNAMES");
        return;
    }
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path " + path + " is too long");
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + " exists and is not a socket: refusing to replace it");
        ::unlink(path.c_str());
    }
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket(): " + std::string(std::strerror(errno)));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    mode_t old = ::umask(0117); // 0660 from the start: no window with a wider mode
    int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    ::umask(old);
    if (rc != 0) throw std::runtime_error("cannot bind " + path + ": " + std::strerror(errno));
    if (::listen(listen_fd_, 1024) != 0) throw std::runtime_error("cannot listen on " + path + ": " + std::strerror(errno));
}

void HttpServer::stop() {
    stopping_ = true;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
}

void HttpServer::run() {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!stopping_) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (stopping_) break;
            if (errno == EMFILE || errno == ENFILE) {
                spdlog::error("accept: {}; waiting", std::strerror(errno));
                ::usleep(100000);
                continue;
            }
            if (errno == EINVAL) break; // shut down
            spdlog::error("accept: {}", std::strerror(errno));
            continue;
        }
        if (connections_.load() >= limits_.max_connections) {
            ::close(fd);
            continue;
        }
        ++connections_;
        auto *args = new ConnectionArgs{this, fd};
        pthread_t thread;
        int rc = pthread_create(
            &thread, &attr,
            [](void *p) -> void * {
                auto *a = static_cast<ConnectionArgs *>(p);
                a->server->serve_connection(a->fd);
                delete a;
                return nullptr;
            },
            args);
        if (rc != 0) {
            spdlog::error("cannot start a connection thread: {}", std::strerror(rc));
            ::close(fd);
            --connections_;
            delete args;
        }
    }
    pthread_attr_destroy(&attr);
}

void HttpServer::serve_connection(int fd) {
    // One receive timeout, set once: a read that times out in the middle of a request ends a
    // slow client; between requests it only counts towards the idle limit.
    timeval tv{std::min(limits_.request_timeout_seconds, limits_.idle_timeout_seconds), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    timeval send_tv{limits_.request_timeout_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_tv, sizeof send_tv);

    std::string buffer;
    buffer.reserve(16384);
    std::size_t start = 0; // first unparsed byte in buffer
    char chunk[16384];
    bool open = true;
    while (open && !stopping_) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(limits_.max_body_bytes);
        parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
        parser.eager(true);
        auto began = std::chrono::steady_clock::now();
        auto idle_since = began;
        bool begun = start < buffer.size();
        boost::beast::error_code ec;
        while (!parser.is_done()) {
            if (start < buffer.size()) {
                std::size_t used = parser.put(boost::asio::buffer(buffer.data() + start, buffer.size() - start), ec);
                start += used;
                if (ec == http::error::need_more) ec = {};
                if (ec) break;
                if (parser.is_done()) break;
                if (start == buffer.size()) {
                    buffer.clear();
                    start = 0;
                }
            }
            if (begun && std::chrono::steady_clock::now() - began > std::chrono::seconds(limits_.request_timeout_seconds)) {
                ec = http::error::partial_message; // slow client: give up on it
                break;
            }
            ssize_t n = ::read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !begun &&
                std::chrono::steady_clock::now() - idle_since < std::chrono::seconds(limits_.idle_timeout_seconds))
                continue; // an idle keep-alive connection: keep it
            if (n <= 0) {
                open = false;
                break;
            }
            if (!begun) {
                begun = true;
                began = std::chrono::steady_clock::now();
            }
            if (start > 0 && start == buffer.size()) {
                buffer.clear();
                start = 0;
            }
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
        if (!open) break;
        if (ec) {
            HttpReply reject{ec == http::error::body_limit ? 413 : 400, limits_.reject_body, true};
            send_reply(fd, reject, false);
            break;
        }
        auto &request = parser.get();
        HttpReply reply = handler_(std::string_view(request.method_string().data(), request.method_string().size()),
                                   std::string_view(request.target().data(), request.target().size()), request.body());
        bool keep_alive = request.keep_alive() && !reply.close;
        if (!send_reply(fd, reply, keep_alive) || !keep_alive) break;
        if (start == buffer.size()) {
            buffer.clear();
            start = 0;
        }
    }
    ::close(fd);
    --connections_;
}

} // namespace imagegate
