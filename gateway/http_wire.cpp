#include "gateway/http_wire.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>

namespace imagegate {

namespace {

using SteadyClock = std::chrono::steady_clock;

bool wait_readable(int fd, Millis timeout) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int n = ::poll(&p, 1, static_cast<int>(std::max<long>(0, timeout.count())));
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0;
    }
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Splits TEXT into lines (CRLF or LF); a bare CR inside a line is malformed.
Result<std::vector<std::string_view>> lines_of(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? "" : text.substr(nl + 1);
        if (line.ends_with('\r'))
            line.remove_suffix(1);
        if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos)
            return Error{"malformed: a CR or NUL inside a line"};
        lines.push_back(line);
    }
    return lines;
}

Result<void> parse_first_line(std::string_view line, bool response, Head &head) {
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || (!response && sp2 == std::string_view::npos))
        return Error{"malformed: the first line is not METHOD TARGET VERSION"};
    head.first = std::string(line.substr(0, sp1));
    head.second = std::string(line.substr(
        sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1));
    head.third = sp2 == std::string_view::npos ? "" : std::string(line.substr(sp2 + 1));
    if (response) {
        if (!head.first.starts_with("HTTP/1.") || head.second.size() != 3)
            return Error{"malformed: not an HTTP/1.x status line"};
        auto [p, ec] = std::from_chars(head.second.data(), head.second.data() + 3, head.status);
        if (ec != std::errc{} || p != head.second.data() + 3 || head.status < 100)
            return Error{"malformed: status code " + head.second};
        return {};
    }
    if (head.first.empty() || !std::all_of(head.first.begin(), head.first.end(), is_token_char))
        return Error{"malformed: method"};
    if (head.second.empty() || head.second.find(' ') != std::string::npos)
        return Error{"malformed: request target"};
    if (head.third != "HTTP/1.1" && head.third != "HTTP/1.0")
        return Error{"malformed: version " + head.third.substr(0, 20)};
    return {};
}

Result<Head> parse_head(std::string_view text, bool response, std::size_t max_headers) {
    auto lines = lines_of(text);
    if (!lines)
        return Error{lines.error()};
    if (lines->empty())
        return Error{"malformed: empty head"};
    Head head;
    if (auto ok = parse_first_line(lines->front(), response, head); !ok)
        return Error{ok.error()};
    for (std::size_t i = 1; i < lines->size(); ++i) {
        std::string_view line = (*lines)[i];
        if (line.starts_with(' ') || line.starts_with('\t'))
            return Error{"malformed: a folded header line"};
        auto colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos)
            return Error{"malformed: a header line without a name"};
        std::string_view name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_token_char))
            return Error{"malformed: header name " + std::string(name.substr(0, 40))};
        if (head.headers.size() >= max_headers)
            return Error{"too large: more than " + std::to_string(max_headers) + " headers"};
        head.headers.push_back({std::string(name), std::string(trim(line.substr(colon + 1)))});
    }
    return head;
}

bool is_hop_by_hop(std::string_view name, const Head &head) {
    static constexpr std::string_view kDropped[] = {"connection",
                                                    "keep-alive",
                                                    "proxy-connection",
                                                    "proxy-authorization",
                                                    "proxy-authenticate",
                                                    "te",
                                                    "trailer",
                                                    "upgrade",
                                                    "expect",
                                                    "transfer-encoding",
                                                    "content-length"};
    for (auto d : kDropped)
        if (iequals(name, d))
            return true;
    // Headers that Connection names are for this hop alone.
    for (const auto &h : head.headers) {
        if (!iequals(h.name, "connection"))
            continue;
        std::string_view list = h.value;
        while (!list.empty()) {
            auto comma = list.find(',');
            if (iequals(trim(list.substr(0, comma)), name))
                return true;
            list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
        }
    }
    return false;
}

// KEEP_LENGTH: a body-less answer (to HEAD, a 304) says how long the body would be.
std::string headers_text(const Head &head, const Framing &framing, bool keep_length = false) {
    std::string text;
    for (const auto &h : head.headers)
        if (!is_hop_by_hop(h.name, head) || (keep_length && iequals(h.name, "content-length")))
            text += h.name + ": " + h.value + "\r\n";
    if (framing.kind == Framing::Kind::Chunked)
        text += "Transfer-Encoding: chunked\r\n";
    else if (framing.kind == Framing::Kind::Length)
        text += "Content-Length: " + std::to_string(framing.length) + "\r\n";
    return text;
}

Result<std::uint64_t> parse_length(std::string_view text) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc{} || p != text.data() + text.size())
        return Error{"Content-Length " + std::string(text.substr(0, 30)) + " is not a number"};
    return n;
}

Result<void> copy_exact(Reader &in, Stream &out, std::uint64_t n, Millis idle) {
    char buffer[64 * 1024];
    while (n > 0) {
        long got = in.read_some(
            buffer, static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof buffer)), idle);
        if (got <= 0)
            return Error{got == 0 ? "the body ended early" : "the body stalled or failed"};
        if (!out.write(std::string_view(buffer, static_cast<std::size_t>(got))))
            return Error{"cannot write the body on"};
        n -= static_cast<std::uint64_t>(got);
    }
    return {};
}

