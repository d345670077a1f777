#include "gateway/proxy.hpp"

#include "common/files.hpp"
#include "distribution/bundle.hpp"
#include "gateway/http_wire.hpp"
#include "gateway/wire.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace imagegate {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct FdCloser {
    int fd = -1;
    explicit FdCloser(int f) : fd(f) {}
    ~FdCloser() {
        if (fd >= 0)
            ::close(fd);
    }
    FdCloser(const FdCloser &) = delete;
    FdCloser &operator=(const FdCloser &) = delete;
};

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// "HOST:PORT" split; IPv6 in brackets. False when it is not that shape.
bool split_host_port(std::string_view text, std::string &host, int &port) {
    std::string_view h, p;
    if (text.starts_with('[')) {
        auto end = text.find("]:");
        if (end == std::string_view::npos)
            return false;
        h = text.substr(1, end - 1);
        p = text.substr(end + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon)
            return false;
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
    }
    if (h.empty() || h.size() > 253 || p.empty() || p.size() > 5 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    if (!std::all_of(h.begin(), h.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                   c == ':' || c == '_';
        }))
        return false;
    host = lower(h);
    port = std::stoi(std::string(p));
    return port >= 1 && port <= 65535;
}

// The wire host dockerd names: HOST for port 443, else HOST:PORT.
std::string wire_name(const std::string &host, int port) {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return port == 443 ? h : h + ":" + std::to_string(port);
}

int connect_tcp(const std::string &host, int port, Millis timeout, std::string &error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) {
        error = "cannot resolve " + host + ": " + gai_strerror(rc);
        return -1;
    }
    int fd = -1;
    for (addrinfo *a = found; a; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int c = ::connect(fd, a->ai_addr, a->ai_addrlen);
        if (c != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
                c = 0;
            else
                errno = soerr ? soerr : ETIMEDOUT;
        }
        if (c == 0) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            break;
        }
        error =
            "cannot connect to " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
        ::close(fd);
        fd = -1;
    }
    ::freeaddrinfo(found);
    return fd;
}

