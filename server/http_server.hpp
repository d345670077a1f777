// HTTP/1.1 keep-alive over a Unix socket. A few threads share one epoll set: a thread that
// finishes a request takes the next ready connection without sleeping, so a busy server costs
// about one wake-up per burst rather than one per request. A handler that waits on something
// outside (dockerd lookups) says so with a BlockingScope, and the server starts another thread
// if none is left to take new requests. Parsing is Boost.Beast's; the socket handling is ours
// (AF_UNIX, LISTEN_FDS).
#pragma once
#include "common/blocking.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace imagegate {

struct HttpReply {
    int status = 200;
    std::string body;   // JSON
    bool close = false; // close the connection after the reply
    // Work the client need not wait for: run on the serving thread once the reply is sent (or
    // could not be).
    std::function<void()> after = nullptr;
};

using HttpHandler = std::function<HttpReply(std::string_view method, std::string_view target,
                                            std::string_view body)>;

struct HttpServerLimits {
    std::size_t max_body_bytes = 8 * 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    int idle_timeout_seconds = 300; // keep-alive connections with nothing to say
    int request_timeout_seconds =
        10; // from a request's first byte to its last (and a reply's write)
    std::size_t max_connections = 1024;
    // Reply sent (then the connection closed) when a request is too large or malformed.
    std::string reject_body =
        R"({"Allow":false,"Msg":"imagegate: request refused: malformed or too large","Err":"malformed or too large request"})";
};

class HttpServer : public BlockingHook {
  public:
    HttpServer(HttpHandler handler, HttpServerLimits limits = {});
    ~HttpServer();
    // Binds `path` (mode 0660, parent created), or takes the socket systemd passed (LISTEN_FDS).
    // Throws std::runtime_error naming the path on failure.
    void listen_unix(const std::string &path, bool allow_socket_activation = true);
    // Accepts and serves until stop(); returns when every connection is closed and every
    // serving thread has ended.
    void run();
    void stop();
    bool socket_activated() const { return socket_activated_; }
    // Connections open now.
    std::size_t connection_count() const { return connections_.load(); }

    // A handler about to wait on something outside (common/blocking.hpp): if no serving
    // thread is left free, one more starts.
    void before_blocking() override;

    struct Connection;

  private:
    void serve_loop(bool extra);
    Connection *take_handed_over(); // under standby_mutex_; null if none
    void serve_events(Connection &c);
    void close_connection(Connection &c);
    void sweep();
    void start_thread(bool extra);
    void ensure_free_thread(bool may_start); // wakes a stand-by thread, else starts one if allowed

    HttpHandler handler_;
    HttpServerLimits limits_;
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    int stop_fd_ = -1; // eventfd: wakes every serving thread at stop()
    bool socket_activated_ = false;
    std::string path_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> connections_{0};
    std::atomic<int> threads_{0}; // serving threads running
    std::atomic<int> waiting_{0}; // of which waiting for events (asleep or polling)
    std::mutex standby_mutex_;    // the stand-by threads' state below
    std::condition_variable standby_cv_;
    int standing_by_ = 0;
    int wake_tokens_ = 0;
    std::vector<Connection *> handed_over_; // ready connections for a stand-by thread
    std::atomic<int> handed_over_count_{0};
    std::atomic<std::uint64_t> taken_{
        0}; // events taken from epoll, for the sweeper's progress check
    int base_threads_ = 2;
    std::mutex table_mutex_; // connections_table_ (the sweeper's view); threads_done_
    std::condition_variable threads_done_;
    std::unordered_map<int, std::unique_ptr<Connection>> table_;
};

} // namespace imagegate