Result<std::uint64_t> relay_chunked(Reader &in, Stream &out, Millis idle) {
    std::uint64_t total = 0;
    for (;;) {
        auto line = in.read_line(4096, idle);
        if (!line)
            return Error{"chunk size: " + line.error()};
        std::string_view size_text = trim(std::string_view(*line).substr(0, line->find(';')));
        std::uint64_t size = 0;
        auto [p, ec] =
            std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
        if (size_text.empty() || ec != std::errc{} || p != size_text.data() + size_text.size())
            return Error{"malformed chunk size"};
        char hex[32];
        auto [end, ec2] = std::to_chars(hex, hex + sizeof hex, size, 16);
        (void)ec2;
        if (!out.write(std::string(hex, end) + "\r\n"))
            return Error{"cannot write the body on"};
        if (size == 0)
            break;
        if (auto ok = copy_exact(in, out, size, idle); !ok)
            return Error{ok.error()};
        auto crlf = in.read_line(2, idle);
        if (!crlf || !crlf->empty())
            return Error{"malformed chunk end"};
        if (!out.write("\r\n"))
            return Error{"cannot write the body on"};
        total += size;
    }
    for (int i = 0; i < 100; ++i) { // trailers, dropped
        auto line = in.read_line(8192, idle);
        if (!line)
            return Error{"trailer: " + line.error()};
        if (line->empty())
            return out.write("\r\n") ? Result<std::uint64_t>(total)
                                     : Result<std::uint64_t>(Error{"cannot write the body on"});
    }
    return Error{"too many trailer lines"};
}

Result<std::uint64_t> relay_until_close(Reader &in, Stream &out, Millis idle) {
    char buffer[64 * 1024];
    std::uint64_t total = 0;
    for (;;) {
        long got = in.read_some(buffer, sizeof buffer, idle);
        if (got == 0)
            return total;
        if (got < 0)
            return Error{"the body stalled or failed"};
        if (!out.write(std::string_view(buffer, static_cast<std::size_t>(got))))
            return Error{"cannot write the body on"};
        total += static_cast<std::uint64_t>(got);
    }
}

} // namespace

long FdStream::read(char *buffer, std::size_t size, Millis timeout) {
    if (!wait_readable(fd_, timeout))
        return -1;
    for (;;) {
        ssize_t n = ::recv(fd_, buffer, size, 0);
        if (n < 0 && errno == EINTR)
            continue;
        return static_cast<long>(n);
    }
}

