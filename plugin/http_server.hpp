// HTTP/1.1 keep-alive over a Unix socket, one thread per connection with blocking I/O:
// a request costs one read and one write, and an idle or slow client holds only its own thread.
// Parsing is Boost.Beast's; the socket handling is ours (AF_UNIX, LISTEN_FDS).
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <string_view>

namespace imagegate {

struct HttpReply {
    int status = 200;
    std::string body;   // JSON
    bool close = false; // close the connection after the reply
};

using HttpHandler = std::function<HttpReply(std::string_view method, std::string_view target, std::string_view body)>;

struct HttpServerLimits {
    std::size_t max_body_bytes = 8 * 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    int idle_timeout_seconds = 300;   // keep-alive connections with nothing to say
    int request_timeout_seconds = 10; // from a request's first byte to its last
    std::size_t max_connections = 1024;
    // Reply sent (then the connection closed) when a request is too large or malformed.
    std::string reject_body = R"({"Allow":false,"Msg":"imagegate: request refused: malformed or too large","Err":"malformed or too large request"})";
};

class HttpServer {
  public:
    HttpServer(HttpHandler handler, HttpServerLimits limits = {});
    ~HttpServer();
    // Binds `path` (mode 0660, parent created), or takes the socket systemd passed (LISTEN_FDS).
    // Throws std::runtime_error naming the path on failure.
    void listen_unix(const std::string &path, bool allow_socket_activation = true);
    void run();  // accepts until stop()
    void stop();
    bool socket_activated() const { return socket_activated_; }
    // Connections being served now. Connection threads are detached and use the server until
    // this drops: destroy the server only at 0 (or at process exit).
    std::size_t connection_count() const { return connections_.load(); }

  private:
    void serve_connection(int fd);
    HttpHandler handler_;
    HttpServerLimits limits_;
    int listen_fd_ = -1;
    bool socket_activated_ = false;
    std::string path_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> connections_{0};
};

} // namespace imagegate
