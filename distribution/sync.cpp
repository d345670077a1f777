// The policy cache and its HTTPS refresh (docs/policy-distribution.md).
#include "distribution/sync.hpp"
#include "common/files.hpp"
#include "common/time_text.hpp"

#include <boost/json.hpp>
#include <httplib.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace imagegate {
namespace json = boost::json;

namespace {

constexpr const char *kCacheLockFile = ".lock";
constexpr std::string_view kTempMarker = ".tmp.";
constexpr std::size_t kMaxStateBytes = 64 * 1024;

std::string errno_text(int error) {
    return std::strerror(error);
}

std::string join_path(const std::string &dir, std::string_view name) {
    if (!dir.empty() && dir.back() == '/')
        return dir + std::string(name);
    return dir + "/" + std::string(name);
}

// The cache directory: created 0700; one that someone else owns or can write is not trusted,
// since whoever can write it could put back an older signed bundle.
std::optional<std::string> prepare_cache_dir(const std::string &dir) {
    std::string partial;
    for (std::size_t pos = 0; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        partial = dir.substr(0, pos);
        if (partial.empty())
            continue;
        bool last = pos == std::string::npos || pos + 1 == dir.size();
        if (::mkdir(partial.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST) {
            return "cannot create " + partial + ": " + errno_text(errno);
        }
        if (last)
            break;
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        return "cannot use " + dir + ": " + errno_text(errno);
    if (!S_ISDIR(st.st_mode))
        return dir + " is not a directory";
    if (st.st_uid != ::geteuid()) {
        return dir + " is owned by uid " + std::to_string(st.st_uid) +
               ", not by this process's user";
    }
    if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
        return "cannot make " + dir + " private (mode 0700): " + errno_text(errno);
    }
    return std::nullopt;
}

// An exclusive flock on DIR/.lock: `serve` and `policy sync` (a timer) may write the same cache.
class CacheLock {
  public:
    explicit CacheLock(const std::string &dir) {
        fd_ = ::open(join_path(dir, kCacheLockFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ >= 0) {
            while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
            }
        }
    }
    ~CacheLock() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    CacheLock(const CacheLock &) = delete;
    CacheLock &operator=(const CacheLock &) = delete;

  private:
    int fd_ = -1;
};

// Leftovers of a write that a crash (kill -9, power loss) cut short.
void remove_stale_temp_files(const std::string &dir) {
    DIR *d = ::opendir(dir.c_str());
    if (d == nullptr)
        return;
    while (dirent *entry = ::readdir(d)) {
        std::string_view name = entry->d_name;
        if (name.starts_with(".") && name.find(kTempMarker) != std::string_view::npos) {
            ::unlinkat(::dirfd(d), entry->d_name, 0);
        }
    }
    ::closedir(d);
}

CacheState parse_state(std::string_view text, std::string &problem) {
    CacheState state;
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    const json::object *o = ec ? nullptr : doc.if_object();
    if (o == nullptr) {
        problem = "not a JSON object";
        return state;
    }
    auto string_of = [&](std::string_view key) -> std::string {
        const json::value *v = o->if_contains(key);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    state.organization = string_of("organization");
    state.url = string_of("url");
    state.etag = string_of("etag");
    state.bundle_sha256 = string_of("bundleSha256");
    if (const json::value *v = o->if_contains("highestSerial"); v && v->is_int64())
        state.highest_serial = v->get_int64();
    if (const json::value *v = o->if_contains("lastSync"); v && v->is_int64()) {
        state.last_sync = Clock::time_point(std::chrono::seconds(v->get_int64()));
    }
    return state;
}

std::string serialize_state(const CacheState &state) {
    json::object o;
    o["organization"] = state.organization;
    if (state.highest_serial)
        o["highestSerial"] = *state.highest_serial;
    o["url"] = state.url;
    o["etag"] = state.etag;
    o["bundleSha256"] = state.bundle_sha256;
    o["lastSync"] =
        std::chrono::duration_cast<std::chrono::seconds>(state.last_sync.time_since_epoch())
            .count();
    o["lastSyncTime"] = rfc3339(state.last_sync); // for people reading the file
    return json::serialize(o) + "\n";
}

CacheState read_state(const std::string &dir) {
    std::string path = join_path(dir, kCacheStateFile);
    bool missing = false;
    auto text = read_file(path, kMaxStateBytes, Links::Refuse, &missing);
    if (!text) {
        if (!missing)
            spdlog::warn("policy cache: cannot read {}: {}", path, text.error());
        return {};
    }
    std::string problem;
    CacheState state = parse_state(text.value(), problem);
    if (!problem.empty())
        spdlog::warn("policy cache: ignoring {}: {}", path, problem);
    return state;
}

struct HttpsUrl {
    std::string host;
    int port = 443;
    std::string target = "/";
};

Result<HttpsUrl> parse_https_url(std::string_view url) {
    constexpr std::string_view scheme = "https://";
    if (url.size() < scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), url.begin(), [](char a, char b) {
            return a == std::tolower(static_cast<unsigned char>(b));
        })) {
        return Error{"policyUrl must be an https:// URL: " + std::string(url)};
    }
    std::string_view rest = url.substr(scheme.size());
    std::size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    HttpsUrl out;
    if (end != std::string_view::npos) {
        std::string_view target = rest.substr(end);
        target = target.substr(0, target.find('#'));
        out.target = target.starts_with("/") ? std::string(target) : "/" + std::string(target);
    }
    if (authority.find('@') != std::string_view::npos)
        return Error{"policyUrl must not carry credentials"};
    std::string_view port;
    if (authority.starts_with("[")) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return Error{"policyUrl has a bad host: " + std::string(url)};
        out.host = std::string(authority.substr(1, close - 1));
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':')
                return Error{"policyUrl has a bad host: " + std::string(url)};
            port = authority.substr(close + 2);
        }
    } else {
        std::size_t colon = authority.find(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos)
            port = authority.substr(colon + 1);
    }
    if (out.host.empty())
        return Error{"policyUrl has no host: " + std::string(url)};
    if (!port.empty()) {
        int value = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || value > 65535)
                return Error{"policyUrl has a bad port: " + std::string(url)};
            value = value * 10 + (c - '0');
        }
        if (value == 0 || value > 65535)
            return Error{"policyUrl has a bad port: " + std::string(url)};
        out.port = value;
    }
    return out;
}