void set_send_timeout(int fd, std::chrono::seconds seconds) {
    timeval tv{static_cast<time_t>(seconds.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

std::string plain_response(int status, std::string_view reason, std::string_view content_type,
                           std::string_view body, bool close) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
           "\r\nContent-Type: " + std::string(content_type) +
           "\r\nContent-Length: " + std::to_string(body.size()) +
           (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + std::string(body);
}

// The message is also the status line's reason phrase: an answer to HEAD has no body, and
// BuildKit (containerd's resolver) prints the status line of a failed HEAD ("pulling from host
// registry-1.docker.io failed with status code [manifests latest]: 403 imagegate: ...").
std::string denial_response(std::string_view message, bool close) {
    std::string reason;
    for (char c : message.substr(0, 400))
        reason += (c >= 0x20 && c < 0x7f) ? c : '?';
    return plain_response(403, reason.empty() ? "Forbidden" : reason, "application/json",
                          registry_error_body("DENIED", message) + "\n", close);
}

// The host of an absolute https URL's authority ("https://auth.docker.io/token" →
// "auth.docker.io"), with ":PORT" when not 443; "" when not an https URL.
std::string https_url_host(std::string_view url) {
    if (!url.starts_with("https://"))
        return "";
    url.remove_prefix(8);
    std::string_view authority = url.substr(0, url.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos || authority.empty())
        return "";
    std::string host;
    int port = 443;
    if (!split_host_port(authority, host, port)) {
        if (!split_host_port(std::string(authority) + ":443", host, port))
            return "";
    }
    return wire_name(host, port);
}

// realm="..." of a Bearer challenge.
std::string bearer_realm(std::string_view challenge) {
    if (challenge.size() < 7 || lower(challenge.substr(0, 7)) != "bearer ")
        return "";
    auto at = lower(challenge).find("realm=\"");
    if (at == std::string::npos)
        return "";
    auto start = at + 7;
    auto end = challenge.find('"', start);
    return end == std::string_view::npos ? "" : std::string(challenge.substr(start, end - start));
}

// The path of URL when it names WIRE itself: "/token" for "https://ghcr.io/token?x" (WIRE
// "ghcr.io") or for "/token?x"; "" otherwise.
std::string same_host_path(std::string_view url, const std::string &wire) {
    if (url.starts_with("/") && !url.starts_with("//"))
        return std::string(url.substr(0, url.find_first_of("?#")));
    if (https_url_host(url) != wire)
        return "";
    url.remove_prefix(8);
    auto slash = url.find('/');
    if (slash == std::string_view::npos)
        return "/";
    url.remove_prefix(slash);
    return std::string(url.substr(0, url.find_first_of("?#")));
}

// A sink that keeps what is written, at most LIMIT bytes (more fails the write).
class KeepStream final : public Stream {
  public:
    explicit KeepStream(std::size_t limit) : limit_(limit) {}
    long read(char *, std::size_t, Millis) override { return -1; }
    bool write(std::string_view bytes) override {
        if (kept.size() + bytes.size() > limit_)
            return false;
        kept.append(bytes);
        return true;
    }
    int fd() const override { return -1; }
    std::string kept;

  private:
    std::size_t limit_;
};

} // namespace

struct Gateway::Impl {
    Config config;
    std::vector<std::string> wire_hosts; // intercepted
    std::unique_ptr<LeafMinter> minter;
    PolicyView policy;
    DecisionLog *log = nullptr;
    Metrics *metrics = nullptr;
    GatewayLimits limits;
    std::atomic<std::size_t> connections{0};
    std::mutex clients_mutex;
    std::set<int> clients; // client sockets being served, shut down by stop()

    std::mutex learned_mutex;
    std::map<std::string, SteadyClock::time_point> learned; // wire host → until
    // Paths outside /v2/ on an intercepted host that an allowed answer named (its token realm,
    // a redirect to its own storage): "HOST PATH" → until.
    std::map<std::string, SteadyClock::time_point> learned_paths;
    NamedDigests named; // what allowed manifests pulled by digest named (docs/gateway.md)

    std::mutex upstream_mutex;
    std::map<std::string, std::shared_ptr<SSL_CTX>> upstream_contexts; // by wire host

    std::mutex hub_mirrors_mutex;
    std::set<std::string> hub_mirrors; // wire hosts decided as docker.io
    std::string registry_of_connect(const std::string &wire);

    HeadLimits head_limits() const {
        HeadLimits h;
        h.max_bytes = limits.max_head_bytes;
        h.max_headers = limits.max_headers;
        h.deadline = std::chrono::duration_cast<Millis>(limits.head_deadline);
        h.idle = std::chrono::duration_cast<Millis>(limits.idle);
        return h;
    }
    Millis idle() const { return std::chrono::duration_cast<Millis>(limits.idle); }

    void serve(int fd);
    void serve_connect(Reader &reader, Stream &client, const Head &head);
    void serve_intercepted(int fd, const std::string &host, int port, const std::string &registry,
                           const GatewayPolicy &at_connect);
    void serve_tunnel(Stream &client, const std::string &host, int port);
    bool relay_request(Reader &client_in, Stream &client, const Head &request,
                       const std::string &host, int port, const std::string &registry,
                       std::unique_ptr<Stream> &upstream, int &upstream_fd);
    std::unique_ptr<Stream> connect_upstream(const std::string &host, int port, int &fd,
                                             std::string &error);
    std::shared_ptr<SSL_CTX> upstream_context(const std::string &host, int port,
                                              std::string &error);
    void learn(const std::string &wire_host);
    bool learned_host(const std::string &wire_host);
    void learn_path(const std::string &wire_host, const std::string &path);
    bool learned_path(const std::string &wire_host, const std::string &path);
    bool intercepts(const std::string &host, int port) const;
    void record(const WireVerdict &verdict, const GatewayPolicy &policy, double seconds);
    std::string metrics_text();
};

Gateway::Gateway(Config config, std::vector<std::string> wire_hosts,
                 std::unique_ptr<LeafMinter> minter, PolicyView policy, DecisionLog *log,
                 Metrics *metrics, GatewayLimits limits)
    : impl_(std::make_unique<Impl>()) {
    impl_->config = std::move(config);
    for (auto &w : wire_hosts)
        impl_->wire_hosts.push_back(lower(w));
    impl_->minter = std::move(minter);
    impl_->policy = std::move(policy);
    impl_->log = log;
    impl_->metrics = metrics;
    impl_->limits = limits;
}

Gateway::~Gateway() {
    stop();
    // A connection thread still running keeps using what it points to: never free it under it.
    if (!wait_idle(std::chrono::milliseconds(3000)))
        (void)impl_.release();
}

Result<void> Gateway::bind() {
    std::string host;
    int port = 0;
    const std::string &listen = impl_->config.gateway.listen;
    if (!split_host_port(listen, host, port) && listen.ends_with(":0")) {
        host = listen.substr(0, listen.size() - 2);
        port = 0;
    } else if (!split_host_port(listen, host, port)) {
        return Error{"gateway.listen " + listen + ": not HOST:PORT"};
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo *found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc)
        return Error{"gateway.listen " + listen + ": " + gai_strerror(rc)};
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || ::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 256) != 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0)
            ::close(fd);
        return Error{"gateway.listen " + listen + ": " + why};
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&bound), &len);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
    listen_fd_ = fd;
    return {};
}

