// In-process benchmarks of the decision path (issue 7): reference parsing, pull decisions with
// policies of every size, AuthZ request parsing and classification, policy load and swap.
// The generated policies come from bench/generate_policy.py; bench/run.sh passes their paths in
// IMAGEGATE_BENCH_POLICY_10K and IMAGEGATE_BENCH_POLICY_100K (benchmarks that need a missing
// one are skipped).
#include "samples.hpp"

#include "decision_log/writer.hpp"
#include "distribution/policy_store.hpp"
#include "policy/authz_request.hpp"
#include "policy/classify.hpp"
#include "policy/decide.hpp"
#include "policy/policy.hpp"
#include "policy/reference.hpp"
#include "server/authz_service.hpp"
#include "server/metrics.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

using namespace imagegate;

std::string read_file(const char *path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return {};
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The policy text named by an environment variable ("" for the shipped default), read once.
const std::string *policy_text(const std::string &env) {
    static std::map<std::string, std::string> texts;
    auto it = texts.find(env);
    if (it == texts.end()) {
        if (env.empty()) {
            it = texts.emplace(env, std::string(default_policy_json())).first;
        } else {
            const char *path = std::getenv(env.c_str());
            it = texts.emplace(env, path ? read_file(path) : std::string()).first;
        }
    }
    return it->second.empty() ? nullptr : &it->second;
}

// Loaded policies, kept for the whole run so each is loaded once.
std::shared_ptr<const Policy> policy_for(const std::string &env) {
    static std::map<std::string, std::shared_ptr<const Policy>> loaded;
    auto it = loaded.find(env);
    if (it != loaded.end())
        return it->second;
    const std::string *text = policy_text(env);
    std::shared_ptr<const Policy> policy;
    if (text)
        policy = load_policy(*text, false).policy;
    loaded.emplace(env, policy);
    return policy;
}

const char *const kReferences[] = {
    "alpine",
    "acme-team-04321/app:1.4.2",
    "ghcr.io/acme/tools/"
    "builder@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "registry.acme.example:5000/acme/team/service:v2.31.7-rc1",
};

void BM_ParseReference(benchmark::State &state) {
    const char *text = kReferences[state.range(0)];
    state.SetLabel(text);
    for (auto _ : state) {
        auto result = parse_reference(text);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_ParseReference)->DenseRange(0, 3);

// Pull decisions: an official image, an organization image, a verified publisher's image and
// a community image (denied, so the message is built), for the socket's user ("") and for a
// team member whose grants come from the access policies.
struct PullCase {
    const char *reference;
    const char *user;
};
const PullCase kPullCases[] = {
    {"alpine:3.19", ""},
    {"acme-team-04321/app:1.4.2", ""},
    {"publisher-01234/server:2", "user-00001"},
    {"someone/tool:latest", "user-00042"},
};

void decide_pull(benchmark::State &state, const std::string &env) {
    auto policy = policy_for(env);
    if (!policy) {
        state.SkipWithError(("no policy: set " + env).c_str());
        return;
    }
    const PullCase &c = kPullCases[state.range(0)];
    state.SetLabel(std::string(c.reference) + (*c.user ? " as " : "") + c.user);
    for (auto _ : state) {
        auto decision = decide_image(Action::Pull, c.reference, c.user, *policy);
        benchmark::DoNotOptimize(decision);
    }
}
void BM_DecidePull_DefaultPolicy(benchmark::State &state) {
    decide_pull(state, "");
}
void BM_DecidePull_10kPolicy(benchmark::State &state) {
    decide_pull(state, "IMAGEGATE_BENCH_POLICY_10K");
}
void BM_DecidePull_100kPolicy(benchmark::State &state) {
    decide_pull(state, "IMAGEGATE_BENCH_POLICY_100K");
}
BENCHMARK(BM_DecidePull_DefaultPolicy)->DenseRange(0, 3);
BENCHMARK(BM_DecidePull_10kPolicy)->DenseRange(0, 3);
BENCHMARK(BM_DecidePull_100kPolicy)->DenseRange(0, 3);

const std::string &create_message() {
    static const std::string message = bench::authz_create_request(1024);
    return message;
}

void BM_ParseAuthzRequest_Create1K(benchmark::State &state) {
    const std::string &message = create_message();
    for (auto _ : state) {
        auto request = parse_authz_request(message);
        benchmark::DoNotOptimize(request);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * message.size()));
}
BENCHMARK(BM_ParseAuthzRequest_Create1K);

void BM_ParseAndClassify_Create1K(benchmark::State &state) {
    const std::string &message = create_message();
    for (auto _ : state) {
        auto request = parse_authz_request(message);
        if (!request) {
            state.SkipWithError(request.error().c_str());
            return;
        }
        auto classified = classify_request(*request);
        benchmark::DoNotOptimize(classified);
    }
}
BENCHMARK(BM_ParseAndClassify_Create1K);

// What serve does per AuthZReq, minus the socket: parse, classify and decide.
void BM_ParseAndDecideRequest_Create1K_10kPolicy(benchmark::State &state) {
    auto policy = policy_for("IMAGEGATE_BENCH_POLICY_10K");
    if (!policy) {
        state.SkipWithError("no policy: set IMAGEGATE_BENCH_POLICY_10K");
        return;
    }
    DecisionContext context;
    context.policy = policy.get();
    context.protected_paths = {
        "/run/docker.sock", "/var/run/docker.sock", "/run/docker/plugins/imagegate.sock",
        "/etc/imagegate",   "/var/lib/imagegate",   "/var/log/imagegate"};
    const std::string &message = create_message();
    for (auto _ : state) {
        auto request = parse_authz_request(message);
        if (!request) {
            state.SkipWithError(request.error().c_str());
            return;
        }
        auto decision = decide_request(*request, context);
        benchmark::DoNotOptimize(decision);
    }
}
BENCHMARK(BM_ParseAndDecideRequest_Create1K_10kPolicy);

// What a serving thread does per AuthZReq once the HTTP request is read: AuthzService::handle,
// with metrics and a decision log (asynchronous, on tmpfs when there is one), minus the socket.
void BM_HandleRequest_Create1K_10kPolicy(benchmark::State &state) {
    auto policy = policy_for("IMAGEGATE_BENCH_POLICY_10K");
    if (!policy) {
        state.SkipWithError("no policy: set IMAGEGATE_BENCH_POLICY_10K");
        return;
    }
    std::string dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string log_path = dir + "/imagegate-micro-bench-" + std::to_string(::getpid()) + ".jsonl";
    {
        Config config;
        config.socket = "/run/docker/plugins/imagegate.sock";
        config.decision_log = log_path;
        PolicyStore store;
        store.publish(
            std::make_shared<const ActivePolicy>(ActivePolicy{policy, "file:bench", Clock::now()}));
        Metrics metrics;
        DecisionLog log(log_path, 64 * 1024 * 1024, 0, true);
        AuthzService service(config, store, metrics, log, nullptr);
        const std::string &message = create_message();
        for (auto _ : state) {
            auto reply = service.handle("POST", "/AuthZPlugin.AuthZReq", message);
            benchmark::DoNotOptimize(reply);
        }
        log.flush();
    }
    std::filesystem::remove(log_path);
}
BENCHMARK(BM_HandleRequest_Create1K_10kPolicy);

// Loading a policy and swapping it in, as a reload does (distribution/policy_store.hpp).
void load_and_swap(benchmark::State &state, const std::string &env) {
    const std::string *text = policy_text(env);
    if (!text) {
        state.SkipWithError(("no policy: set " + env).c_str());
        return;
    }
    std::atomic<std::shared_ptr<const Policy>> current;
    for (auto _ : state) {
        PolicyLoad load = load_policy(*text, false);
        if (!load.policy) {
            state.SkipWithError("the policy does not load");
            return;
        }
        // The old policy is released outside the timed region in serve (the last reader
        // drops it), so do not time its destruction here either.
        auto previous = current.exchange(std::move(load.policy));
        state.PauseTiming();
        previous.reset();
        state.ResumeTiming();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text->size()));
}
void BM_LoadAndSwapPolicy_10k(benchmark::State &state) {
    load_and_swap(state, "IMAGEGATE_BENCH_POLICY_10K");
}
void BM_LoadAndSwapPolicy_100k(benchmark::State &state) {
    load_and_swap(state, "IMAGEGATE_BENCH_POLICY_100K");
}
BENCHMARK(BM_LoadAndSwapPolicy_10k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadAndSwapPolicy_100k)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
