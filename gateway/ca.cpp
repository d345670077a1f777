#include "gateway/ca.hpp"

#include "common/files.hpp"
#include "policy/reference.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

namespace imagegate {

namespace {

constexpr std::size_t kMaxPemBytes = 64 * 1024;
constexpr long kCaValiditySeconds = 10L * 365 * 24 * 3600;
constexpr long kLeafValiditySeconds = 7L * 24 * 3600;
constexpr long kLeafRenewBeforeSeconds = 24L * 3600;
constexpr long kBackdateSeconds = 3600; // clocks of the host and its containers differ a little

struct PkeyFree {
    void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509 *p) const { X509_free(p); }
};
struct BioFree {
    void operator()(BIO *p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;

std::string openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0)
        return "unknown OpenSSL error";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

// HOST of "HOST" / "HOST:PORT" / "[V6]:PORT".
std::string host_only(std::string_view wire) {
    if (wire.starts_with("[")) {
        auto end = wire.find(']');
        return std::string(wire.substr(1, end == std::string_view::npos ? wire.size() : end - 1));
    }
    auto colon = wire.rfind(':');
    if (colon != std::string_view::npos && wire.find(':') == colon)
        return std::string(wire.substr(0, colon));
    return std::string(wire);
}

bool is_ip(const std::string &host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool add_extension(X509 *cert, X509 *issuer, int nid, const std::string &value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

bool set_random_serial(X509 *cert) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return false;
    bytes[0] &= 0x7f; // positive
    BIGNUM *bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    return ok;
}

AtomicWrite mode_0644() {
    AtomicWrite how;
    how.mode = 0644;
    return how;
}
AtomicWrite mode_0600() {
    return AtomicWrite{};
} // the default mode

Pkey new_p256_key() {
    return Pkey(EVP_EC_gen("P-256"));
}

// "permitted;DNS:a,permitted;IP:127.0.0.1/255.255.255.255" for the hosts (ports dropped).
std::string name_constraints(const std::vector<std::string> &wire_hosts) {
    std::set<std::string> hosts;
    for (const auto &w : wire_hosts)
        hosts.insert(host_only(w));
    std::string value = "critical";
    for (const auto &h : hosts) {
        if (!is_ip(h))
            value += ",permitted;DNS:" + h;
        else if (h.find(':') == std::string::npos)
            value += ",permitted;IP:" + h + "/255.255.255.255";
        else
            value += ",permitted;IP:" + h + "/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    }
    return value;
}

// The DNS names and IP addresses a CA's name constraints permit, as text, sorted.
std::set<std::string> permitted_names(X509 *cert) {
    std::set<std::string> names;
    auto *nc = static_cast<NAME_CONSTRAINTS *>(
        X509_get_ext_d2i(cert, NID_name_constraints, nullptr, nullptr));
    if (!nc)
        return names;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); ++i) {
        GENERAL_NAME *name = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING *s = name->d.dNSName;
            names.insert(lower(std::string_view(reinterpret_cast<const char *>(s->data),
                                                static_cast<std::size_t>(s->length))));
        } else if (name->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = name->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = "";
            if (s->length == 8)
                inet_ntop(AF_INET, s->data, text, sizeof text);
            else if (s->length == 32)
                inet_ntop(AF_INET6, s->data, text, sizeof text);
            names.insert(text);
        }
    }
    NAME_CONSTRAINTS_free(nc);
    return names;
}

std::set<std::string> wanted_names(const std::vector<std::string> &wire_hosts) {
    std::set<std::string> names;
    for (const auto &w : wire_hosts) {
        std::string h = lower(host_only(w));
        if (is_ip(h)) {
            unsigned char buf[16];
            char text[INET6_ADDRSTRLEN] = "";
            bool v4 = inet_pton(AF_INET, h.c_str(), buf) == 1;
            if (!v4)
                inet_pton(AF_INET6, h.c_str(), buf);
            inet_ntop(v4 ? AF_INET : AF_INET6, buf, text, sizeof text);
            h = text;
        }
        names.insert(h);
    }
    return names;
}

Result<Cert> make_ca_cert(EVP_PKEY *key, const std::vector<std::string> &wire_hosts) {
    Cert cert(X509_new());
    char hostname[256] = "";
    ::gethostname(hostname, sizeof hostname - 1);
    std::string cn = "imagegate gateway CA " + std::string(hostname);
    cn.resize(std::min<std::size_t>(cn.size(), 64));
    X509_NAME *name = X509_get_subject_name(cert.get());
    bool ok =
        cert && X509_set_version(cert.get(), 2) == 1 && set_random_serial(cert.get()) &&
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) &&
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), kCaValiditySeconds) &&
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char *>("imagegate"), -1, -1,
                                   0) == 1 &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char *>(cn.c_str()), -1, -1,
                                   0) == 1 &&
        X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key) == 1 &&
        add_extension(cert.get(), cert.get(), NID_basic_constraints,
                      "critical,CA:TRUE,pathlen:0") &&
        add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") &&
        add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash") &&
        add_extension(cert.get(), cert.get(), NID_name_constraints, name_constraints(wire_hosts)) &&
        X509_sign(cert.get(), key, EVP_sha256()) > 0;
    if (!ok)
        return Error{"cannot make the gateway CA certificate: " + openssl_error()};
    return cert;
}

