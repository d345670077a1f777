#include "server/http_server.hpp"
#include "common/unix_socket.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace imagegate {
namespace http = boost::beast::http;
using SteadyClock = std::chrono::steady_clock;

namespace {
// Threads started for blocked handlers, at most; past it, new requests wait for a thread.
constexpr int kMaxThreads = 256;
// A thread started for a blocked handler ends after this long without work.
constexpr int kExtraThreadIdleMs = 5000;
// How often the accepting thread looks for connections past their deadlines.
constexpr int kSweepMs = 250;
// Requests served from one connection before its thread lets the others have a turn.
constexpr int kTurn = 64;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               SteadyClock::now().time_since_epoch())
        .count();
}

int cpu_count() {
    static const int n = [] {
        long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
        return cpus > 0 ? static_cast<int>(cpus) : 1;
    }();
    return n;
}

std::string_view status_text(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    default:
        return "Internal Server Error";
    }
}

// The socket is non-blocking: a reply the client does not read waits up to `timeout_ms` in all.
bool write_all(int fd, std::string_view head, std::string_view body, int timeout_ms) {
    iovec iov[2] = {{const_cast<char *>(head.data()), head.size()},
                    {const_cast<char *>(body.data()), body.size()}};
    int count = 2;
    iovec *v = iov;
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    while (count > 0) {
        msghdr msg{};
        msg.msg_iov = v;
        msg.msg_iovlen = static_cast<std::size_t>(count);
        ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return false;
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
                    .count();
            if (left <= 0)
                return false;
            BlockingScope waiting; // a client that does not read: others go on meanwhile
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR)
                return false;
            continue;
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

bool send_reply(int fd, const HttpReply &reply, bool keep_alive, int timeout_ms) {
    char head[160];
    int n = std::snprintf(
        head, sizeof head,
        "HTTP/1.1 %d %.*s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
        reply.status, static_cast<int>(status_text(reply.status).size()),
        status_text(reply.status).data(), reply.body.size(),
        keep_alive ? "" : "Connection: close\r\n");
    return write_all(fd, std::string_view(head, static_cast<std::size_t>(n)), reply.body,
                     timeout_ms);
}

} // namespace

struct HttpServer::Connection {
    int fd = -1;
    std::string buffer;
    std::size_t start = 0; // first unparsed byte in buffer
    std::optional<http::request_parser<http::string_body>> parser;
    // Read by the sweeper under the table mutex, written by the connection's thread.
    std::atomic<std::int64_t> began_ns{0}; // first byte of the request under way; 0: none
    std::atomic<std::int64_t> idle_since_ns{0};
    std::atomic<bool> busy{false}; // a thread is on it
    // Why the sweeper shut the connection for reading: 0 it did not, 1 idle, 2 a request too slow.
    std::atomic<int> cut{0};
    ~Connection() {
        if (fd >= 0)
            ::close(fd);
    }
};

namespace {
// Takes a connection from the thread that re-armed it: that one lets go (busy = false, release)
// after the re-arm, and the event can come in between; this waits that one syscall out, and
// what the previous thread did to the connection happens before this one's work.
void own(std::atomic<bool> &busy) {
    while (busy.exchange(true, std::memory_order_acquire)) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
}

} // namespace

void HttpServer::before_blocking() {
    ensure_free_thread(true);
}

HttpServer::HttpServer(HttpHandler handler, HttpServerLimits limits)
    : handler_(std::move(handler)), limits_(std::move(limits)) {
    base_threads_ = std::max(2, cpu_count());
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || stop_fd_ < 0)
        throw std::runtime_error("epoll/eventfd: " + std::string(std::strerror(errno)));
    epoll_event stop_event{};
    stop_event.events = EPOLLIN; // level-triggered: every serving thread sees it
    stop_event.data.ptr = nullptr;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &stop_event);
}

HttpServer::~HttpServer() {
    if (listen_fd_ >= 0)
        ::close(listen_fd_);
    ::close(epoll_fd_);
    ::close(stop_fd_);
}