std::string describe_http_status(int status) {
    std::string text = "policy server answered HTTP " + std::to_string(status);
    switch (status) {
    case 401:
        text += " (Unauthorized)";
        break;
    case 403:
        text += " (Forbidden)";
        break;
    case 404:
        text += " (Not Found)";
        break;
    case 500:
        text += " (Internal Server Error)";
        break;
    case 502:
        text += " (Bad Gateway)";
        break;
    case 503:
        text += " (Service Unavailable)";
        break;
    default:
        if (status >= 300 && status < 400)
            text += " (a redirect: set policyUrl to the final URL)";
        break;
    }
    return text;
}

} // namespace

void FetchInterrupt::interrupt() {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
    if (stop_fetch_)
        stop_fetch_();
}

void FetchInterrupt::set_current(std::function<void()> stop_fetch) {
    std::lock_guard lock(mutex_);
    stop_fetch_ = std::move(stop_fetch);
}

FetchResponse fetch_https(const Config &config, const FetchRequest &request,
                          FetchInterrupt *interrupt) {
    FetchResponse out;
    auto url = parse_https_url(request.url);
    if (!url) {
        out.error = url.error();
        return out;
    }
    if (!config.ca_file.empty() && ::access(config.ca_file.c_str(), R_OK) != 0) {
        out.error = "cannot read caFile " + config.ca_file + ": " + errno_text(errno);
        return out;
    }
    httplib::SSLClient client(url->host, url->port);
    client.enable_server_certificate_verification(true);
    if (!config.ca_file.empty())
        client.set_ca_cert_path(config.ca_file); // replaces the system CAs
    client.set_connection_timeout(kFetchConnectTimeout);
    client.set_read_timeout(kFetchReadTimeout);
    client.set_write_timeout(kFetchConnectTimeout);
    client.set_keep_alive(false);
    client.set_follow_location(false);

    httplib::Headers headers{{"User-Agent", "imagegate/" IMAGEGATE_VERSION}};
    if (!request.if_none_match.empty())
        headers.emplace("If-None-Match", request.if_none_match);

    auto started = std::chrono::steady_clock::now();
    auto deadline = started + kFetchDeadline;
    std::string refusal;
    auto too_large = [&] {
        refusal =
            "bundle is larger than the limit of " + std::to_string(kMaxBundleBytes) + " bytes";
        return false;
    };
    if (interrupt) {
        if (interrupt->interrupted()) {
            out.error = "stopped";
            return out;
        }
        interrupt->set_current([&client] { client.stop(); });
    }
    auto result = client.Get(
        url->target, headers,
        [&](const httplib::Response &response) {
            if (response.status == 200 && response.has_header("Content-Length")) {
                // Refused before the body arrives; a malformed length is left to the receiver's
                // count.
                std::uint64_t length = 0;
                for (char c : response.get_header_value("Content-Length")) {
                    if (c < '0' || c > '9')
                        break;
                    length = std::min<std::uint64_t>(length * 10 + std::uint64_t(c - '0'),
                                                     kMaxBundleBytes + 1);
                }
                if (length > kMaxBundleBytes)
                    return too_large();
            }
            return !(interrupt && interrupt->interrupted());
        },
        [&](const char *data, std::size_t size) {
            if (out.body.size() + size > kMaxBundleBytes)
                return too_large();
            if (std::chrono::steady_clock::now() > deadline) {
                refusal = "the download took longer than " +
                          std::to_string(kFetchDeadline.count()) + " seconds";
                return false;
            }
            out.body.append(data, size);
            return !(interrupt && interrupt->interrupted());
        });
    if (interrupt)
        interrupt->set_current({});

    if (!refusal.empty()) {
        out.error = refusal;
        out.body.clear();
        return out;
    }
    if (!result) {
        httplib::Error error = result.error();
        out.error = "cannot fetch " + request.url + ": ";
        switch (error) {
        case httplib::Error::Connection:
            out.error += "cannot connect";
            break;
        case httplib::Error::ConnectionTimeout:
            out.error += "connection timed out";
            break;
        case httplib::Error::Read:
            if (std::chrono::steady_clock::now() - started >= kFetchReadTimeout) {
                out.error += "no answer within " + std::to_string(kFetchReadTimeout.count()) +
                             " seconds (timed out)";
            } else {
                out.error += "the connection broke before a complete answer";
            }
            break;
        case httplib::Error::SSLConnection:
            // httplib reports a handshake that never completes like one that failed.
            if (std::chrono::steady_clock::now() - started >= kFetchConnectTimeout) {
                out.error += "no TLS handshake within " +
                             std::to_string(kFetchConnectTimeout.count()) + " seconds (timed out)";
            } else {
                out.error += "TLS handshake failed";
            }
            break;
        case httplib::Error::SSLLoadingCerts:
            out.error += "cannot load the trusted CA certificates";
            break;
        case httplib::Error::SSLServerVerification: {
            long verify = client.get_openssl_verify_result();
            out.error += "server certificate not trusted";
            if (verify != X509_V_OK)
                out.error += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
            else
                out.error += " (name does not match " + url->host + ")";
            break;
        }
        case httplib::Error::Canceled:
            out.error += "stopped";
            break;
        default:
            out.error += httplib::to_string(error);
            break;
        }
        out.body.clear();
        return out;
    }
    out.status = result->status;
    out.etag = result->get_header_value("ETag");
    if (out.status != 200)
        out.body.clear();
    return out;
}

