#include "trust/verifier.hpp"

#include "common/files.hpp"
#include "distribution/bundle.hpp"
#include "policy/go_json.hpp"
#include "policy/reference.hpp"
#include "trust/cosign.hpp"

#include <boost/json.hpp>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

namespace imagegate {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxCredentialsBytes = 1024 * 1024;
constexpr std::size_t kMaxTokenBytes = 64 * 1024;
constexpr std::size_t kMaxErrorBodyBytes = 16 * 1024;
constexpr int kMaxRedirects = 3;

// "https://index.docker.io/v1/", "registry.example:5000", "http://host/" → canonical registry.
std::string credentials_registry(std::string_view key) {
    if (auto scheme = key.find("://"); scheme != std::string_view::npos)
        key.remove_prefix(scheme + 3);
    key = key.substr(0, key.find('/'));
    return canonical_registry(key);
}

// SCHEME://HOST[:PORT] and the path (with query) of a URL; nullopt if it is not http(s).
struct Url {
    std::string origin, target, host;
    bool https = false;
};
std::optional<Url> split_url(std::string_view url) {
    Url u;
    if (url.starts_with("https://"))
        u.https = true;
    else if (!url.starts_with("http://"))
        return std::nullopt;
    std::size_t host_start = url.find("://") + 3;
    std::size_t slash = url.find('/', host_start);
    u.origin = std::string(url.substr(0, slash));
    u.host = std::string(url.substr(
        host_start, slash == std::string_view::npos ? std::string_view::npos : slash - host_start));
    u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (u.host.empty() || u.host.find('@') != std::string::npos)
        return std::nullopt;
    return u;
}

bool loopback_host(std::string_view host) {
    return host.starts_with("127.") || host == "localhost" || host.starts_with("localhost:") ||
           host.starts_with("[::1]");
}

struct Challenge {
    std::string scheme; // "bearer", "basic" (lower case)
    std::map<std::string, std::string> params;
};
// WWW-Authenticate: Bearer realm="…",service="…",scope="…"
Challenge parse_challenge(std::string_view header) {
    Challenge c;
    std::size_t sp = header.find(' ');
    std::string scheme(header.substr(0, sp));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    c.scheme = scheme;
    if (sp == std::string_view::npos)
        return c;
    std::string_view rest = header.substr(sp + 1);
    while (!rest.empty()) {
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == ','))
            rest.remove_prefix(1);
        std::size_t eq = rest.find('=');
        if (eq == std::string_view::npos)
            break;
        std::string key(rest.substr(0, eq));
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        rest.remove_prefix(eq + 1);
        std::string value;
        if (!rest.empty() && rest.front() == '"') {
            rest.remove_prefix(1);
            while (!rest.empty() && rest.front() != '"') {
                if (rest.front() == '\\' && rest.size() > 1)
                    rest.remove_prefix(1);
                value += rest.front();
                rest.remove_prefix(1);
            }
            if (!rest.empty())
                rest.remove_prefix(1);
        } else {
            std::size_t end = rest.find(',');
            value = std::string(rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
        }
        c.params[key] = value;
    }
    return c;
}

std::string query_escape(std::string_view s) {
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out += static_cast<char>(ch);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", ch);
            out += buf;
        }
    }
    return out;
}

struct Response {
    int status = 0;
    std::string body;
    httplib::Headers headers;
    std::string header(const char *name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// The registry reads of one verification: one deadline, one token.
class RegistryReader {
  public:
    RegistryReader(std::string endpoint, std::string repository, std::string credentials,
                   std::string certs_dir, std::chrono::steady_clock::time_point deadline)
        : endpoint_(std::move(endpoint)), repository_(std::move(repository)),
          credentials_(std::move(credentials)), certs_dir_(std::move(certs_dir)),
          deadline_(deadline) {}

    // GET PATH (under /v2/REPOSITORY/) with registry auth, redirects followed without it.
    Result<Response> get(const std::string &path, const std::string &accept, std::size_t limit) {
        std::string url = endpoint_ + "/v2/" + repository_ + "/" + path;
        auto r = request(url, accept, limit, authorization_);
        if (!r)
            return r;
        if (r.value().status == 401) {
            auto auth = authorize(r.value().header("WWW-Authenticate"));
            if (!auth)
                return Error{auth.error()};
            authorization_ = auth.value();
            r = request(url, accept, limit, authorization_);
            if (!r)
                return r;
        }
        for (int hops = 0; hops < kMaxRedirects && r.value().status >= 300 &&
                           r.value().status < 400 && r.value().status != 304;
             ++hops) {
            std::string location = r.value().header("Location");
            if (location.empty())
                return Error{"a redirect without a Location"};
            if (location.front() == '/')
                location = split_url(url)->origin + location;
            url = location;
            r = request(url, accept, limit, "");
            if (!r)
                return r;
        }
        return r;
    }

  private:
    std::chrono::milliseconds left() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline_ - std::chrono::steady_clock::now());
    }