void HttpServer::listen_unix(const std::string &path, bool allow_socket_activation) {
    path_ = path;
    // systemd socket activation (sd_listen_fds protocol) without libsystemd.
    const char *pid = std::getenv("LISTEN_PID");
    const char *fds = std::getenv("LISTEN_FDS");
    if (allow_socket_activation && pid && fds && std::atoi(pid) == static_cast<int>(::getpid()) &&
        std::atoi(fds) >= 1) {
        listen_fd_ = 3;
        socket_activated_ = true;
        ::unsetenv("LISTEN_PID");
        ::unsetenv("LISTEN_FDS");
        ::unsetenv("LISTEN_FDNAMES");
        return;
    }
    if (auto address = unix_address(path); !address)
        throw std::runtime_error(address.error());
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error(path + " exists and is not a socket: refusing to replace it");
        ::unlink(path.c_str());
    }
    // 0660 from the start: no window with a wider mode.
    auto listening = imagegate::listen_unix(path, 0660, 1024);
    if (!listening)
        throw std::runtime_error(listening.error());
    listen_fd_ = listening.value();
}

void HttpServer::stop() {
    stopping_ = true;
    {
        std::lock_guard lock(standby_mutex_);
        standby_cv_.notify_all();
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
}

void HttpServer::start_thread(bool extra) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    struct Args {
        HttpServer *server;
        bool extra;
    };
    auto *args = new Args{this, extra};
    ++threads_;
    pthread_t thread;
    int rc = pthread_create(
        &thread, &attr,
        [](void *p) -> void * {
            auto *a = static_cast<Args *>(p);
            HttpServer *server = a->server;
            bool extra = a->extra;
            delete a;
            server->serve_loop(extra);
            return nullptr;
        },
        args);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        delete args;
        std::lock_guard lock(table_mutex_);
        --threads_;
        threads_done_.notify_all();
        spdlog::error("cannot start a serving thread: {}", std::strerror(rc));
    }
}

void HttpServer::ensure_free_thread(bool may_start) {
    if (stopping_ || waiting_.load() > 0)
        return; // a thread waits on epoll: it takes what comes
    {
        std::lock_guard lock(standby_mutex_);
        if (standing_by_ > 0) {
            ++wake_tokens_;
            standby_cv_.notify_one();
            return;
        }
    }
    if (may_start && threads_.load() < kMaxThreads)
        start_thread(true);
}

void HttpServer::run() {
    ::fcntl(listen_fd_, F_SETFL,
            ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK); // a socket from systemd may block
    for (int i = 0; i < base_threads_; ++i)
        start_thread(false);

    auto last_sweep = SteadyClock::now();
    std::uint64_t last_taken = 0;
    while (!stopping_) {
        pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        int ready = ::poll(p, 2, kSweepMs);
        if (SteadyClock::now() - last_sweep >= std::chrono::milliseconds(kSweepMs)) {
            sweep();
            // Every thread busy (long requests, say): a thread standing by takes over waiting on
            // epoll, or, if no event was taken since the last sweep, a new one starts. Other
            // connections then wait at most about this long.
            std::uint64_t taken = taken_.load();
            ensure_free_thread(taken == last_taken);
            last_taken = taken;
            last_sweep = SteadyClock::now();
        }
        if (ready <= 0 || !(p[0].revents & POLLIN))
            continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                spdlog::error("accept: {}; waiting", std::strerror(errno));
                ::usleep(100000);
                continue;
            }
            spdlog::error("accept: {}", std::strerror(errno));
            continue;
        }
        if (connections_.load() >= limits_.max_connections) {
            ::close(fd);
            continue;
        }
        auto conn = std::make_unique<Connection>();
        conn->fd = fd;
        conn->idle_since_ns = now_ns();
        Connection *c = conn.get();
        {
            std::lock_guard lock(table_mutex_);
            table_.emplace(fd, std::move(conn));
        }
        ++connections_;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
        ev.data.ptr = c;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            spdlog::error("epoll_ctl: {}", std::strerror(errno));
            std::lock_guard lock(table_mutex_);
            table_.erase(fd);
            --connections_;
        }
    }

    // No new connections from here on (they would wait for an answer that never comes).
    ::close(listen_fd_);
    listen_fd_ = -1;
    // Every serving thread ends after the request it is on; then the connections left are ours.
    {
        std::unique_lock lock(table_mutex_);
        threads_done_.wait(lock, [&] { return threads_.load() == 0; });
        connections_ -= table_.size();
        table_.clear();
    }
    {
        std::lock_guard lock(standby_mutex_);
        handed_over_.clear();
        handed_over_count_ = 0;
    }
}

