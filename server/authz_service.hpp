// The AuthZ plugin endpoints (docs/authz-protocol.md §1): turns a message into a decision,
// a reply, a log line and a counter. Every failure inside ends in a deny (fail closed).
#pragma once
#include "trust/verifier.hpp"

#include "common/config.hpp"
#include "decision_log/writer.hpp"
#include "distribution/policy_store.hpp"
#include "policy/active_policy.hpp"
#include "policy/decide.hpp"
#include "server/docker_client.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include <memory>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace imagegate {

class AuthzService {
  public:
    AuthzService(const Config &config, PolicyStore &store, Metrics &metrics, DecisionLog &log,
                 DockerClient *docker);
    // One plugin request, its decision recorded (log line, counters) before it returns.
    HttpReply handle(std::string_view method, std::string_view target, std::string_view body);

    // For the plugin socket: handle() whose reply to an AuthZReq records the decision in its
    // `after` step, which the server runs once the reply is on its way to dockerd.
    HttpReply handle_then_record(std::string_view method, std::string_view target,
                                 std::string_view body);

    // The decision itself: decide_request (policy/decide.hpp) unless a test puts another in, to
    // reach the fail-closed branches (an exception inside the decision).
    using DecideFunction = std::function<Decision(const AuthzRequest &, const DecisionContext &)>;
    void set_decide_function(DecideFunction decide) { decide_ = std::move(decide); }
    // How long one decision may spend asking dockerd (default 5 s; tests shorten it).
    void set_lookup_budget(std::chrono::milliseconds budget) { lookup_budget_ = budget; }
    // Asked before a build the policy allows: "" when it may go on, else why not (the registry
    // gateway's loopback guard is not in place: docs/gateway.md, "Loopback registries").
    using BuildCheck = std::function<std::string()>;
    void set_build_check(BuildCheck check) { build_check_ = std::move(check); }

  private:
    // A decision and what its log line and counters need.
    struct Record {
        Decision decision;
        LogContext context;
        double seconds = 0;
    };
    std::string decide(std::string_view body, Record &record); // the reply for dockerd
    Decision decide_parsed(const AuthzRequest &request, const ActivePolicy *active);
    void record(const Record &record);

    const Config &config_;
    PolicyStore &store_;
    Metrics &metrics_;
    DecisionLog &log_;
    DockerClient *docker_;
    // Everything a decision reads besides the policy, built once in the constructor.
    DecisionContext environment_;
    std::shared_ptr<SignatureVerifier> verifier_; // trust rules' signature checks (docs/trust.md)
    DecideFunction decide_ = decide_request;
    BuildCheck build_check_;
    // How long one decision may spend asking dockerd (containers lent by --volumes-from,
    // volumes, images by ID). dockerd waits for an authorization plugin for ever; imagegate
    // does not.
    std::chrono::milliseconds lookup_budget_{5000};
};

// What imagegate itself uses and containers must never see (docs/hardening.md).
std::vector<std::string> imagegate_protected_paths(const Config &config);

} // namespace imagegate