    X509_STORE *trust_store(const std::string &host) const {
        X509_STORE *store = X509_STORE_new();
        if (!store)
            return nullptr;
        X509_STORE_set_default_paths(store);
        std::error_code ec;
        std::filesystem::directory_iterator it(certs_dir_ + "/" + host, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            if (it->path().extension() != ".crt")
                continue;
            auto pem = read_file(it->path().string(), 1024 * 1024);
            if (!pem)
                continue;
            BIO *bio = BIO_new_mem_buf(pem.value().data(), static_cast<int>(pem.value().size()));
            while (X509 *cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
                X509_STORE_add_cert(store, cert);
                X509_free(cert);
            }
            BIO_free(bio);
        }
        return store;
    }

    Result<Response> request(const std::string &url, const std::string &accept, std::size_t limit,
                             const std::string &authorization) {
        auto u = split_url(url);
        if (!u)
            return Error{"not an http(s) URL: " + url.substr(0, 200)};
        if (!u->https && !loopback_host(u->host))
            return Error{"refusing plain http to " + u->host + " (https only, http on loopback)"};
        auto remaining = left();
        if (remaining.count() <= 0)
            return Error{"no answer within the time bound"};
        httplib::Client client(u->origin);
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(remaining);
        auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(remaining - secs);
        client.set_connection_timeout(secs.count(), usecs.count());
        client.set_read_timeout(secs.count(), usecs.count());
        client.set_write_timeout(secs.count(), usecs.count());
        client.set_keep_alive(false);
        client.set_follow_location(false);
        if (u->https) {
            client.enable_server_certificate_verification(true);
            if (X509_STORE *store = trust_store(u->host))
                client.set_ca_cert_store(store);
        }
        httplib::Headers headers{{"Accept", accept}, {"User-Agent", "imagegate"}};
        if (!authorization.empty())
            headers.emplace("Authorization", authorization);
        Response out;
        bool too_big = false, too_slow = false;
        auto result = client.Get(
            u->target, headers,
            [&](const httplib::Response &r) {
                out.status = r.status;
                out.headers = r.headers;
                return true;
            },
            [&](const char *data, std::size_t n) {
                std::size_t cap = out.status == 200 ? limit : kMaxErrorBodyBytes;
                if (out.body.size() + n > cap) {
                    too_big = true;
                    return false;
                }
                if (left().count() <= 0) {
                    too_slow = true;
                    return false;
                }
                out.body.append(data, n);
                return true;
            });
        if (too_big)
            return Error{u->origin + u->target.substr(0, 200) + ": larger than " +
                         std::to_string(limit) + " bytes"};
        if (too_slow)
            return Error{u->origin + ": no whole answer within the time bound"};
        if (!result) {
            std::string why = httplib::to_string(result.error());
            if (result.error() == httplib::Error::SSLServerVerification)
                why = "its TLS certificate does not verify against the system's CAs and " +
                      certs_dir_ + "/" + u->host + "/*.crt";
            else if (result.error() == httplib::Error::Connection)
                why = "cannot connect";
            return Error{u->origin + ": " + why};
        }
        return out;
    }