Result<CachedPolicy> load_policy_cache(const Config &config, CacheState *state_out) {
    // Whoever can write the cache directory could put back an older signed bundle and state.
    struct stat dir_stat {};
    if (::stat(config.cache_dir.c_str(), &dir_stat) == 0 &&
        ((dir_stat.st_uid != 0 && dir_stat.st_uid != ::geteuid()) ||
         (dir_stat.st_mode & 022) != 0)) {
        return Error{"cache directory " + config.cache_dir + " is not trusted: owned by uid " +
                     std::to_string(dir_stat.st_uid) + " or writable by others"};
    }
    CacheState state = read_state(config.cache_dir);
    if (state_out)
        *state_out = state;
    std::string path = join_path(config.cache_dir, kCacheBundleFile);
    bool missing = false;
    auto bytes = read_file(path, kMaxBundleBytes, Links::Refuse, &missing);
    if (!bytes) {
        if (missing)
            return Error{"no cached policy in " + config.cache_dir};
        return Error{"cannot read the cached policy " + bytes.error()};
    }
    auto key = SigningKey::load_public(config.public_key);
    if (!key)
        return Error{"cannot check the cached policy: " + key.error()};
    AcceptanceRules rules;
    rules.organization = !config.organization.empty() ? config.organization : state.organization;
    rules.minimum_serial = state.highest_serial;
    auto accepted = accept_bundle(bytes.value(), key.value(), rules);
    if (!accepted)
        return Error{"cached policy " + path + " is unusable: " + accepted.error()};

    CachedPolicy cached;
    cached.path = path;
    cached.state = state;
    if (state.bundle_sha256 == sha256_hex(bytes.value()) &&
        state.last_sync != Clock::time_point{}) {
        cached.synced_at = state.last_sync;
    } else {
        // The state file belongs to another write (a crash between the two renames): the
        // bundle's own mtime is when it was fetched, which never overstates its freshness.
        struct stat st {};
        ::stat(path.c_str(), &st);
        cached.synced_at = Clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
        cached.state.etag.clear();
        cached.state.bundle_sha256 = sha256_hex(bytes.value());
    }
    cached.bundle = std::move(accepted.value());
    return cached;
}