void Gateway::run() {
    while (!stopping_) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (stopping_)
                break;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            if (errno == EBADF || errno == EINVAL)
                break;
            continue;
        }
        if (impl_->connections.load() >= impl_->limits.max_connections) {
            FdStream(fd).write(plain_response(503, "Service Unavailable", "text/plain",
                                              "imagegate gateway: too many connections\n", true));
            ::close(fd);
            continue;
        }
        impl_->connections++;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        {
            std::lock_guard lock(impl_->clients_mutex);
            impl_->clients.insert(fd);
        }
        std::thread([impl = impl_.get(), fd] {
            impl->serve(fd);
            {
                std::lock_guard lock(impl->clients_mutex);
                impl->clients.erase(fd);
            }
            ::close(fd);
            impl->connections--;
        }).detach();
    }
}

void Gateway::stop() {
    if (stopping_.exchange(true))
        return;
    if (listen_fd_ >= 0) {
        ::shutdown(listen_fd_, SHUT_RDWR);
        ::close(listen_fd_);
    }
    // Every connection's thread wakes up and ends (its reads and writes fail).
    std::lock_guard lock(impl_->clients_mutex);
    for (int fd : impl_->clients)
        ::shutdown(fd, SHUT_RDWR);
}

bool Gateway::wait_idle(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (impl_->connections.load() > 0) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

// One client connection: a CONNECT, a metrics request, or a refusal.
void Gateway::Impl::serve(int fd) {
    set_send_timeout(fd, limits.idle);
    FdStream client(fd);
    Reader reader(client);
    // A new connection gets the head deadline for its first byte too: idle connections do not
    // hold the proxy's slots for long.
    HeadLimits first = head_limits();
    first.idle = first.deadline;
    auto head = reader.read_head(first, false);
    if (!head) {
        if (head.error() != "closed")
            client.write(plain_response(head.error().starts_with("too large") ? 431 : 400,
                                        "Bad Request", "text/plain",
                                        "imagegate gateway: " + head.error() + "\n", true));
        return;
    }
    if (head->first == "CONNECT")
        return serve_connect(reader, client, *head);
    if (head->first == "GET" && head->second == "/metrics") {
        client.write(plain_response(200, "OK", "text/plain; version=0.0.4", metrics_text(), true));
        return;
    }
    // Plain-HTTP registries would be read here; the gateway refuses them (docs/gateway.md).
    WireVerdict v;
    v.endpoint = head->first + " " + head->second.substr(0, 200);
    v.policy_denied = true;
    v.allow = false;
    v.cause = Cause::Registry;
    v.message =
        "imagegate: the gateway carries registry traffic over TLS (CONNECT) only: " + head->first +
        " " + head->second.substr(0, 200) + " refused";
    record(v, policy(), 0);
    client.write(denial_response(v.message, true));
}

void Gateway::Impl::serve_connect(Reader &reader, Stream &client, const Head &head) {
    std::string host;
    int port = 0;
    if (!split_host_port(head.second, host, port)) {
        client.write(plain_response(400, "Bad Request", "text/plain",
                                    "imagegate gateway: CONNECT needs HOST:PORT\n", true));
        return;
    }
    if (reader.has_buffered()) { // bytes sent before our answer: not a client we know
        client.write(plain_response(400, "Bad Request", "text/plain",
                                    "imagegate gateway: data before the CONNECT answer\n", true));
        return;
    }
    std::string wire = wire_name(host, port);
    std::string registry = registry_of_connect(wire);
    GatewayPolicy now = policy();
    auto started = SteadyClock::now();
    if (intercepts(host, port)) {
        WireVerdict v = decide_wire_connect(
            registry, now.active ? now.active->policy.get() : nullptr, now.problem);
        if (v.policy_denied)
            record(v, now, std::chrono::duration<double>(SteadyClock::now() - started).count());
        if (!v.allow) {
            client.write(denial_response(v.message, true));
            return;
        }
        if (!client.write("HTTP/1.1 200 Connection established\r\n\r\n"))
            return;
        return serve_intercepted(client.fd(), host, port, registry, now);
    }
    if (learned_host(wire)) {
        return serve_tunnel(client, host, port);
    }
    WireVerdict v =
        decide_wire_connect(registry, now.active ? now.active->policy.get() : nullptr, now.problem);
    if (!v.policy_denied) {
        v.policy_denied = true;
        v.allow = false;
        v.cause = Cause::Registry;
        v.message = "imagegate: " + wire +
                    " is not a registry the gateway intercepts, nor a token server or blob "
                    "store an allowed registry named (gateway.registries, docs/gateway.md)";
    }
    record(v, now, std::chrono::duration<double>(SteadyClock::now() - started).count());
    client.write(denial_response(v.message, true));
}

// A Docker Hub mirror serves Hub content under Hub's names: decided as docker.io, even when the
// same host is also a registry in its own right (docs/gateway.md, "Registry mirrors").
std::string Gateway::Impl::registry_of_connect(const std::string &wire) {
    std::lock_guard lock(hub_mirrors_mutex);
    return hub_mirrors.count(wire) ? std::string("docker.io") : registry_of_wire_host(wire);
}

void Gateway::set_hub_mirrors(const std::vector<std::string> &wire_hosts) {
    std::set<std::string> hosts;
    for (const auto &h : wire_hosts)
        hosts.insert(lower(h));
    std::lock_guard lock(impl_->hub_mirrors_mutex);
    impl_->hub_mirrors = std::move(hosts);
}

bool Gateway::Impl::intercepts(const std::string &host, int port) const {
    std::string wire = wire_name(host, port);
    return minter->permits(host) &&
           std::find(wire_hosts.begin(), wire_hosts.end(), wire) != wire_hosts.end();
}

void Gateway::Impl::learn(const std::string &wire_host) {
    std::lock_guard lock(learned_mutex);
    learned[wire_host] = SteadyClock::now() + limits.learned_host_ttl;
}

bool Gateway::Impl::learned_host(const std::string &wire_host) {
    std::lock_guard lock(learned_mutex);
    auto it = learned.find(wire_host);
    if (it == learned.end())
        return false;
    if (SteadyClock::now() > it->second) {
        learned.erase(it);
        return false;
    }
    return true;
}

void Gateway::Impl::learn_path(const std::string &wire_host, const std::string &path) {
    std::lock_guard lock(learned_mutex);
    if (learned_paths.size() > 10000)
        std::erase_if(learned_paths,
                      [now = SteadyClock::now()](const auto &e) { return e.second < now; });
    learned_paths[wire_host + " " + path] = SteadyClock::now() + limits.learned_host_ttl;
}

bool Gateway::Impl::learned_path(const std::string &wire_host, const std::string &path) {
    std::lock_guard lock(learned_mutex);
    auto it = learned_paths.find(wire_host + " " + path);
    return it != learned_paths.end() && SteadyClock::now() <= it->second;
}

// TLS with dockerd as the registry, then each request decided and relayed.
void Gateway::Impl::serve_intercepted(int fd, const std::string &host, int port,
                                      const std::string &registry, const GatewayPolicy &) {
    auto ctx = minter->server_context(host);
    if (!ctx) {
        spdlog::error("gateway: {}", ctx.error());
        return;
    }
    SSL *ssl = SSL_new(ctx->get());
    if (!ssl)
        return;
    SSL_set_fd(ssl, fd);
    TlsStream client(ssl, fd);
    timeval tv{static_cast<time_t>(limits.head_deadline.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (SSL_accept(ssl) != 1) {
        ERR_clear_error();
        return;
    }
    set_send_timeout(fd, limits.idle);
    if (const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        sni && lower(sni) != host)
        return; // a name other than the one CONNECT asked for
    Reader reader(client);
    std::unique_ptr<Stream> upstream;
    int upstream_fd = -1;
    FdCloser upstream_closer(-1);
    for (;;) {
        auto head = reader.read_head(head_limits(), false);
        if (!head) {
            if (head.error() != "closed")
                client.write(plain_response(400, "Bad Request", "text/plain",
                                            "imagegate gateway: " + head.error() + "\n", true));
            break;
        }
        bool keep =
            relay_request(reader, client, *head, host, port, registry, upstream, upstream_fd);
        upstream_closer.fd = upstream_fd;
        if (!keep)
            break;
    }
    upstream.reset();
}

std::shared_ptr<SSL_CTX> Gateway::Impl::upstream_context(const std::string &host, int port,
                                                         std::string &error) {
    std::string wire = wire_name(host, port);
    std::lock_guard lock(upstream_mutex);
    if (auto it = upstream_contexts.find(wire); it != upstream_contexts.end())
        return it->second;
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        error = "cannot make a TLS client context";
        return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_read_ahead(ctx.get(), 1);
    // The admin's certs.d CAs for this registry, but never the gateway's own CA.
    std::string own;
    if (auto pem = read_file(config.gateway.ca_dir + "/" + kGatewayCaCert, 64 * 1024))
        own = *pem;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx.get());
    for (const auto &name : certs_d_names(registry_of_wire_host(wire))) {
        std::error_code ec;
        std::filesystem::directory_iterator it(config.gateway.certs_dir + "/" + name, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            if (it->path().extension() != ".crt")
                continue;
            auto pem = read_file(it->path().string(), 1024 * 1024);
            if (!pem || (!own.empty() && pem->find(own) != std::string::npos))
                continue;
            BIO *bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
            while (X509 *cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
                X509_STORE_add_cert(store, cert);
                X509_free(cert);
            }
            BIO_free(bio);
            ERR_clear_error();
        }
    }
    upstream_contexts[wire] = ctx;
    return ctx;
}

std::unique_ptr<Stream> Gateway::Impl::connect_upstream(const std::string &host, int port, int &fd,
                                                        std::string &error) {
    std::string wire = wire_name(host, port);
    std::string target_host = host;
    int target_port = port;
    for (const auto &[from, to] : config.gateway.upstream_override)
        if (lower(from) == host + ":" + std::to_string(port))
            split_host_port(to, target_host, target_port);
    auto ctx = upstream_context(host, port, error);
    if (!ctx)
        return nullptr;
    fd = connect_tcp(target_host, target_port, Millis(10000), error);
    if (fd < 0)
        return nullptr;
    set_send_timeout(fd, limits.idle);
    SSL *ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    unsigned char ip[16];
    bool is_ip =
        inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, host.c_str());
        SSL_set1_host(ssl, host.c_str());
    }
    auto stream = std::make_unique<TlsStream>(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        long verify = SSL_get_verify_result(ssl);
        error = "TLS to " + wire + " failed: " +
                (verify != X509_V_OK ? std::string(X509_verify_cert_error_string(verify))
                                     : std::string(ERR_reason_error_string(ERR_peek_error())
                                                       ? ERR_reason_error_string(ERR_peek_error())
                                                       : "handshake failed"));
        ERR_clear_error();
        stream.reset();
        ::close(fd);
        fd = -1;
        return nullptr;
    }
    return stream;
}

