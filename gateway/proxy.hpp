// The registry gateway (docs/gateway.md): an HTTP forward proxy on loopback that dockerd sends
// every registry connection through. CONNECT to an intercepted registry host is answered with
// a TLS server of our own (a leaf of the gateway CA), and each request inside is decided
// (gateway/wire.hpp) before it goes on to the real registry over verified TLS; CONNECT to the
// token server or the blob store an allowed response named is a blind tunnel (splice);
// anything else is refused.
#pragma once
#include "common/config.hpp"
#include "common/result.hpp"
#include "decision_log/writer.hpp"
#include "gateway/ca.hpp"
#include "policy/active_policy.hpp"
#include "server/metrics.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace imagegate {

// Limits on the proxy port, as on the plugin socket.
struct GatewayLimits {
    std::size_t max_head_bytes = 64 * 1024; // request line and headers
    std::size_t max_headers = 200;
    std::chrono::seconds head_deadline{15}; // the whole head, from its first byte
    std::chrono::seconds idle{120};         // between requests, and any read or write stall
    std::size_t max_connections = 512;
    std::chrono::minutes learned_host_ttl{30}; // a token server or blob store an answer named
};

// The policy the gateway decides with, and why it may not (stale: maxAgeSeconds).
struct GatewayPolicy {
    std::shared_ptr<const ActivePolicy> active; // null: none loaded
    std::string problem;                        // non-empty: deny image content with this
};

class Gateway {
  public:
    using PolicyView = std::function<GatewayPolicy()>;
    // WIRE_HOSTS: the hosts it intercepts (registry_wire_host of each gateway_registries).
    Gateway(Config config, std::vector<std::string> wire_hosts, std::unique_ptr<LeafMinter> minter,
            PolicyView policy, DecisionLog *log, Metrics *metrics, GatewayLimits limits = {});
    ~Gateway();
    Gateway(const Gateway &) = delete;
    Gateway &operator=(const Gateway &) = delete;

    // The hosts ("HOST", "HOST:PORT") that serve Docker Hub's content under its names
    // (gateway.hubMirrors, dockerd's registry-mirrors): every request to one of them is
    // decided as docker.io (docs/gateway.md, "Registry mirrors"). Replaces the previous set.
    void set_hub_mirrors(const std::vector<std::string> &wire_hosts);

    // Binds config.gateway.listen. Errors name the address.
    Result<void> bind();
    // The port bound (for listen addresses with port 0).
    int port() const { return port_; }
    // Accepts until stop(); each connection is served on its own thread.
    void run();
    // Stops accepting and shuts down every client connection.
    void stop();
    // After stop(): true once every connection's thread has ended, false after TIMEOUT.
    bool wait_idle(std::chrono::milliseconds timeout);

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
};

} // namespace imagegate
