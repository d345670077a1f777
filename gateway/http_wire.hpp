// HTTP/1.1 on the gateway's two sides (docs/gateway.md): byte streams over a socket or TLS,
// a buffered reader with limits, message heads, and bodies relayed without being held.
// Every head is parsed strictly and written anew, so what the registry reads is what the
// gateway decided on (no smuggling by ambiguous framing: both Content-Length and
// Transfer-Encoding, two lengths, folded headers are refused).
#pragma once
#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct ssl_st;

namespace imagegate {

using Millis = std::chrono::milliseconds;

// A connected byte stream: a socket, or TLS over one. Reads wait at most TIMEOUT.
class Stream {
  public:
    virtual ~Stream() = default;
    // > 0 bytes read, 0 the peer closed, < 0 error or timeout.
    virtual long read(char *buffer, std::size_t size, Millis timeout) = 0;
    virtual bool write(std::string_view bytes) = 0;
    virtual int fd() const = 0;
};

class FdStream final : public Stream {
  public:
    explicit FdStream(int fd) : fd_(fd) {}
    long read(char *buffer, std::size_t size, Millis timeout) override;
    bool write(std::string_view bytes) override;
    int fd() const override { return fd_; }

  private:
    int fd_;
};

class TlsStream final : public Stream {
  public:
    TlsStream(ssl_st *ssl, int fd) : ssl_(ssl), fd_(fd) {}
    ~TlsStream() override; // SSL_shutdown (quietly) and SSL_free; the fd is the caller's
    long read(char *buffer, std::size_t size, Millis timeout) override;
    bool write(std::string_view bytes) override;
    int fd() const override { return fd_; }
    ssl_st *ssl() const { return ssl_; }

  private:
    ssl_st *ssl_;
    int fd_;
};

struct Header {
    std::string name; // as sent
    std::string value;
};

struct Head {
    // Request: method, target, version. Response: version, status code text, reason.
    std::string first, second, third;
    std::vector<Header> headers;
    int status = 0; // responses
    // The value of the first header NAME (case-insensitive), or nullptr.
    const std::string *find(std::string_view name) const;
    // How many headers NAME there are.
    std::size_t count(std::string_view name) const;
};

struct HeadLimits {
    std::size_t max_bytes = 64 * 1024;
    std::size_t max_headers = 200;
    Millis deadline{15000}; // for the whole head, from when reading starts
    Millis idle{120000};    // for its first byte
};

class Reader {
  public:
    explicit Reader(Stream &stream) : stream_(stream) {}
    // The next head (request or response), up to and without its blank line. Errors say why:
    // "closed" (nothing was sent), "timeout", "too large", "malformed: ...".
    Result<Head> read_head(const HeadLimits &limits, bool response);
    // Up to SIZE bytes: buffered ones first. > 0, 0 closed, < 0 error/timeout.
    long read_some(char *buffer, std::size_t size, Millis timeout);
    // One line (CRLF or LF ended, without it), at most MAX bytes.
    Result<std::string> read_line(std::size_t max, Millis timeout);
    Stream &stream() { return stream_; }
    bool has_buffered() const { return pos_ < buffer_.size(); }

  private:
    Stream &stream_;
    std::string buffer_;
    std::size_t pos_ = 0;
};

struct Framing {
    enum class Kind { None, Length, Chunked, UntilClose } kind = Kind::None;
    std::uint64_t length = 0;
};

// A request's body framing; errors for ambiguous framing (both headers, two different lengths,
// a length that is not a number, a transfer coding other than chunked).
Result<Framing> request_framing(const Head &request);
// A response's body framing for a request of METHOD.
Result<Framing> response_framing(const Head &response, std::string_view method);

// Copies one body from IN to OUT as FRAMING says, re-framed the same way (chunked stays
// chunked, trailers dropped); nothing is held beyond one buffer. Returns bytes of content.
Result<std::uint64_t> relay_body(Reader &in, Stream &out, const Framing &framing, Millis idle);

// The head written anew: hop-by-hop headers (Connection and what it names, Keep-Alive,
// Proxy-*, TE, Trailer, Upgrade, Expect) and the framing headers dropped, then FRAMING's own
// header added.
std::string request_head_text(const Head &request, const Framing &framing);
std::string response_head_text(const Head &response, const Framing &framing, bool close);

// True when the message asks to close after it (Connection: close, or HTTP/1.0 without
// keep-alive).
bool wants_close(const Head &head, bool response);

} // namespace imagegate