std::string pem_of(X509 *cert) {
    Bio bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    char *data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY *key) {
    Bio bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    char *data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// The key file must be ours alone: a regular file, owned by this user, no group/other bits.
Result<void> check_key_file(const std::string &path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0)
        return Error{path + ": " + std::strerror(errno)};
    if (!S_ISREG(st.st_mode))
        return Error{path + ": the gateway CA key must be a regular file"};
    if (st.st_uid != ::geteuid())
        return Error{path + ": the gateway CA key must be owned by uid " +
                     std::to_string(::geteuid()) + " (it is owned by uid " +
                     std::to_string(st.st_uid) + ")"};
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return Error{path + ": the gateway CA key has mode " + std::string(mode) +
                     ": it must be readable by its owner alone (chmod 0600, or remove the CA "
                     "directory to make a new CA)"};
    }
    return {};
}

Result<Pkey> read_key(const std::string &path) {
    if (auto ok = check_key_file(path); !ok)
        return Error{ok.error()};
    auto text = read_file(path, kMaxPemBytes, Links::Refuse);
    if (!text)
        return Error{text.error()};
    Bio bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key)
        return Error{path + ": not a PEM private key: " + openssl_error()};
    return key;
}

Result<Cert> read_cert(const std::string &path) {
    auto text = read_file(path, kMaxPemBytes);
    if (!text)
        return Error{text.error()};
    Bio bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert)
        return Error{path + ": not a PEM certificate: " + openssl_error()};
    return cert;
}

Result<void> write_trust_dir(const std::string &ca_dir, const std::string &pem) {
    std::string dir = ca_dir + "/" + kGatewayTrustDir;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        return Error{"cannot create " + dir + ": " + ec.message()};
    ::chmod(dir.c_str(), 0755);
    return write_file_atomically(dir + "/" + kGatewayTrustFile, pem, mode_0644());
}

} // namespace

std::vector<std::string> gateway_registries(const GatewayConfig &config, const Policy *policy) {
    std::set<std::string> out;
    if (!config.registries.empty()) {
        for (const auto &r : config.registries)
            out.insert(registry_of_wire_host(r));
    } else {
        out.insert(std::string(kDockerHub));
        if (policy)
            for (const auto &r : policy->allowed_registries)
                if (r.find('*') == std::string::npos)
                    out.insert(registry_of_wire_host(r));
    }
    return {out.begin(), out.end()};
}

std::string registry_wire_host(std::string_view registry) {
    std::string r = registry_of_wire_host(registry);
    return r == kDockerHub ? "registry-1.docker.io" : r;
}

std::string registry_of_wire_host(std::string_view host_port) {
    std::string h = lower(host_port);
    if (h.ends_with(":443"))
        h.resize(h.size() - 4);
    if (h == "registry-1.docker.io" || h == "index.docker.io" || h == "docker.io")
        return std::string(kDockerHub);
    return canonical_registry(h);
}

std::vector<std::string> certs_d_names(std::string_view registry) {
    std::string r = registry_of_wire_host(registry);
    if (r == kDockerHub)
        return {"docker.io", "registry-1.docker.io"};
    return {r};
}

Result<GatewayCaFiles> ensure_gateway_ca(const std::string &ca_dir,
                                         const std::vector<std::string> &registries) {
    std::vector<std::string> hosts;
    for (const auto &r : registries)
        hosts.push_back(registry_wire_host(r));
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    std::string cert_path = ca_dir + "/" + kGatewayCaCert;
    std::string key_path = ca_dir + "/" + kGatewayCaKey;

    GatewayCaFiles files;
    files.hosts = hosts;
    std::error_code ec;
    if (std::filesystem::exists(key_path, ec) || std::filesystem::exists(cert_path, ec)) {
        auto key = read_key(key_path);
        if (!key)
            return Error{key.error()};
        auto cert = read_cert(cert_path);
        if (!cert)
            return Error{cert.error()};
        if (X509_check_private_key(cert->get(), key->get()) != 1)
            return Error{cert_path + ": does not belong to the key " + key_path};
        if (permitted_names(cert->get()) == wanted_names(hosts)) {
            files.cert_pem = pem_of(cert->get());
            if (auto ok = write_trust_dir(ca_dir, files.cert_pem); !ok)
                return Error{ok.error()};
            return files;
        }
        // The intercepted hosts changed: a new CA (and certs.d must be written again).
    }
    std::filesystem::create_directories(ca_dir, ec);
    if (ec)
        return Error{"cannot create " + ca_dir + ": " + ec.message()};
    ::chmod(ca_dir.c_str(), 0755);
    Pkey key = new_p256_key();
    if (!key)
        return Error{"cannot make a P-256 key: " + openssl_error()};
    auto cert = make_ca_cert(key.get(), hosts);
    if (!cert)
        return Error{cert.error()};
    files.cert_pem = pem_of(cert->get());
    files.created = true;
    // The key first: a certificate without its key is never left behind as "the CA".
    if (auto ok = write_file_atomically(key_path, pem_of(key.get()), mode_0600()); !ok)
        return Error{ok.error()};
    if (auto ok = write_file_atomically(cert_path, files.cert_pem, mode_0644()); !ok)
        return Error{ok.error()};
    if (auto ok = write_trust_dir(ca_dir, files.cert_pem); !ok)
        return Error{ok.error()};
    return files;
}

