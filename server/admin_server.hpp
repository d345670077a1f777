// The root-only admin socket (README, `adminSocket`): GET /status, the JSON that
// `imagegate status --json` prints, and GET /metrics in Prometheus text format. It is a
// separate Unix socket from the plugin's, mode 0600 in a 0700 directory.
//
//   AdminServer admin(config, store, metrics);
//   admin.start();   // binds, then serves in its own thread; false (logged) if it cannot
//   admin.stop();    // also done by the destructor; removes the socket file
#pragma once
#include "common/config.hpp"
#include "distribution/policy_store.hpp"
#include "server/metrics.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace imagegate {

// The /status document (see docs/policy-distribution.md for its keys).
std::string status_json(const Config &config, const PolicyStore &store, const Metrics &metrics,
                        Clock::time_point now);
// The gauges /metrics shows, from the policy in force.
PolicyGauges policy_gauges(const PolicyStore &store, Clock::time_point now);

class AdminServer {
  public:
    AdminServer(const Config &config, PolicyStore &store, Metrics &metrics);
    ~AdminServer();
    AdminServer(const AdminServer &) = delete;
    AdminServer &operator=(const AdminServer &) = delete;

    bool start();
    void stop();

  private:
    class HttpServer;
    Config config_;
    PolicyStore &store_;
    Metrics &metrics_;
    std::unique_ptr<HttpServer> server_;
    std::thread thread_;
    std::atomic<bool> listen_returned_{false};
    bool bound_ = false;
};

} // namespace imagegate
