// A small blocking client for dockerd's API over its Unix socket: what the decision needs to
// know about the host (user namespaces, an image's names and user, a volume's bind device).
#pragma once
#include "policy/decide.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace imagegate {

class DockerClient {
  public:
    // Bounds the lookups of one decision: each lookup given this Budget waits at most until its
    // deadline, and none starts after it (exhausted() then says so). dockerd has no timeout for
    // authorization plugins, so this is what stops a request that asks about thousands of
    // containers from holding a docker command for minutes. A per-request value, passed to each
    // lookup.
    class Budget {
      public:
        explicit Budget(std::chrono::milliseconds limit)
            : deadline_(std::chrono::steady_clock::now() + limit) {}
        bool exhausted() const { return exhausted_; }
        int lookups() const { return lookups_; }

      private:
        friend class DockerClient;
        std::chrono::steady_clock::time_point deadline_;
        bool exhausted_ = false;
        int lookups_ = 0;
    };

    explicit DockerClient(std::vector<std::string> sockets, int timeout_ms = 2000);
    // GET path on the first socket that answers; nullopt when none does or the reply is not JSON.
    std::optional<boost::json::value> get_json(const std::string &path, int *status = nullptr,
                                               Budget *budget = nullptr) const;

    // dockerd's SecurityOptions has name=userns (or name=rootless). Cached; refreshed by
    // refresh_info().
    std::optional<bool> userns_remapped();
    void refresh_info();
    void invalidate_info() { info_known_ = false; }

    ImageLookup image_names(std::string_view id, Budget *budget = nullptr) const;
    std::optional<std::string> image_user(std::string_view image, Budget *budget = nullptr) const;
    // Bind devices of these named volumes: a few are asked about one by one, many with one
    // GET /volumes, so that a create naming thousands costs dockerd one answer.
    std::optional<VolumeDevices> volume_devices(const std::vector<std::string> &volumes,
                                                Budget *budget = nullptr) const;
    ContainerLookup container(std::string_view id, Budget *budget = nullptr) const;
    // Those of `names` that may name a host-driver network: one GET /networks (dockerd's and
    // swarm's networks), matched as dockerd and swarm resolve a name (exact ID, exact name,
    // ID prefix; a prefix counts even where it is ambiguous). nullopt: no answer.
    std::optional<std::vector<std::string>> host_networks(const std::vector<std::string> &names,
                                                          Budget *budget = nullptr) const;
    // A per-process secret sent with every lookup (X-Imagegate-Lookup), so that imagegate can
    // recognise its own requests when dockerd asks it about them.
    const std::string &lookup_token() const { return lookup_token_; }

  private:
    std::vector<std::string> sockets_;
    std::string lookup_token_;
    int timeout_ms_;
    std::atomic<bool> info_known_{false};
    std::atomic<bool> userns_{false};
    std::mutex info_mutex_;
};

// Percent-encodes a path segment (image references keep '/' and ':').
std::string escape_path(std::string_view s);

} // namespace imagegate