PolicySync::PolicySync(const Config &config, PolicyStore &store)
    : config_(config), store_(store), fetcher_([this](const FetchRequest &request) {
          return fetch_https(config_, request, &interrupt_);
      }) {}

PolicySync::PolicySync(const Config &config, PolicyStore &store, BundleFetcher fetcher)
    : config_(config), store_(store), fetcher_(std::move(fetcher)) {}

PolicySync::~PolicySync() {
    stop();
}

std::string PolicySync::organization_pin() const {
    return !config_.organization.empty() ? config_.organization : state_.organization;
}

void PolicySync::load_cache() {
    if (auto problem = prepare_cache_dir(config_.cache_dir)) {
        spdlog::error("policy cache: {}", *problem);
        store_.record_sync(false, "policy cache: " + *problem, Clock::now(), Clock::now());
        return;
    }
    {
        CacheLock lock(config_.cache_dir);
        remove_stale_temp_files(config_.cache_dir);
    }
    auto cached = load_policy_cache(config_, &state_);
    if (!cached) {
        if (state_.highest_serial || !state_.organization.empty()) {
            // A state without a usable bundle: keep its pin and serial floor, not its ETag.
            state_.etag.clear();
        }
        if (cached.error().starts_with("no cached policy")) {
            spdlog::info("policy cache: {}", cached.error());
        } else {
            spdlog::error("policy cache: {}; not used", cached.error());
            store_.record_sync(false, cached.error(), Clock::now(), Clock::now());
        }
        return;
    }
    const Policy &policy = *cached->bundle.policy;
    state_ = cached->state;
    if (!state_.highest_serial || *state_.highest_serial < policy.serial)
        state_.highest_serial = policy.serial;
    if (state_.organization.empty())
        state_.organization = policy.organization;
    if (state_.url != config_.policy_url)
        state_.etag.clear(); // the ETag of another URL means nothing here
    loaded_ = cached->bundle.policy;
    store_.publish(std::make_shared<const ActivePolicy>(
        ActivePolicy{loaded_, "cache:" + cached->path, cached->synced_at}));
    spdlog::info("policy cache: serial {} of {} from {}, last synced {}", policy.serial,
                 policy.organization, cached->path, rfc3339(cached->synced_at));
}