    // The Authorization for a 401's challenge: Basic with imagegate's credentials, or a bearer
    // token from the challenge's realm (with them, if any).
    Result<std::string> authorize(const std::string &header) {
        Challenge c = parse_challenge(header);
        if (c.scheme == "basic") {
            if (credentials_.empty())
                return Error{"the registry asks for credentials and registryCredentials has none "
                             "for it"};
            return "Basic " + credentials_;
        }
        if (c.scheme != "bearer" || c.params["realm"].empty())
            return Error{"the registry answers 401 without a usable challenge"};
        std::string realm = c.params["realm"];
        auto u = split_url(realm);
        if (!u)
            return Error{"the token realm is not an http(s) URL"};
        std::string scope =
            c.params.count("scope") ? c.params["scope"] : "repository:" + repository_ + ":pull";
        std::string token_url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
                                "scope=" + query_escape(scope);
        if (c.params.count("service"))
            token_url += "&service=" + query_escape(c.params["service"]);
        auto r = request(token_url, "application/json", kMaxTokenBytes,
                         credentials_.empty() ? "" : "Basic " + credentials_);
        if (!r)
            return Error{"token: " + r.error()};
        if (r.value().status != 200)
            return Error{"the token server answers " + std::to_string(r.value().status)};
        std::error_code ec;
        json::value v = json::parse(r.value().body, ec);
        const json::value *token = nullptr;
        if (!ec && v.is_object()) {
            token = v.as_object().if_contains("token");
            if (!token || !token->is_string() || token->as_string().empty())
                token = v.as_object().if_contains("access_token");
        }
        if (!token || !token->is_string() || token->as_string().empty())
            return Error{"the token server's answer holds no token"};
        return "Bearer " + std::string(token->as_string());
    }

    std::string endpoint_, repository_, credentials_, certs_dir_;
    std::chrono::steady_clock::time_point deadline_;
    std::string authorization_;
};

const char *kManifestAccept = "application/vnd.oci.image.manifest.v1+json, "
                              "application/vnd.docker.distribution.manifest.v2+json";

std::string status_text(const Response &r) {
    return "the registry answers " + std::to_string(r.status);
}

} // namespace

Result<std::map<std::string, std::string>> load_registry_credentials(const std::string &path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return Error{path + ": cannot open: " + std::strerror(errno)};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error{path + ": not a regular file"};
    }
    if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        ::close(fd);
        return Error{path + ": registry credentials must be readable by root only (owner " +
                     std::to_string(st.st_uid) + ", mode " + mode + "; want owner " +
                     std::to_string(::geteuid()) + ", mode 0600)"};
    }
    auto text = read_fd(fd, path, kMaxCredentialsBytes);
    ::close(fd);
    if (!text)
        return Error{text.error()};
    std::error_code ec;
    json::value v = json::parse(text.value(), ec);
    if (ec || !v.is_object())
        return Error{path + ": not a JSON object (a docker config.json)"};
    std::map<std::string, std::string> out;
    auto *auths = v.as_object().if_contains("auths");
    if (!auths)
        return out;
    if (!auths->is_object())
        return Error{path + ": $.auths must be an object"};
    for (const auto &kv : auths->as_object()) {
        std::string where = path + ": $.auths." + std::string(kv.key());
        if (!kv.value().is_object())
            return Error{where + " must be an object"};
        const json::object &e = kv.value().as_object();
        std::string basic;
        if (auto *auth = e.if_contains("auth");
            auth && auth->is_string() && !auth->as_string().empty()) {
            auto decoded = base64_decode(auth->as_string());
            if (!decoded || decoded.value().find(':') == std::string::npos)
                return Error{where + ".auth must be base64 of USER:PASSWORD"};
            basic = std::string(auth->as_string());
        } else {
            auto *user = e.if_contains("username");
            auto *pass = e.if_contains("password");
            if (!user || !pass || !user->is_string() || !pass->is_string())
                return Error{where + " needs auth, or username and password"};
            basic = base64_encode(std::string(user->as_string()) + ":" +
                                  std::string(pass->as_string()));
        }
        out[credentials_registry(kv.key())] = basic;
    }
    return out;
}

SignatureVerifier::SignatureVerifier(TrustConfig config) : config_(std::move(config)) {
    if (!config_.registry_credentials.empty()) {
        auto creds = load_registry_credentials(config_.registry_credentials);
        if (creds)
            credentials_ = std::move(creds).value();
        else
            credentials_problem_ = "registryCredentials " + creds.error();
    }
}

std::string SignatureVerifier::endpoint_for(const std::string &registry) const {
    for (const auto &[name, url] : config_.signature_registries)
        if (canonical_registry(name) == registry) {
            std::string u = url;
            while (!u.empty() && u.back() == '/')
                u.pop_back();
            return u;
        }
    if (registry == "docker.io")
        return "https://registry-1.docker.io";
    return "https://" + registry;
}