// Threads not serving a connection wait in one of two ways. One (or, briefly, more) waits on
// epoll; the others stand by on a condition variable. Were they all in epoll_wait, the kernel
// would wake a sleeping one for each new event even while another polls for it, and every
// request would pay a wake-up again. A stand-by thread is woken when the epoll waiter finds two
// connections ready at once (it hands one over), when a handler is about to wait on something
// outside (BlockingScope), and at stop().
HttpServer::Connection *HttpServer::take_handed_over() {
    if (handed_over_.empty())
        return nullptr;
    Connection *c = handed_over_.back();
    handed_over_.pop_back();
    --handed_over_count_;
    return c;
}

void HttpServer::serve_loop(bool extra) {
    set_thread_blocking_hook(this);
    while (!stopping_) {
        Connection *work = nullptr;
        if (handed_over_count_.load(std::memory_order_relaxed) > 0) {
            std::lock_guard lock(standby_mutex_);
            work = take_handed_over();
        }
        if (!work && waiting_.load() > 0) { // someone waits on epoll already: stand by
            std::unique_lock lock(standby_mutex_);
            ++standing_by_;
            bool woken = standby_cv_.wait_for(
                lock, std::chrono::milliseconds(extra ? kExtraThreadIdleMs : 60'000),
                [&] { return wake_tokens_ > 0 || stopping_ || !handed_over_.empty(); });
            --standing_by_;
            if (!woken && extra && threads_.load() > base_threads_)
                break; // no longer needed
            if (!woken && waiting_.load() > 0)
                continue;
            work = take_handed_over(); // a wake-up token stays for the thread it was meant for
            if (!work) {
                if (wake_tokens_ > 0)
                    --wake_tokens_;
                lock.unlock();
                if (!woken)
                    continue; // look again (the epoll waiter may have left)
            }
        }
        if (!work) {
            epoll_event ev[2]{};
            ++waiting_;
            int n = ::epoll_wait(epoll_fd_, ev, 2, extra ? kExtraThreadIdleMs : -1);
            --waiting_;
            if (n < 0 && errno != EINTR) {
                spdlog::error("epoll_wait: {}", std::strerror(errno));
                break;
            }
            if (n == 0 && extra && threads_.load() > base_threads_)
                break; // no longer needed
            if (n <= 0)
                continue;
            if (!ev[0].data.ptr || (n == 2 && !ev[1].data.ptr))
                break; // stop()
            if (n ==
                2) { // two ready at once: the second to a thread standing by, else back to epoll
                auto *second = static_cast<Connection *>(ev[1].data.ptr);
                bool handed = false;
                {
                    std::lock_guard lock(standby_mutex_);
                    if (standing_by_ > static_cast<int>(handed_over_.size())) {
                        handed_over_.push_back(second);
                        ++handed_over_count_;
                        handed = true;
                        standby_cv_.notify_one();
                    }
                }
                if (!handed) {
                    // Not yet taken (its busy flag is clear): re-arming it, level-triggered, makes
                    // it ready again for whichever thread waits on epoll next.
                    own(second->busy); // like any taken connection, while it is re-armed
                    epoll_event again{};
                    again.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
                    again.data.ptr = second;
                    int fd = second->fd;
                    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &again);
                    second->busy.store(false, std::memory_order_release);
                }
            }
            work = static_cast<Connection *>(ev[0].data.ptr);
            taken_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
        }
        serve_events(*work);
    }
    {
        std::lock_guard lock(standby_mutex_);
        // Leaving nobody on epoll (an extra thread retiring): a thread standing by takes over.
        if (!stopping_ && waiting_.load() == 0 && standing_by_ > 0)
            ++wake_tokens_;
        standby_cv_.notify_all();
    }
    std::lock_guard lock(table_mutex_);
    --threads_;
    threads_done_.notify_all();
}

void HttpServer::close_connection(Connection &c) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    std::lock_guard lock(table_mutex_);
    table_.erase(c.fd); // closes it
    --connections_;
}

// Connections past their deadlines: shut for reading, which wakes a serving thread for them
// (a request cut off is answered 400 before the connection closes).
void HttpServer::sweep() {
    std::int64_t now = now_ns();
    std::int64_t request_limit = std::int64_t{limits_.request_timeout_seconds} * 1'000'000'000;
    std::int64_t idle_limit = std::int64_t{limits_.idle_timeout_seconds} * 1'000'000'000;
    std::lock_guard lock(table_mutex_);
    for (auto &[fd, c] : table_) {
        if (c->busy.load() || c->cut.load() != 0)
            continue;
        std::int64_t began = c->began_ns.load();
        if (began != 0 ? now - began > request_limit : now - c->idle_since_ns.load() > idle_limit) {
            c->cut = began != 0 ? 2 : 1;
            ::shutdown(fd, SHUT_RD);
        }
    }
}