bool FdStream::write(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

TlsStream::~TlsStream() {
    if (!ssl_)
        return;
    SSL_set_quiet_shutdown(ssl_, 1);
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ERR_clear_error();
}

long TlsStream::read(char *buffer, std::size_t size, Millis timeout) {
    if (!SSL_has_pending(ssl_) && !wait_readable(fd_, timeout))
        return -1;
    int n = SSL_read(ssl_, buffer, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (n <= 0) {
        int error = SSL_get_error(ssl_, n);
        ERR_clear_error();
        return error == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    // One record is at most 16 KiB: take the ones already received too, so that a relay moves
    // whole buffers (fewer writes and records on the other side).
    std::size_t got = static_cast<std::size_t>(n);
    while (got < size && SSL_has_pending(ssl_)) {
        int more = SSL_read(ssl_, buffer + got,
                            static_cast<int>(std::min<std::size_t>(size - got, 1 << 30)));
        if (more <= 0) {
            ERR_clear_error();
            break;
        }
        got += static_cast<std::size_t>(more);
    }
    return static_cast<long>(got);
}

bool TlsStream::write(std::string_view bytes) {
    while (!bytes.empty()) {
        int n = SSL_write(ssl_, bytes.data(),
                          static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 30)));
        if (n <= 0) {
            ERR_clear_error();
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

const std::string *Head::find(std::string_view name) const {
    for (const auto &h : headers)
        if (iequals(h.name, name))
            return &h.value;
    return nullptr;
}

std::size_t Head::count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
        headers.begin(), headers.end(), [&](const Header &h) { return iequals(h.name, name); }));
}

Result<Head> Reader::read_head(const HeadLimits &limits, bool response) {
    if (pos_ > 0) {
        buffer_.erase(0, pos_);
        pos_ = 0;
    }
    auto started = SteadyClock::now();
    std::size_t scanned = 0;
    for (;;) {
        std::size_t head_end = std::string::npos, after = 0;
        for (std::size_t i = scanned > 2 ? scanned - 2 : 0; i < buffer_.size(); ++i) {
            if (buffer_[i] != '\n')
                continue;
            if (i + 1 < buffer_.size() && buffer_[i + 1] == '\n') {
                head_end = i + 1, after = i + 2;
                break;
            }
            if (i + 2 < buffer_.size() && buffer_[i + 1] == '\r' && buffer_[i + 2] == '\n') {
                head_end = i + 1, after = i + 3;
                break;
            }
        }
        if (head_end != std::string::npos) {
            if (head_end > limits.max_bytes)
                return Error{"too large: a head over " + std::to_string(limits.max_bytes) +
                             " bytes"};
            auto head = parse_head(std::string_view(buffer_).substr(0, head_end), response,
                                   limits.max_headers);
            pos_ = after;
            return head;
        }
        scanned = buffer_.size();
        if (buffer_.size() > limits.max_bytes)
            return Error{"too large: a head over " + std::to_string(limits.max_bytes) + " bytes"};
        Millis left = buffer_.empty()
                          ? limits.idle
                          : limits.deadline -
                                std::chrono::duration_cast<Millis>(SteadyClock::now() - started);
        if (!buffer_.empty() && left.count() <= 0)
            return Error{"timeout: the head was not complete within " +
                         std::to_string(limits.deadline.count() / 1000) + " s"};
        if (buffer_.empty())
            started = SteadyClock::now();
        char chunk[16384];
        long n = stream_.read(chunk, sizeof chunk, left);
        if (n == 0)
            return Error{buffer_.empty() ? "closed" : "malformed: the head ended early"};
        if (n < 0)
            return Error{buffer_.empty() ? "closed" : "timeout: the head stalled"};
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

long Reader::read_some(char *buffer, std::size_t size, Millis timeout) {
    if (pos_ < buffer_.size()) {
        std::size_t n = std::min(size, buffer_.size() - pos_);
        std::copy_n(buffer_.data() + pos_, n, buffer);
        pos_ += n;
        if (pos_ == buffer_.size()) {
            buffer_.clear();
            pos_ = 0;
        }
        return static_cast<long>(n);
    }
    return stream_.read(buffer, size, timeout);
}

Result<std::string> Reader::read_line(std::size_t max, Millis timeout) {
    std::string line;
    char c = 0;
    while (line.size() <= max + 1) {
        if (read_some(&c, 1, timeout) != 1)
            return Error{"the body ended early"};
        if (c == '\n') {
            if (line.ends_with('\r'))
                line.pop_back();
            return line;
        }
        line += c;
    }
    return Error{"a line over " + std::to_string(max) + " bytes"};
}

Result<Framing> request_framing(const Head &request) {
    const std::string *te = request.find("Transfer-Encoding");
    std::size_t lengths = request.count("Content-Length");
    if (te) {
        if (lengths > 0)
            return Error{"both Transfer-Encoding and Content-Length"};
        if (request.count("Transfer-Encoding") != 1 || !iequals(trim(*te), "chunked"))
            return Error{"Transfer-Encoding other than chunked"};
        return Framing{Framing::Kind::Chunked, 0};
    }
    if (lengths == 0)
        return Framing{};
    std::uint64_t length = 0;
    bool first = true;
    for (const auto &h : request.headers) {
        if (!iequals(h.name, "Content-Length"))
            continue;
        auto n = parse_length(h.value);
        if (!n)
            return Error{n.error()};
        if (!first && *n != length)
            return Error{"two different Content-Length values"};
        length = *n;
        first = false;
    }
    return Framing{Framing::Kind::Length, length};
}

Result<Framing> response_framing(const Head &response, std::string_view method) {
    if (method == "HEAD" || response.status == 204 || response.status == 304 ||
        response.status < 200)
        return Framing{};
    auto framing = request_framing(response);
    if (!framing)
        return Error{framing.error()};
    Framing f = framing.value();
    if (f.kind == Framing::Kind::None)
        f.kind = Framing::Kind::UntilClose;
    return f;
}

Result<std::uint64_t> relay_body(Reader &in, Stream &out, const Framing &framing, Millis idle) {
    switch (framing.kind) {
    case Framing::Kind::None:
        return std::uint64_t{0};
    case Framing::Kind::Length:
        if (auto ok = copy_exact(in, out, framing.length, idle); !ok)
            return Error{ok.error()};
        return framing.length;
    case Framing::Kind::Chunked:
        return relay_chunked(in, out, idle);
    case Framing::Kind::UntilClose:
        return relay_until_close(in, out, idle);
    }
    return Error{"unknown framing"};
}

std::string request_head_text(const Head &request, const Framing &framing) {
    return request.first + " " + request.second + " HTTP/1.1\r\n" + headers_text(request, framing) +
           "\r\n";
}

std::string response_head_text(const Head &response, const Framing &framing, bool close) {
    bool keep_length = framing.kind == Framing::Kind::None && response.count("Content-Length") == 1;
    std::string text = "HTTP/1.1 " + response.second + " " + response.third + "\r\n" +
                       headers_text(response, framing, keep_length);
    if (close)
        text += "Connection: close\r\n";
    return text + "\r\n";
}

bool wants_close(const Head &head, bool response) {
    const std::string &version = response ? head.first : head.third;
    const std::string *connection = head.find("Connection");
    bool says_close = connection && connection->find("close") != std::string::npos;
    bool says_keep = connection && (connection->find("keep-alive") != std::string::npos ||
                                    connection->find("Keep-Alive") != std::string::npos);
    if (version == "HTTP/1.0")
        return !says_keep;
    return says_close;
}

} // namespace imagegate
