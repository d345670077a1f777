// server/metrics.cpp: lock-free decision counters and their Prometheus text.
#include "server/metrics.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace imagegate;

TEST_CASE("decisions are counted by action, category and outcome") {
    Metrics metrics;
    metrics.record_decision("image.pull", "community", false, 0.00002);
    metrics.record_decision("image.pull", "community", false, 0.00002);
    metrics.record_decision(Action::Run, Category::DockerOfficial, true, 0.0003);
    std::string text = metrics.prometheus_text({});
    CHECK(text.find("imagegate_decisions_total{action=\"image.pull\",category=\"community\","
                    "decision=\"deny\",cause=\"none\"} 2\n") != std::string::npos);
    CHECK(text.find("imagegate_decisions_total{action=\"image.run\",category=\"docker-official\","
                    "decision=\"allow\"} 1\n") != std::string::npos);
    CHECK(text.find("imagegate_decisions_total{action=\"image.push\",category=\"none\",decision="
                    "\"allow\"} 0\n") != std::string::npos);
    DecisionTotals totals = metrics.totals();
    CHECK(totals.allowed == 1);
    CHECK(totals.denied == 2);
}

TEST_CASE("unknown action and category names count as other and none") {
    Metrics metrics;
    metrics.record_decision("containers.create", "weird", true, 0);
    CHECK(metrics.prometheus_text({}).find("imagegate_decisions_total{action=\"other\",category="
                                           "\"none\",decision=\"allow\"} 1\n") !=
          std::string::npos);
}

TEST_CASE("the duration histogram is cumulative, with +Inf, sum and count") {
    Metrics metrics;
    metrics.record_decision(Action::Pull, Category::None, true, 0.000005); // first bucket
    metrics.record_decision(Action::Pull, Category::None, true, 0.002);    // le 0.0025
    metrics.record_decision(Action::Pull, Category::None, true, 5.0);      // only +Inf
    metrics.record_decision(Action::Pull, Category::None, true, -1.0); // a clock step: first bucket
    std::string text = metrics.prometheus_text({});
    CHECK(text.find("imagegate_decision_duration_seconds_bucket{le=\"1e-05\"} 2\n") !=
          std::string::npos);
    CHECK(text.find("imagegate_decision_duration_seconds_bucket{le=\"0.001\"} 2\n") !=
          std::string::npos);
    CHECK(text.find("imagegate_decision_duration_seconds_bucket{le=\"0.0025\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("imagegate_decision_duration_seconds_bucket{le=\"1\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("imagegate_decision_duration_seconds_bucket{le=\"+Inf\"} 4\n") !=
          std::string::npos);
    CHECK(text.find("imagegate_decision_duration_seconds_count 4\n") != std::string::npos);
    CHECK(text.find("imagegate_decision_duration_seconds_sum 5.002005\n") != std::string::npos);
}

TEST_CASE("policy gauges: absent without a policy, shown with one") {
    Metrics metrics;
    metrics.record_internal_error();
    std::string none = metrics.prometheus_text({});
    CHECK(none.find("\nimagegate_policy_serial ") == std::string::npos);
    CHECK(none.find("\nimagegate_policy_age_seconds ") == std::string::npos);
    CHECK(none.find("imagegate_policy_sync_failures_total 0\n") != std::string::npos);
    CHECK(none.find("imagegate_internal_errors_total 1\n") != std::string::npos);
    std::string some = metrics.prometheus_text({42, 12.5, 3});
    CHECK(some.find("imagegate_policy_serial 42\n") != std::string::npos);
    CHECK(some.find("imagegate_policy_age_seconds 12.5\n") != std::string::npos);
    CHECK(some.find("imagegate_policy_sync_failures_total 3\n") != std::string::npos);
    CHECK(metrics.totals().internal_errors == 1);
}

TEST_CASE("counting from many threads loses nothing") {
    Metrics metrics;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&metrics, t] {
            for (int i = 0; i < 10000; ++i)
                metrics.record_decision(Action::Pull, Category::Community, t % 2 == 0, 1e-6);
        });
    }
    for (auto &thread : threads)
        thread.join();
    CHECK(metrics.totals().allowed == 40000);
    CHECK(metrics.totals().denied == 40000);
    CHECK(metrics.prometheus_text({}).find("imagegate_decision_duration_seconds_count 80000\n") !=
          std::string::npos);
}

TEST_CASE("denials are counted by cause") {
    Metrics metrics;
    metrics.record_decision(Action::Run, Category::None, false, 0, Cause::Hardening);
    metrics.record_decision(Action::Run, Category::None, false, 0, Cause::Hardening);
    metrics.record_decision(Action::Pull, Category::Community, false, 0, Cause::Registry);
    std::string text = metrics.prometheus_text({});
    CHECK(text.find("imagegate_decisions_total{action=\"image.run\",category=\"none\","
                    "decision=\"deny\",cause=\"hardening\"} 2\n") != std::string::npos);
    CHECK(text.find("imagegate_decisions_total{action=\"image.run\",category=\"none\","
                    "decision=\"deny\",cause=\"image\"} 0\n") != std::string::npos);
    CHECK(text.find("imagegate_decisions_total{action=\"image.pull\",category=\"community\","
                    "decision=\"deny\",cause=\"registry\"} 1\n") != std::string::npos);
    CHECK(metrics.totals().denied == 3);
}