// Decides one request inside the tunnel; relays it and its answer when allowed. Returns
// whether the client connection may carry another request.
bool Gateway::Impl::relay_request(Reader &client_in, Stream &client, const Head &request,
                                  const std::string &host, int port, const std::string &registry,
                                  std::unique_ptr<Stream> &upstream, int &upstream_fd) {
    auto started = SteadyClock::now();
    auto framing = request_framing(request);
    const std::string *host_header = request.find("Host");
    std::string wire = wire_name(host, port);
    std::string problem;
    if (!framing)
        problem = "the request's framing is ambiguous: " + framing.error();
    else if (request.count("Host") != 1 ||
             (lower(*host_header) != wire && lower(*host_header) != wire + ":443"))
        problem = "the request's Host is not " + wire + ", the host of its CONNECT";
    else if (!request.second.starts_with('/'))
        problem = "the request target inside a tunnel must be a path";
    if (!problem.empty()) {
        client.write(plain_response(400, "Bad Request", "text/plain",
                                    "imagegate gateway: " + problem + "\n", true));
        return false;
    }
    GatewayPolicy now = policy();
    const Policy *p = now.active ? now.active->policy.get() : nullptr;
    WireRequest wire_request{request.first, request.second, {}};
    for (const Header &h : request.headers)
        if (lower(h.name) == "content-type")
            wire_request.content_types.push_back(h.value);
    WireVerdict v = decide_wire_request(wire_request, registry, p, now.problem, &named);
    if (v.outside_api && learned_path(wire, v.path))
        v = WireVerdict{}; // the registry's own token path or storage, named by an allowed answer
    if (v.decided || v.policy_denied)
        record(v, now, std::chrono::duration<double>(SteadyClock::now() - started).count());
    bool has_body = framing->kind != Framing::Kind::None;
    if (!v.allow) {
        client.write(denial_response(v.message, has_body));
        return !has_body && !wants_close(request, false);
    }
    // A kept upstream connection that has something to say (it closed) is not reused.
    if (upstream) {
        pollfd pf{upstream_fd, POLLIN, 0};
        if (::poll(&pf, 1, 0) != 0) {
            upstream.reset();
            ::close(upstream_fd);
            upstream_fd = -1;
        }
    }
    if (!upstream) {
        std::string error;
        upstream = connect_upstream(host, port, upstream_fd, error);
        if (!upstream) {
            spdlog::warn("gateway: {}", error);
            client.write(plain_response(502, "Bad Gateway", "text/plain",
                                        "imagegate gateway: " + error + "\n", true));
            return false;
        }
    }
    if (!upstream->write(request_head_text(request, *framing)))
        return false;
    if (auto sent = relay_body(client_in, *upstream, *framing, idle()); !sent)
        return false;
    Reader upstream_in(*upstream);
    Result<Head> response = Error{""};
    do { // interim 1xx answers go on to the client as they come
        response = upstream_in.read_head(head_limits(), true);
        if (!response) {
            client.write(plain_response(
                502, "Bad Gateway", "text/plain",
                "imagegate gateway: the registry's answer: " + response.error() + "\n", true));
            return false;
        }
        if (response->status < 200 && response->status != 101)
            client.write(response_head_text(*response, Framing{}, false));
    } while (response->status < 200 && response->status != 101);
    if (response->status == 101)
        return false; // no upgrades through the gateway
    auto body = response_framing(*response, request.first);
    if (!body) {
        client.write(plain_response(
            502, "Bad Gateway", "text/plain",
            "imagegate gateway: the registry's answer: " + body.error() + "\n", true));
        return false;
    }
    // What an allowed answer names may be reached next: its token server, its blob store (on
    // another host: a blind tunnel; on this one: that path).
    if (const std::string *challenge = response->find("WWW-Authenticate")) {
        std::string realm_url = bearer_realm(*challenge);
        if (std::string realm = https_url_host(realm_url); !realm.empty() && realm != wire)
            learn(realm);
        else if (std::string path = same_host_path(realm_url, wire); !path.empty())
            learn_path(wire, path);
    }
    if (v.decided && response->status >= 300 && response->status < 400)
        if (const std::string *location = response->find("Location")) {
            if (std::string to = https_url_host(*location); !to.empty() && to != wire)
                learn(to);
            else if (std::string path = same_host_path(*location, wire); !path.empty())
                learn_path(wire, path);
        }
    bool close = body->kind == Framing::Kind::UntilClose || wants_close(*response, true) ||
                 wants_close(request, false);
    if (!client.write(response_head_text(*response, *body, close)))
        return false;
    // An allowed manifest pulled by digest: what it names is part of the image (a pinned
    // allowlist entry's blobs, an index's child manifests). It is read whole (at most 4 MiB)
    // and remembered before the client has it, so the client's next request finds it.
    Result<std::uint64_t> relayed = std::uint64_t{0};
    if (!v.manifest_digest.empty() && response->status == 200 &&
        body->kind == Framing::Kind::Length && body->length <= (4u << 20)) {
        KeepStream manifest(4u << 20);
        relayed = relay_body(upstream_in, manifest, *body, idle());
        if (relayed && "sha256:" + sha256_hex(manifest.kept) == v.manifest_digest)
            named.add(v.manifest_name, digests_named_by_manifest(manifest.kept),
                      now.active ? std::shared_ptr<const void>(now.active->policy) : nullptr);
        if (relayed && !client.write(manifest.kept))
            relayed = Error{"cannot write the body on"};
    } else {
        relayed = relay_body(upstream_in, client, *body, idle());
    }
    if (!relayed || upstream_in.has_buffered() || wants_close(*response, true)) {
        upstream.reset();
        ::close(upstream_fd);
        upstream_fd = -1;
    }
    return relayed && !close;
}

