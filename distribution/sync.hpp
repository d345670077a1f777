// The organization policy from `policyUrl` (docs/policy-distribution.md): the verified cache under
// `cacheDir` first, then HTTPS fetches every `refreshSeconds`, each bundle checked (signature,
// organization, serial) before it is cached atomically and published into the PolicyStore.
//
//   PolicySync sync(config, store);
//   sync.start();    // loads the cache now (so a host without network enforces at once),
//                    // then fetches in a background thread
//   sync.trigger();  // SIGHUP: fetch now
//   sync.stop();     // also done by the destructor
#pragma once
#include "common/config.hpp"
#include "distribution/bundle.hpp"
#include "distribution/policy_store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace imagegate {

inline constexpr std::chrono::seconds kFetchConnectTimeout{10};
inline constexpr std::chrono::seconds kFetchReadTimeout{
    15}; // per read: a server that stops answering
inline constexpr std::chrono::seconds kFetchDeadline{
    120}; // a whole fetch, however slowly it trickles
inline constexpr std::chrono::seconds kFirstRetryDelay{10}; // then doubling, up to refreshSeconds

// What the cache directory remembers besides the bundle itself.
struct CacheState {
    std::string organization; // the pin: set by the first accepted bundle
    std::optional<std::int64_t>
        highest_serial; // never accept lower, even if the bundle file is lost
    std::string url;    // the URL the ETag belongs to
    std::string etag;
    std::string bundle_sha256;     // ties the ETag and last sync to the cached bundle
    Clock::time_point last_sync{}; // last successful fetch or 304
};

struct CachedPolicy {
    AcceptedBundle bundle;
    CacheState state;
    std::string path; // the bundle file
    Clock::time_point
        synced_at{}; // state.last_sync, or the bundle's mtime when the state is not its own
};

// The verified cached policy, for serve at start, `policy sync` and `containerd-verify`
// (which never fetches). No cache is an error too ("no cached policy in DIR").
// `state` receives what the state file says even when the bundle is unusable.
Result<CachedPolicy> load_policy_cache(const Config &config, CacheState *state = nullptr);

// One HTTP exchange, as the sync needs it; the seam a unit test replaces.
struct FetchRequest {
    std::string url;
    std::string if_none_match; // empty: unconditional
};
struct FetchResponse {
    std::string error; // transport failure, timeout, over the size limit...: non-empty
    int status = 0;
    std::string etag;
    std::string body;
};
using BundleFetcher = std::function<FetchResponse(const FetchRequest &)>;

// Lets PolicySync::stop() cut a fetch short instead of waiting for its timeouts.
class FetchInterrupt {
  public:
    void interrupt(); // the fetch in progress and every later one
    bool interrupted() const { return interrupted_.load(); }
    void set_current(std::function<void()> stop_fetch); // by fetch_https; empty when done

  private:
    std::mutex mutex_;
    std::function<void()> stop_fetch_;
    std::atomic<bool> interrupted_{false};
};

// HTTPS with certificate verification, `caFile` instead of the system CAs when set, the
// timeouts and kMaxBundleBytes above; no redirects (configure the final URL).
FetchResponse fetch_https(const Config &config, const FetchRequest &request,
                          FetchInterrupt *interrupt = nullptr);

struct SyncOutcome {
    bool ok = false;
    std::string result; // "ok: serial 42", "not modified", or why the new policy was refused
};

class PolicySync {
  public:
    PolicySync(const Config &config, PolicyStore &store);
    PolicySync(const Config &config, PolicyStore &store, BundleFetcher fetcher);
    ~PolicySync();
    PolicySync(const PolicySync &) = delete;
    PolicySync &operator=(const PolicySync &) = delete;

    void start();
    void trigger();
    void stop();

    // `imagegate policy sync`: the cache, then one fetch, in the calling thread.
    SyncOutcome sync_once();

  private:
    void load_cache();
    SyncOutcome fetch_and_apply();
    std::optional<std::string> write_cache(const AcceptedBundle &bundle,
                                           const std::string &bundle_bytes, const std::string &etag,
                                           Clock::time_point now);
    void run();
    std::chrono::milliseconds delay_after(bool ok);
    std::string organization_pin() const;

    Config config_;
    PolicyStore &store_;
    BundleFetcher fetcher_;
    CacheState state_;                     // the worker thread's view of the cache
    std::shared_ptr<const Policy> loaded_; // what this sync published, if anything
    int consecutive_failures_ = 0;
    std::mt19937 random_{std::random_device{}()};

    std::mutex mutex_;
    std::condition_variable wake_;
    bool triggered_ = false;
    std::atomic<bool> stopping_{false};
    FetchInterrupt interrupt_;
    std::thread worker_;
};

} // namespace imagegate