TrustVerdict SignatureVerifier::verify(const TrustCheck &check) {
    std::string key = check.match_name + "@" + check.digest + "#" + check.rule->key_set;
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        if (auto it = cache_.find(key); it != cache_.end()) {
            if (it->second.expires > now) {
                ++hits_;
                TrustVerdict v = it->second.verdict;
                v.cached = true;
                return v;
            }
            cache_.erase(it);
        }
        ++misses_;
    }
    TrustVerdict v;
    try {
        v = fetch_and_verify(check);
    } catch (const std::exception &e) {
        v.state = TrustVerdict::State::Unavailable;
        v.reason = std::string("internal error: ") + e.what();
    }
    if (v.state != TrustVerdict::State::Unavailable) {
        std::lock_guard lock(mutex_);
        if (cache_.size() >= kMaxCachedVerdicts)
            cache_.clear();
        cache_[key] = {
            v, std::chrono::steady_clock::now() +
                   (v.state == TrustVerdict::State::Verified ? kVerifiedTtl : kRejectedTtl)};
    }
    return v;
}

TrustVerdict SignatureVerifier::fetch_and_verify(const TrustCheck &check) {
    TrustVerdict v;
    auto unavailable = [&](std::string reason) {
        v.state = TrustVerdict::State::Unavailable;
        v.reason = std::move(reason);
        return v;
    };
    if (!credentials_problem_.empty())
        return unavailable(credentials_problem_);
    if (!is_sha256_digest(check.digest))
        return unavailable("\"" + check.digest.substr(0, 80) + "\" is not a sha256 digest");
    std::string endpoint = endpoint_for(check.registry);
    std::string creds;
    if (auto it = credentials_.find(check.registry); it != credentials_.end())
        creds = it->second;
    RegistryReader reader(endpoint, check.path, creds, config_.certs_dir,
                          std::chrono::steady_clock::now() +
                              std::chrono::seconds(config_.timeout_seconds));
    auto read_blob = [&](const std::string &digest, std::size_t limit) -> Result<std::string> {
        auto r = reader.get("blobs/" + digest, "*/*", limit);
        if (!r)
            return Error{r.error()};
        if (r.value().status != 200)
            return Error{status_text(r.value())};
        return std::move(r.value().body);
    };
    std::string where = check.match_name + ":sha256-" + check.digest.substr(7) + ".sig";
    auto tag = reader.get("manifests/sha256-" + check.digest.substr(7) + ".sig", kManifestAccept,
                          kMaxSignatureManifestBytes);
    if (!tag)
        return unavailable("cannot read " + where + " from " + endpoint + ": " + tag.error());
    if (tag.value().status == 200) {
        v = verify_signature_manifest(tag.value().body, read_blob, check);
        if (v.state != TrustVerdict::State::Verified && !v.reason.empty())
            v.reason = where + ": " + v.reason;
        return v;
    }
    if (tag.value().status != 404)
        return unavailable("cannot read " + where + " from " + endpoint + ": " +
                           status_text(tag.value()));
    // No signature tag: cosign's OCI 1.1 mode keeps signatures as referrers of the digest.
    auto referrers =
        reader.get("referrers/" + check.digest, "application/vnd.oci.image.index.v1+json",
                   kMaxSignatureManifestBytes);
    if (!referrers)
        return unavailable("cannot read the referrers of " + check.digest + " from " + endpoint +
                           ": " + referrers.error());
    std::string none = "no cosign signature: " + where + " does not exist";
    if (referrers.value().status == 404) {
        v.state = TrustVerdict::State::Rejected;
        v.reason = none + " and the registry serves no referrers for it";
        return v;
    }
    if (referrers.value().status != 200)
        return unavailable("cannot read the referrers of " + check.digest + ": " +
                           status_text(referrers.value()));
    auto digests = parse_referrers_index(referrers.value().body);
    v.state = TrustVerdict::State::Rejected;
    v.reason = none + " and no referrer is a cosign signature";
    if (!digests) {
        v.reason = "the referrers of " + check.digest + ": " + digests.error();
        return v;
    }
    for (const auto &d : digests.value()) {
        auto m = reader.get("manifests/" + d, kManifestAccept, kMaxSignatureManifestBytes);
        if (!m)
            return unavailable("cannot read the signature " + d + ": " + m.error());
        if (m.value().status != 200)
            return unavailable("cannot read the signature " + d + ": " + status_text(m.value()));
        if (sha256_digest(m.value().body) != d) {
            v.reason = "the referrer " + d + " does not match its digest";
            continue;
        }
        TrustVerdict r = verify_signature_manifest(m.value().body, read_blob, check);
        if (r.state != TrustVerdict::State::Rejected)
            return r;
        v.reason = "the referrer " + d + ": " + r.reason;
    }
    return v;
}

} // namespace imagegate
