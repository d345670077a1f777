#include "server/authz_service.hpp"

#include "policy/authz_request.hpp"
#include "policy/decide.hpp"
#include "policy/paths.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <filesystem>

namespace imagegate {

namespace {
const std::string kActivateReply = R"({"Implements":["authz"]})";
const std::string kAllowReply = R"({"Allow":true})";

std::string deny_reply(std::string_view message) {
    return R"({"Allow":false,"Msg":)" + boost::json::serialize(boost::json::string(message)) + "}";
}

std::string parent_of(const std::string &path) {
    return std::filesystem::path(path).parent_path().string();
}

// Follows symlinks through the deepest existing ancestor, so "/tmp/link/new" where
// /tmp/link → /etc resolves to "/etc/new" even before "new" exists.
std::optional<std::string> resolve_host_path(std::string_view path) {
    std::string p = normalize_path(path);
    std::string rest;
    for (int depth = 0; depth < 256; ++depth) {
        char buf[PATH_MAX];
        if (::realpath(p.c_str(), buf))
            return normalize_path(std::string(buf) + rest);
        auto slash = p.rfind('/');
        if (slash == std::string::npos || p == "/")
            return std::nullopt;
        rest = p.substr(slash) + rest;
        p = slash == 0 ? "/" : p.substr(0, slash);
    }
    return std::nullopt;
}
} // namespace

std::vector<std::string> imagegate_protected_paths(const Config &c) {
    std::vector<std::string> paths = c.docker_sockets;
    paths.push_back("/var/run/docker.sock");
    paths.push_back("/run/docker.sock");
    paths.push_back("/run/containerd");
    paths.push_back("/var/lib/docker"); // other containers' filesystems and dockerd's state
    paths.push_back("/var/lib/containerd");
    paths.push_back(c.socket);
    paths.push_back(parent_of(c.socket));
    paths.push_back("/etc/imagegate");
    paths.push_back("/etc/docker");
    for (const auto *p : {&c.path, &c.policy_file, &c.public_key, &c.ca_file, &c.cache_dir,
                          &c.decision_log, &c.admin_socket})
        if (!p->empty())
            paths.push_back(*p);
    if (!c.decision_log.empty())
        paths.push_back(parent_of(c.decision_log));
    if (!c.admin_socket.empty())
        paths.push_back(parent_of(c.admin_socket));
    std::vector<std::string> out;
    for (auto &p : paths) {
        if (p.empty() || p.front() != '/')
            continue;
        out.push_back(normalize_path(p));
        if (auto real = resolve_host_path(p); real && *real != out.back())
            out.push_back(*real);
    }
    return out;
}

AuthzService::AuthzService(const Config &config, PolicyStore &store, Metrics &metrics,
                           DecisionLog &log, DockerClient *docker)
    : config_(config), store_(store), metrics_(metrics), log_(log), docker_(docker) {
    // What every decision of this service reads besides the policy: built once, never changed.
    std::string base = std::filesystem::path(config.socket).stem().string();
    environment_.protected_paths = imagegate_protected_paths(config);
    environment_.plugin_names_self = base.empty() ? "imagegate" : base;
    environment_.facts.resolve_path = resolve_host_path;
    verifier_ = std::make_shared<SignatureVerifier>(config.trust);
    environment_.facts.verify_signature = [verifier = verifier_](const TrustCheck &check) {
        return verifier->verify(check);
    };
    if (docker) {
        environment_.own_lookup_token = docker->lookup_token();
    }
}

HttpReply AuthzService::handle(std::string_view method, std::string_view target,
                               std::string_view body) {
    HttpReply reply = handle_then_record(method, target, body);
    if (reply.after) {
        reply.after();
        reply.after = nullptr;
    }
    return reply;
}

void AuthzService::record(const Record &r) {
    const Decision &decision = r.decision;
    Category category = decision.images.empty() ? Category::None : decision.images.front().category;
    metrics_.record_decision(decision.action, category, !decision.policy_denied, r.seconds,
                             decision.cause);
    try {
        if (!decision.images.empty() || decision.policy_denied)
            log_.write(decision, r.context);
    } catch (const std::exception &e) {
        spdlog::error("cannot write the decision log: {}", e.what());
    }
    if (decision.allow && decision.policy_denied)
        spdlog::info("audit: would deny: {}", decision.message);
}

HttpReply AuthzService::handle_then_record(std::string_view method, std::string_view target,
                                           std::string_view body) {
    if (method != "POST")
        return {405, deny_reply("imagegate: plugin endpoints take POST"), false};
    if (target == "/AuthZPlugin.AuthZReq") {
        // The decision's log line and counters once the reply is on its way: dockerd does not
        // wait for them.
        auto record = std::make_shared<Record>();
        HttpReply reply{200, decide(body, *record), false};
        reply.after = [this, record] { this->record(*record); };
        return reply;
    }
    // imagegate needs nothing from the response: answer without decoding it.
    if (target == "/AuthZPlugin.AuthZRes")
        return {200, kAllowReply, false};
    if (target == "/Plugin.Activate") {
        if (docker_)
            docker_->invalidate_info(); // dockerd (re)started: re-learn its settings
        return {200, kActivateReply, false};
    }
    return {404, R"({"Err":"imagegate: unknown plugin endpoint"})", false};
}

Decision AuthzService::decide_parsed(const AuthzRequest &request, const ActivePolicy *active) {
    DecisionContext ctx = environment_; // this request's: the environment and the policy now
    ctx.policy = active ? active->policy.get() : nullptr;
    ctx.policy_problem = policy_problem(active, config_.max_age_seconds, Clock::now());
    if (docker_ && ctx.policy && ctx.policy->hardening.user_namespaces_required)
        ctx.facts.userns_remapped = docker_->userns_remapped();
    // dockerd's answers, each lookup within this request's budget.
    DockerClient::Budget budget(lookup_budget_);
    if (DockerClient *docker = docker_) {
        DockerClient::Budget *b = &budget;
        ctx.facts.image_names = [docker, b](std::string_view id) {
            return docker->image_names(id, b);
        };
        ctx.facts.image_user = [docker, b](std::string_view image) {
            return docker->image_user(image, b);
        };
        ctx.facts.volume_devices = [docker, b](const std::vector<std::string> &v) {
            return docker->volume_devices(v, b);
        };
        ctx.facts.container = [docker, b](std::string_view id) { return docker->container(id, b); };
        ctx.facts.host_networks = [docker, b](const std::vector<std::string> &n) {
            return docker->host_networks(n, b);
        };
    }
    Decision decision = decide_(request, ctx);
    // dockerd pulls a build's FROM images itself; from a loopback registry Go never uses the
    // gateway, so only the loopback guard keeps them decided (docs/gateway.md).
    if (build_check_ && decision.action == Action::Build && !decision.policy_denied)
        if (std::string problem = build_check_(); !problem.empty())
            decision = deny_decision(
                std::move(decision), Cause::Registry,
                "imagegate: build denied: the registry gateway's loopback guard is not in place, "
                "so the build could pull from a loopback registry that nothing decides "
                "(docs/gateway.md, \"Loopback registries\"): " +
                    problem,
                ctx.policy);
    if (!budget.exhausted())
        return decision;
    // Whatever the lookups that did not happen would have said: fail closed.
    return deny_decision(std::move(decision), Cause::LookupBudget,
                         "imagegate: request denied: it could not be decided within " +
                             (lookup_budget_.count() % 1000 == 0
                                  ? std::to_string(lookup_budget_.count() / 1000) + " s ("
                                  : std::to_string(lookup_budget_.count()) + " ms (") +
                             std::to_string(budget.lookups()) +
                             " lookups of dockerd; the request names too many containers or "
                             "volumes, or dockerd is slow to answer)",
                         ctx.policy);
}

std::string AuthzService::decide(std::string_view body, Record &record) {
    auto started = std::chrono::steady_clock::now();
    auto active = store_.current();
    LogContext &log_context = record.context;
    if (active) {
        log_context.organization = active->policy->organization;
        log_context.policy_serial = active->policy->serial;
        log_context.audit = active->policy->mode == Mode::Audit;
    }
    Decision &decision = record.decision;
    try {
        auto request = parse_authz_request(body);
        if (!request) {
            decision = deny_decision(Decision{}, Cause::UnreadableRequest,
                                     "imagegate: request denied: " + request.error(), nullptr);
            spdlog::warn("unreadable AuthZ request: {}", request.error());
        } else {
            log_context.user = request->user;
            decision = decide_parsed(request.value(), active.get());
        }
    } catch (const std::exception &e) {
        metrics_.record_internal_error();
        spdlog::error("internal error while deciding: {}", e.what());
        decision = deny_decision(Decision{}, Cause::Internal,
                                 "imagegate: request denied: internal error (see imagegate's log)",
                                 nullptr);
    }
    record.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return !decision.allow ? deny_reply(decision.message.empty() ? "imagegate: request denied"
                                                                 : decision.message)
                           : kAllowReply;
}

} // namespace imagegate
