#include "common/unix_socket.hpp"

#include "common/files.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imagegate {

namespace http = boost::beast::http;

Result<sockaddr_un> unix_address(const std::string &path) {
    sockaddr_un address{};
    if (path.empty() || path.size() >= sizeof address.sun_path)
        return Error{"socket path \"" + path + "\" is " + (path.empty() ? "empty" : "too long") +
                     " (at most " + std::to_string(sizeof address.sun_path - 1) + " bytes)"};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

Result<int> connect_unix(const std::string &path, std::chrono::milliseconds timeout,
                         int *error_number) {
    if (error_number)
        *error_number = 0;
    auto address = unix_address(path);
    if (!address) {
        if (error_number)
            *error_number = ENAMETOOLONG;
        return Error{address.error()};
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        (timeout.count() > 0 &&
         [&] {
             auto ms = timeout.count();
             timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
             return ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
                    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0;
         }()) ||
        ::connect(fd, reinterpret_cast<const sockaddr *>(&address.value()),
                  sizeof address.value()) != 0) {
        int error = errno;
        if (fd >= 0)
            ::close(fd);
        if (error_number)
            *error_number = error;
        return Error{"cannot connect to " + path + ": " + std::strerror(error)};
    }
    return fd;
}

Result<int> listen_unix(const std::string &path, mode_t mode, int backlog) {
    auto address = unix_address(path);
    if (!address)
        return Error{address.error()};
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return Error{"cannot serve " + path + ": socket: " + std::strerror(errno)};
    mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
    int bound =
        ::bind(fd, reinterpret_cast<const sockaddr *>(&address.value()), sizeof address.value());
    int error = errno;
    ::umask(old);
    if (bound != 0 || ::chmod(path.c_str(), mode) != 0 || ::listen(fd, backlog) != 0) {
        if (bound == 0) {
            error = errno;
            ::unlink(path.c_str());
        }
        ::close(fd);
        return Error{"cannot serve " + path + ": " + std::strerror(error)};
    }
    return fd;
}

Result<UnixHttpResponse> unix_http_exchange(const std::string &socket_path,
                                            std::string_view request,
                                            std::chrono::milliseconds timeout, std::size_t max_body,
                                            int *connect_errno) {
    auto connected = connect_unix(socket_path, timeout, connect_errno);
    if (!connected)
        return Error{connected.error()};
    int fd = connected.value();
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (!write_all(fd, request))
        return Error{"cannot send to " + socket_path + ": " + std::strerror(errno)};
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    parser.eager(true);
    std::string buffer;
    char chunk[16384];
    boost::beast::error_code ec;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!parser.is_done()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return Error{"no answer from " + socket_path + " within " +
                         std::to_string(timeout.count()) + " ms"};
        pollfd ready{fd, POLLIN, 0};
        int n_ready = ::poll(&ready, 1, static_cast<int>(left.count()));
        if (n_ready < 0 && errno != EINTR)
            return Error{"no answer from " + socket_path + ": " + std::strerror(errno)};
        if (n_ready <= 0)
            continue;
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return Error{"no answer from " + socket_path + ": " + std::strerror(errno)};
        if (n == 0) {
            parser.put_eof(ec);
            break;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t used = parser.put(boost::asio::buffer(buffer), ec);
        buffer.erase(0, used);
        if (ec == http::error::need_more)
            ec = {};
        if (ec)
            break;
    }
    if (!parser.is_done() || ec)
        return Error{"not an HTTP answer from " + socket_path +
                     (ec ? ": " + ec.message() : std::string())};
    return UnixHttpResponse{static_cast<int>(parser.get().result_int()), parser.get().body()};
}

} // namespace imagegate
