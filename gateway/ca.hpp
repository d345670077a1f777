// The gateway's host-local CA (docs/gateway.md): a P-256 key (CA_DIR/ca.key, 0600, owned by
// root) and a self-signed certificate (CA_DIR/ca.crt) whose name constraints permit only the
// intercepted registry hosts, so that trusting it lets it speak for nothing else.
#pragma once
#include "common/config.hpp"
#include "common/result.hpp"
#include "policy/policy.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ssl_ctx_st;

namespace imagegate {

inline constexpr const char *kGatewayCaCert = "ca.crt";
inline constexpr const char *kGatewayCaKey = "ca.key";
// CA_DIR/trust/: the CA alone, the directory dockerd is given in SSL_CERT_DIR (dockerd 20.10
// verifies Docker Hub against the system roots only, never certs.d; docs/gateway.md).
inline constexpr const char *kGatewayTrustDir = "trust";
inline constexpr const char *kGatewayTrustFile = "imagegate-gateway-ca.pem";

// The registries the gateway intercepts: gateway.registries, or docker.io and every registry
// the policy's "registries" list names (POLICY may be null: docker.io alone). Canonical names
// ("docker.io", "ghcr.io", "reg.example:5000"), sorted, unique.
std::vector<std::string> gateway_registries(const GatewayConfig &config, const Policy *policy);

// The host (HOST, or HOST:PORT when the port is not 443) that dockerd connects to for a
// registry: docker.io → registry-1.docker.io, anything else as written.
std::string registry_wire_host(std::string_view registry);
// The registry a wire host belongs to: registry-1.docker.io, index.docker.io and docker.io →
// docker.io; "HOST:443" → HOST; lower case.
std::string registry_of_wire_host(std::string_view host_port);

// The certs.d directory names (under gateway.certsDir) where dockerd and its BuildKit look for
// the CA of REGISTRY: docker.io → {"docker.io", "registry-1.docker.io"}; else {REGISTRY}.
std::vector<std::string> certs_d_names(std::string_view registry);

struct GatewayCaFiles {
    std::string cert_pem;           // the CA certificate, PEM
    std::vector<std::string> hosts; // the wire hosts its name constraints permit
    bool created = false;           // made by this call (a new key)
};

// Loads CA_DIR's CA when its name constraints permit exactly the wire hosts of REGISTRIES;
// otherwise makes a new key and certificate (written atomically; CA_DIR created 0755, the key
// 0600) and writes CA_DIR/trust/. Refuses a key that is not a regular file owned by this user
// with mode 0600 (or stricter), naming it.
Result<GatewayCaFiles> ensure_gateway_ca(const std::string &ca_dir,
                                         const std::vector<std::string> &registries);

// The CA loaded for minting: one TLS server context per intercepted host, made on first use
// and kept (a P-256 leaf for that name alone, valid 7 days, renewed a day before it ends).
class LeafMinter {
  public:
    // Loads CA_DIR's key and certificate (the key checked as ensure_gateway_ca checks it).
    static Result<std::unique_ptr<LeafMinter>> load(const std::string &ca_dir);
    ~LeafMinter();
    LeafMinter(const LeafMinter &) = delete;
    LeafMinter &operator=(const LeafMinter &) = delete;

    // A server context presenting a leaf for HOST (a DNS name or an IP address, no port).
    Result<std::shared_ptr<ssl_ctx_st>> server_context(const std::string &host);
    // The wire hosts the CA's name constraints permit (HOST or HOST:PORT as configured).
    const std::vector<std::string> &hosts() const { return hosts_; }
    // True when the CA may speak for HOST (no port).
    bool permits(std::string_view host) const;

  private:
    LeafMinter() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<std::string> hosts_;
};

} // namespace imagegate