void HttpServer::serve_events(Connection &c) {
    own(c.busy);
    thread_local char chunk[16384];
    int served = 0;
    const int send_timeout_ms = limits_.request_timeout_seconds * 1000;
    auto reject = [&](int status) {
        HttpReply reply{status, limits_.reject_body, true};
        send_reply(c.fd, reply, false, send_timeout_ms);
        close_connection(c);
    };
    // Whether the socket may hold more than was read: after a short read, epoll (re-armed) says
    // when more comes, which saves a recv() that would find nothing after each reply.
    bool more = true;
    while (true) {
        // Every whole request buffered, in order.
        while (c.start < c.buffer.size()) {
            if (!c.parser) {
                c.parser.emplace();
                c.parser->body_limit(limits_.max_body_bytes);
                c.parser->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
                c.parser->eager(true);
            }
            boost::beast::error_code ec;
            std::size_t used = c.parser->put(
                boost::asio::buffer(c.buffer.data() + c.start, c.buffer.size() - c.start), ec);
            c.start += used;
            if (ec == http::error::need_more)
                break;
            if (ec)
                return reject(ec == http::error::body_limit ? 413 : 400);
            if (!c.parser->is_done()) {
                if (used == 0)
                    break;
                continue;
            }
            c.began_ns = 0;
            auto &request = c.parser->get();
            HttpReply reply;
            bool keep_alive = false;
            try {
                reply = handler_(std::string_view(request.method_string().data(),
                                                  request.method_string().size()),
                                 std::string_view(request.target().data(), request.target().size()),
                                 request.body());
                keep_alive = request.keep_alive() && !reply.close;
            } catch (const std::exception &e) {
                spdlog::error("request handler failed: {}", e.what());
                reply = HttpReply{500, limits_.reject_body,
                                  true}; // fail closed, and drop the connection
            }
            c.parser.reset();
            bool sent = send_reply(c.fd, reply, keep_alive, send_timeout_ms);
            if (reply.after) {
                try {
                    reply.after();
                } catch (const std::exception &e) {
                    spdlog::error("after a reply: {}", e.what());
                }
            }
            if (!sent || !keep_alive)
                return close_connection(c);
            c.idle_since_ns = now_ns();
            if (++served >= kTurn || stopping_) { // let other connections have a turn
                if (stopping_)
                    return close_connection(c);
                break;
            }
        }
        if (c.start == c.buffer.size()) {
            c.buffer.clear();
            c.start = 0;
            if (c.buffer.capacity() > 65536)
                std::string().swap(c.buffer);
        } else if (c.start > 0) {
            c.buffer.erase(0, c.start);
            c.start = 0;
        }
        if (!c.buffer.empty() && c.began_ns.load() == 0)
            c.began_ns = now_ns();
        if (served >= kTurn) {
            served = 0;
            if (c.buffer.empty())
                break; // re-arm: EPOLLONESHOT fires again if more is waiting
            continue;  // buffered requests first: epoll knows nothing of them
        }
        if (c.began_ns.load() != 0 &&
            now_ns() - c.began_ns.load() >
                std::int64_t{limits_.request_timeout_seconds} * 1'000'000'000)
            return reject(400); // a slow client: give up on it

        if (!more && c.cut.load() == 0)
            break; // wait in epoll
        ssize_t n = ::recv(c.fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break; // wait in epoll
        if (n <= 0) {
            if (c.cut.load() == 2 && c.began_ns.load() != 0)
                return reject(400); // cut off mid-request
            return close_connection(c);
        }
        more = static_cast<std::size_t>(n) == sizeof chunk;
        if (c.began_ns.load() == 0)
            c.began_ns = now_ns();
        c.buffer.append(chunk, static_cast<std::size_t>(n));
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.ptr = &c;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0)
        return close_connection(c);
    // The last touch of c: a thread that takes its event from now on waits for this store.
    c.busy.store(false, std::memory_order_release);
}

} // namespace imagegate