// A blind tunnel (the token server, a blob store an allowed answer named): splice both ways.
void Gateway::Impl::serve_tunnel(Stream &client, const std::string &host, int port) {
    std::string error;
    int up = connect_tcp(host, port, Millis(10000), error);
    if (up < 0) {
        client.write(plain_response(502, "Bad Gateway", "text/plain",
                                    "imagegate gateway: " + error + "\n", true));
        return;
    }
    FdCloser up_closer(up);
    if (!client.write("HTTP/1.1 200 Connection established\r\n\r\n"))
        return;
    int pipes[2][2];
    if (::pipe2(pipes[0], O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    FdCloser p00(pipes[0][0]), p01(pipes[0][1]);
    if (::pipe2(pipes[1], O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    FdCloser p10(pipes[1][0]), p11(pipes[1][1]);
    int fds[2] = {client.fd(), up};
    std::size_t buffered[2] = {0, 0}; // bytes in pipe i, read from fds[i], for fds[1-i]
    bool open[2] = {true, true};
    while (open[0] || open[1] || buffered[0] || buffered[1]) {
        pollfd p[2];
        for (int i = 0; i < 2; ++i)
            p[i] = {fds[i],
                    static_cast<short>((open[i] && buffered[i] == 0 ? POLLIN : 0) |
                                       (buffered[1 - i] ? POLLOUT : 0)),
                    0};
        int n = ::poll(p, 2, static_cast<int>(idle().count()));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // idle
        for (int i = 0; i < 2; ++i) {
            if (open[i] && buffered[i] == 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t got = ::splice(fds[i], nullptr, pipes[i][1], nullptr, 1 << 16,
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (got > 0)
                    buffered[i] = static_cast<std::size_t>(got);
                else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    open[i] = false;
                    ::shutdown(fds[1 - i], SHUT_WR);
                }
            }
            if (buffered[1 - i] && (p[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
                ssize_t put = ::splice(pipes[1 - i][0], nullptr, fds[i], nullptr, buffered[1 - i],
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (put > 0)
                    buffered[1 - i] -= static_cast<std::size_t>(put);
                else if (put < 0 && errno != EAGAIN && errno != EINTR)
                    return;
            }
        }
        if (!open[0] && !open[1] && !buffered[0] && !buffered[1])
            return;
    }
}

void Gateway::Impl::record(const WireVerdict &v, const GatewayPolicy &now, double seconds) {
    const Policy *p = now.active ? now.active->policy.get() : nullptr;
    LogContext context;
    context.source = "gateway";
    context.endpoint = v.endpoint;
    if (p) {
        context.organization = p->organization;
        context.policy_serial = p->serial;
        context.audit = p->mode == Mode::Audit;
    }
    if (log) {
        Decision d;
        d.allow = v.allow;
        d.policy_denied = v.policy_denied;
        d.action = Action::Pull;
        d.message = v.message;
        d.cause = v.cause;
        d.images = v.images;
        if (!v.images.empty())
            d.action = v.images.front().action;
        log->write(d, context);
    }
    if (metrics) {
        if (v.images.empty())
            metrics->record_decision(Action::Pull, Category::None, !v.policy_denied, seconds,
                                     v.cause);
        for (const auto &image : v.images)
            metrics->record_decision(image.action, image.category, image.allow, seconds,
                                     image.allow ? Cause::None : image.cause);
    }
    if (v.policy_denied)
        spdlog::info("gateway: {}{}", v.allow ? "(audit) " : "", v.message);
}

std::string Gateway::Impl::metrics_text() {
    if (!metrics)
        return "";
    PolicyGauges gauges;
    GatewayPolicy now = policy();
    if (now.active) {
        gauges.serial = now.active->policy->serial;
        gauges.age_seconds =
            std::chrono::duration<double>(Clock::now() - now.active->synced_at).count();
    }
    return metrics->prometheus_text(gauges);
}

} // namespace imagegate