struct LeafMinter::Impl {
    Pkey ca_key;
    Cert ca_cert;
    Pkey leaf_key; // one key for every leaf of this process
    std::set<std::string> permitted;
    std::mutex mutex;
    struct Entry {
        std::shared_ptr<SSL_CTX> context;
        std::chrono::steady_clock::time_point renew_at;
    };
    std::map<std::string, Entry, std::less<>> contexts;
};

LeafMinter::~LeafMinter() = default;

Result<std::unique_ptr<LeafMinter>> LeafMinter::load(const std::string &ca_dir) {
    auto key = read_key(ca_dir + "/" + kGatewayCaKey);
    if (!key)
        return Error{key.error()};
    auto cert = read_cert(ca_dir + "/" + kGatewayCaCert);
    if (!cert)
        return Error{cert.error()};
    if (X509_check_private_key(cert->get(), key->get()) != 1)
        return Error{ca_dir + "/" + kGatewayCaCert + ": does not belong to the key " + ca_dir +
                     "/" + kGatewayCaKey};
    std::unique_ptr<LeafMinter> minter(new LeafMinter());
    minter->impl_ = std::make_unique<Impl>();
    Impl &impl = *minter->impl_;
    impl.permitted = permitted_names(cert->get());
    impl.ca_key = std::move(key.value());
    impl.ca_cert = std::move(cert.value());
    impl.leaf_key = new_p256_key();
    if (!impl.leaf_key)
        return Error{"cannot make a P-256 key: " + openssl_error()};
    minter->hosts_.assign(impl.permitted.begin(), impl.permitted.end());
    return minter;
}

bool LeafMinter::permits(std::string_view host) const {
    auto names = wanted_names({std::string(host)});
    return !names.empty() && impl_->permitted.count(*names.begin()) > 0;
}

Result<std::shared_ptr<SSL_CTX>> LeafMinter::server_context(const std::string &host_in) {
    std::string host = lower(host_in);
    if (!permits(host))
        return Error{"the gateway CA does not cover " + host};
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(impl_->mutex);
    if (auto it = impl_->contexts.find(host);
        it != impl_->contexts.end() && now < it->second.renew_at)
        return it->second.context;

    Cert leaf(X509_new());
    X509_NAME *name = X509_get_subject_name(leaf.get());
    std::string san = (is_ip(host) ? "IP:" : "DNS:") + host;
    bool ok =
        leaf && X509_set_version(leaf.get(), 2) == 1 && set_random_serial(leaf.get()) &&
        X509_gmtime_adj(X509_getm_notBefore(leaf.get()), -kBackdateSeconds) &&
        X509_gmtime_adj(X509_getm_notAfter(leaf.get()), kLeafValiditySeconds) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char *>(host.c_str()), -1, -1,
                                   0) == 1 &&
        X509_set_issuer_name(leaf.get(), X509_get_subject_name(impl_->ca_cert.get())) == 1 &&
        X509_set_pubkey(leaf.get(), impl_->leaf_key.get()) == 1 &&
        add_extension(leaf.get(), impl_->ca_cert.get(), NID_basic_constraints,
                      "critical,CA:FALSE") &&
        add_extension(leaf.get(), impl_->ca_cert.get(), NID_key_usage,
                      "critical,digitalSignature") &&
        add_extension(leaf.get(), impl_->ca_cert.get(), NID_ext_key_usage, "serverAuth") &&
        add_extension(leaf.get(), impl_->ca_cert.get(), NID_authority_key_identifier, "keyid") &&
        add_extension(leaf.get(), impl_->ca_cert.get(), NID_subject_alt_name, san) &&
        X509_sign(leaf.get(), impl_->ca_key.get(), EVP_sha256()) > 0;
    if (!ok)
        return Error{"cannot mint a certificate for " + host + ": " + openssl_error()};

    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1 ||
        SSL_CTX_add1_chain_cert(ctx.get(), impl_->ca_cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), impl_->leaf_key.get()) != 1)
        return Error{"cannot make a TLS context for " + host + ": " + openssl_error()};
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_read_ahead(ctx.get(), 1);
    auto renew_in = std::chrono::seconds(kLeafValiditySeconds - kLeafRenewBeforeSeconds);
    impl_->contexts[host] = {ctx, now + renew_in};
    return ctx;
}

} // namespace imagegate