std::optional<std::string> PolicySync::write_cache(const AcceptedBundle &bundle,
                                                   const std::string &bundle_bytes,
                                                   const std::string &etag, Clock::time_point now) {
    if (auto problem = prepare_cache_dir(config_.cache_dir))
        return problem;
    CacheLock lock(config_.cache_dir);
    // Another writer (`imagegate policy sync` from a timer) may have cached a newer serial
    // since this process read the state: never write the cache backwards.
    CacheState on_disk = read_state(config_.cache_dir);
    if (on_disk.highest_serial && *on_disk.highest_serial > bundle.policy->serial) {
        return "the cache already holds serial " + std::to_string(*on_disk.highest_serial);
    }
    CacheState next = state_;
    next.organization = bundle.policy->organization;
    next.highest_serial = bundle.policy->serial;
    next.url = config_.policy_url;
    next.etag = etag;
    next.bundle_sha256 = sha256_hex(bundle_bytes);
    next.last_sync = now;
    auto cached_bytes =
        read_file(join_path(config_.cache_dir, kCacheBundleFile), kMaxBundleBytes, Links::Refuse);
    if (!cached_bytes ||
        cached_bytes.value() != bundle_bytes) { // an unchanged bundle is not rewritten
        if (auto written =
                write_file_atomically(join_path(config_.cache_dir, kCacheBundleFile), bundle_bytes);
            !written)
            return written.error();
    }
    if (auto written = write_file_atomically(join_path(config_.cache_dir, kCacheStateFile),
                                             serialize_state(next));
        !written)
        return written.error();
    state_ = next;
    return std::nullopt;
}

SyncOutcome PolicySync::fetch_and_apply() {
    Clock::time_point now = Clock::now();
    auto refuse = [&](std::string reason) {
        spdlog::warn("policy sync: {} (no new policy; {})", reason,
                     loaded_ ? "serial " + std::to_string(loaded_->serial) + " stays in force"
                             : std::string("no policy is in force"));
        return SyncOutcome{false, std::move(reason)};
    };
    if (config_.policy_url.empty())
        return refuse("no policyUrl configured");
    auto key = SigningKey::load_public(config_.public_key);
    if (!key)
        return refuse("cannot load publicKey: " + key.error());

    // `imagegate policy sync` (a timer) may share the cache: its accepted serial and pin bind
    // this process too.
    CacheState on_disk = read_state(config_.cache_dir);
    if (on_disk.highest_serial && on_disk.highest_serial > state_.highest_serial) {
        state_.highest_serial = on_disk.highest_serial;
    }
    if (state_.organization.empty())
        state_.organization = on_disk.organization;

    FetchRequest request{config_.policy_url, {}};
    bool cache_current = loaded_ && state_.url == config_.policy_url && !state_.etag.empty();
    if (cache_current)
        request.if_none_match = state_.etag;
    FetchResponse response = fetcher_(request);
    now = Clock::now();
    if (!response.error.empty())
        return refuse(response.error);

    if (response.status == 304 && cache_current) {
        // Unchanged: the policy in force is confirmed current, which resets its age.
        store_.publish(std::make_shared<const ActivePolicy>(
            ActivePolicy{loaded_, "url:" + config_.policy_url, now}));
        CacheState next = state_;
        next.last_sync = now;
        if (prepare_cache_dir(config_.cache_dir) == std::nullopt) {
            CacheLock lock(config_.cache_dir);
            // Unless another writer (`policy sync`) has cached a newer serial meanwhile.
            CacheState on_disk = read_state(config_.cache_dir);
            if (on_disk.bundle_sha256 == state_.bundle_sha256 || !on_disk.highest_serial ||
                *on_disk.highest_serial <= loaded_->serial) {
                if (auto written = write_file_atomically(
                        join_path(config_.cache_dir, kCacheStateFile), serialize_state(next));
                    !written) {
                    spdlog::warn("policy sync: not modified, but cannot record the sync time: {}",
                                 written.error());
                }
            }
        }
        state_ = next;
        spdlog::debug("policy sync: serial {} not modified", loaded_->serial);
        return {true, "not modified"};
    }
    if (response.status != 200)
        return refuse(describe_http_status(response.status));

    AcceptanceRules rules;
    rules.organization = organization_pin();
    rules.minimum_serial = state_.highest_serial;
    auto accepted = accept_bundle(response.body, key.value(), rules);
    if (!accepted)
        return refuse(accepted.error());
    const AcceptedBundle &bundle = accepted.value();
    for (const Diagnostic &warning : bundle.warnings)
        spdlog::warn("policy serial {}: {}", bundle.policy->serial, warning.str());

    // The new policy governs even when it cannot be cached: it may revoke access. The ETag is
    // kept only with a cache write, so the next sync downloads it again and retries.
    std::optional<std::string> cache_problem =
        write_cache(bundle, response.body, response.etag, now);
    if (cache_problem) {
        state_.highest_serial = std::max(state_.highest_serial.value_or(0), bundle.policy->serial);
        state_.organization = bundle.policy->organization;
        state_.etag.clear();
    }
    bool changed = !loaded_ || loaded_->source_text != bundle.policy->source_text;
    loaded_ = bundle.policy;
    store_.publish(std::make_shared<const ActivePolicy>(
        ActivePolicy{loaded_, "url:" + config_.policy_url, now}));
    std::string serial = "serial " + std::to_string(loaded_->serial);
    if (cache_problem) {
        spdlog::error("policy sync: {} of {} in force, but the cache was not written: {}", serial,
                      loaded_->organization, *cache_problem);
        return {false, serial + " in force, but not cached (" + *cache_problem + ")"};
    }
    if (changed)
        spdlog::info("policy sync: {} of {} in force (key {})", serial, loaded_->organization,
                     bundle.key_id);
    return {true, "ok: " + serial};
}

