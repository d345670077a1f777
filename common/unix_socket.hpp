// Unix stream sockets and HTTP/1.1 over them: the one implementation for the plugin socket, the
// admin socket, the dockerd client, `imagegate status` and install-docker's plugin check
// (docs/architecture.md, "common/"). Errors name the socket's path.
#pragma once
#include "common/result.hpp"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace imagegate {

// The address of `path`; an error when it does not fit sun_path (107 bytes and a NUL).
Result<sockaddr_un> unix_address(const std::string &path);

// A stream socket connected to `path` (close-on-exec), with send and receive timeouts when
// `timeout` is positive. On failure `*error_number`, when given, holds the errno of the step
// that failed (ENOENT, ECONNREFUSED, EACCES...).
Result<int> connect_unix(const std::string &path, std::chrono::milliseconds timeout,
                         int *error_number = nullptr);

// A listening stream socket bound at `path` with `mode` from the start (no window with a wider
// one), `backlog` pending connections. An existing file at `path` is not touched: the caller
// decides whether to remove a stale socket first.
Result<int> listen_unix(const std::string &path, mode_t mode, int backlog);

struct UnixHttpResponse {
    int status = 0;
    std::string body;
};

// Sends `request` (a whole HTTP/1.x request) to the server on `socket_path` and reads one
// response (Content-Length, chunked, or up to the close) within `timeout`, its body at most
// `max_body` bytes. `*connect_errno` as in connect_unix.
Result<UnixHttpResponse> unix_http_exchange(const std::string &socket_path,
                                            std::string_view request,
                                            std::chrono::milliseconds timeout, std::size_t max_body,
                                            int *connect_errno = nullptr);

} // namespace imagegate