std::chrono::milliseconds PolicySync::delay_after(bool ok) {
    using std::chrono::milliseconds;
    milliseconds refresh = std::chrono::seconds(std::max<std::int64_t>(config_.refresh_seconds, 1));
    milliseconds delay = refresh;
    if (!ok) {
        delay = std::min<milliseconds>(kFirstRetryDelay, refresh);
        for (int i = 1; i < consecutive_failures_ && delay < refresh; ++i)
            delay *= 2;
        delay = std::min(delay, refresh);
    }
    // ±10% so that a fleet started together does not fetch together.
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    return milliseconds(static_cast<std::int64_t>(double(delay.count()) * jitter(random_)));
}

void PolicySync::run() {
    while (!stopping_) {
        Clock::time_point started = Clock::now(); // status shows when the attempt began
        SyncOutcome outcome;
        try {
            outcome = fetch_and_apply();
        } catch (const std::exception &e) { // never let a sync end the daemon
            spdlog::error("policy sync: internal error: {}", e.what());
            outcome = {false, std::string("internal error: ") + e.what()};
        }
        if (stopping_)
            break;
        consecutive_failures_ = outcome.ok ? 0 : consecutive_failures_ + 1;
        auto delay = delay_after(outcome.ok);
        store_.record_sync(outcome.ok, outcome.result, started, Clock::now() + delay);
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, delay, [this] { return triggered_ || stopping_; });
        triggered_ = false;
    }
}

void PolicySync::start() {
    load_cache();
    worker_ = std::thread([this] { run(); });
}

void PolicySync::trigger() {
    {
        std::lock_guard lock(mutex_);
        triggered_ = true;
    }
    wake_.notify_one();
}

void PolicySync::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    interrupt_.interrupt();
    wake_.notify_one();
    if (worker_.joinable())
        worker_.join();
}

SyncOutcome PolicySync::sync_once() {
    load_cache();
    Clock::time_point started = Clock::now();
    SyncOutcome outcome = fetch_and_apply();
    store_.record_sync(outcome.ok, outcome.result, started, started);
    return outcome;
}

} // namespace imagegate
