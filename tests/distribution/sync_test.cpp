// distribution/sync.cpp with the HTTPS fetch replaced by a value: which bundles are
// accepted, what is cached, what is published, what status says.
#include "distribution/sync.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace imagegate;
namespace fs = std::filesystem;

namespace {

std::string policy_json(std::string_view organization, int serial) {
    return "{\"organization\": \"" + std::string(organization) +
           "\", \"serial\": " + std::to_string(serial) + "}\n";
}

std::string read_text(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_text(const fs::path &path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// A temporary directory with a key pair and a configuration pointing into it.
struct World {
    fs::path dir;
    SigningKey key = SigningKey::generate().value();
    Config config;
    // What the fake server answers, and what it was asked.
    FetchResponse answer;
    std::vector<FetchRequest> requests;

    World() {
        std::string pattern = (fs::temp_directory_path() / "imagegate-sync-test.XXXXXX").string();
        dir = ::mkdtemp(pattern.data());
        write_text(dir / "org.pub", key.public_pem());
        config.policy_url = "https://policy.example/bundle";
        config.public_key = (dir / "org.pub").string();
        config.cache_dir = (dir / "cache").string();
        config.refresh_seconds = 3600;
    }
    ~World() { fs::remove_all(dir); }

    BundleFetcher fetcher() {
        return [this](const FetchRequest &request) {
            requests.push_back(request);
            if (!request.if_none_match.empty() && request.if_none_match == answer.etag &&
                answer.status == 200) {
                return FetchResponse{{}, 304, answer.etag, {}};
            }
            return answer;
        };
    }
    void serve(std::string_view organization, int serial, std::string etag = "") {
        answer = FetchResponse{{}, 200, etag, sign_bundle(policy_json(organization, serial), key)};
    }
    fs::path cached_bundle() const { return fs::path(config.cache_dir) / kCacheBundleFile; }
};

} // namespace

TEST_CASE("an accepted bundle is cached (0600 in a 0700 directory) and published as url:") {
    World world;
    world.serve("acme", 5, "\"v5\"");
    PolicyStore store;
    PolicySync sync(world.config, store, world.fetcher());
    SyncOutcome outcome = sync.sync_once();
    CHECK(outcome.ok);
    CHECK(outcome.result == "ok: serial 5");
    REQUIRE(store.current());
    CHECK(store.current()->policy->serial == 5);
    CHECK(store.current()->source == "url:https://policy.example/bundle");
    CHECK(read_text(world.cached_bundle()) == world.answer.body);
    CHECK((fs::status(world.cached_bundle()).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
    CHECK((fs::status(world.config.cache_dir).permissions() & fs::perms::all) ==
          fs::perms::owner_all);
    CHECK(store.sync_status().last_ok);
    CHECK(store.sync_status().last_result == "ok: serial 5");
}

TEST_CASE("an unchanged bundle is asked for with If-None-Match and not downloaded again") {
    World world;
    world.serve("acme", 5, "\"v5\"");
    PolicyStore store;
    PolicySync(world.config, store, world.fetcher()).sync_once();
    PolicyStore restarted;
    SyncOutcome outcome = PolicySync(world.config, restarted, world.fetcher()).sync_once();
    REQUIRE(world.requests.size() == 2);
    CHECK(world.requests[0].if_none_match.empty());
    CHECK(world.requests[1].if_none_match == "\"v5\"");
    CHECK(outcome.ok);
    CHECK(outcome.result == "not modified");
    CHECK(restarted.current()->source == "url:https://policy.example/bundle");
}

TEST_CASE("refused bundles leave the previous policy in force and say why") {
    World world;
    world.serve("acme", 5);
    PolicyStore store;
    PolicySync sync(world.config, store, world.fetcher());
    REQUIRE(sync.sync_once().ok);
    std::string cached = read_text(world.cached_bundle());
    std::string why;

    SUBCASE("a lower serial") {
        world.serve("acme", 4);
        why = "bundle has serial 4, lower than the cached serial 5 (rollback refused)";
    }
    SUBCASE("another organization: the first accepted bundle pinned acme") {
        world.serve("globex", 6);
        why = "bundle is for organization \"globex\", this host follows \"acme\"";
    }
    SUBCASE("another key") {
        SigningKey other = SigningKey::generate().value();
        world.answer.body = sign_bundle(policy_json("acme", 6), other);
        why = "bundle is signed with key " + other.key_id() +
              ", not with the configured public key " + world.key.key_id();
    }
    SUBCASE("an HTTP error") {
        world.answer = FetchResponse{{}, 500, {}, {}};
        why = "policy server answered HTTP 500 (Internal Server Error)";
    }
    SUBCASE("a transport error") {
        world.answer =
            FetchResponse{"cannot fetch https://policy.example/bundle: cannot connect", 0, {}, {}};
        why = "cannot fetch https://policy.example/bundle: cannot connect";
    }
    SUBCASE("garbage") {
        world.answer = FetchResponse{{}, 200, {}, "<html>maintenance</html>"};
        why = "not a policy bundle: invalid JSON (syntax error); truncated or damaged?";
    }
    SyncOutcome outcome = sync.sync_once();
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.result == why);
    CHECK(store.current()->policy->serial == 5);
    CHECK(store.sync_status().last_result == why);
    CHECK(store.sync_status().failures == 1);
    CHECK(read_text(world.cached_bundle()) == cached);
}

TEST_CASE("a configured organization is enforced from the first bundle") {
    World world;
    world.config.organization = "globex";
    world.serve("acme", 5);
    PolicyStore store;
    SyncOutcome outcome = PolicySync(world.config, store, world.fetcher()).sync_once();
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.result == "bundle is for organization \"acme\", this host follows \"globex\"");
    CHECK_FALSE(store.current());
}

TEST_CASE("at start the cache is loaded first, with its recorded sync time") {
    World world;
    world.serve("acme", 7);
    {
        PolicyStore store;
        PolicySync(world.config, store, world.fetcher()).sync_once();
    }
    auto cached = load_policy_cache(world.config);
    REQUIRE_MESSAGE(cached.ok(), cached.error());
    CHECK(cached->bundle.policy->serial == 7);
    CHECK(cached->state.organization == "acme");
    CHECK(cached->state.highest_serial == 7);
    auto recorded = cached->synced_at;
    CHECK(Clock::now() - recorded < std::chrono::seconds(5));

    world.answer = FetchResponse{"cannot fetch: down", 0, {}, {}};
    PolicyStore store;
    PolicySync sync(world.config, store, world.fetcher());
    CHECK_FALSE(sync.sync_once().ok);
    REQUIRE(store.current());
    CHECK(store.current()->policy->serial == 7);
    CHECK(store.current()->source == "cache:" + world.cached_bundle().string());
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(
              store.current()->synced_at.time_since_epoch()) ==
          std::chrono::duration_cast<std::chrono::seconds>(recorded.time_since_epoch()));
}

TEST_CASE("a damaged cache is never used") {
    World world;
    world.serve("acme", 7);
    {
        PolicyStore store;
        PolicySync(world.config, store, world.fetcher()).sync_once();
    }
    std::string good = read_text(world.cached_bundle());
    std::string why;
    SUBCASE("truncated") {
        write_text(world.cached_bundle(), good.substr(0, good.size() / 2));
        why = "not a policy bundle: invalid JSON";
    }
    SUBCASE("one flipped bit") {
        std::string bad = good;
        bad[bad.size() - 10] ^= 0x01;
        write_text(world.cached_bundle(), bad);
        why = "bad signature";
    }
    SUBCASE("an older signed bundle put back") {
        write_text(world.cached_bundle(), sign_bundle(policy_json("acme", 6), world.key));
        why = "rollback refused";
    }
    auto cached = load_policy_cache(world.config);
    REQUIRE_FALSE(cached.ok());
    CHECK(cached.error().find("is unusable: ") != std::string::npos);
    CHECK(cached.error().find(why) != std::string::npos);

    world.answer = FetchResponse{"cannot fetch: down", 0, {}, {}};
    PolicyStore store;
    PolicySync(world.config, store, world.fetcher()).sync_once();
    CHECK_FALSE(store.current());
}

TEST_CASE("a lost bundle file does not reset rollback protection") {
    World world;
    world.serve("acme", 9);
    {
        PolicyStore store;
        PolicySync(world.config, store, world.fetcher()).sync_once();
    }
    fs::remove(world.cached_bundle());
    world.serve("acme", 8);
    PolicyStore store;
    SyncOutcome outcome = PolicySync(world.config, store, world.fetcher()).sync_once();
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.result ==
          "bundle has serial 8, lower than the cached serial 9 (rollback refused)");
}

TEST_CASE("leftovers of an interrupted cache write are removed at start") {
    World world;
    world.serve("acme", 3);
    fs::create_directories(world.config.cache_dir);
    write_text(fs::path(world.config.cache_dir) / ".policy.bundle.tmp.AbCdEf", "half a bun");
    PolicyStore store;
    PolicySync(world.config, store, world.fetcher()).sync_once();
    CHECK_FALSE(fs::exists(fs::path(world.config.cache_dir) / ".policy.bundle.tmp.AbCdEf"));
}

TEST_CASE("start, trigger and stop: the background thread fetches on trigger") {
    World world;
    world.serve("acme", 1);
    PolicyStore store;
    PolicySync sync(world.config, store, world.fetcher());
    sync.start();
    auto wait_for_serial = [&](std::int64_t serial) {
        for (int i = 0; i < 500; ++i) {
            if (auto active = store.current(); active && active->policy->serial == serial)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    };
    CHECK(wait_for_serial(1));
    world.serve("acme", 2); // (the fetcher reads `answer` from the sync thread only after trigger)
    sync.trigger();
    CHECK(wait_for_serial(2));
    sync.stop();
    SyncStatus status = store.sync_status();
    CHECK(status.last_ok);
    CHECK(status.next_attempt >
          status.last_attempt + std::chrono::minutes(50)); // refreshSeconds 3600, ±10%
}

TEST_CASE("a serial another writer cached (policy sync from a timer) binds a running sync") {
    World world;
    world.serve("acme", 5);
    PolicyStore serving;
    PolicySync daemon(world.config, serving, world.fetcher());
    daemon.start();
    auto wait_for = [&](auto done) {
        for (int i = 0; i < 500 && !done(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return done();
    };
    REQUIRE(wait_for([&] { return serving.sync_status().last_result == "ok: serial 5"; }));
    world.serve("acme", 6);
    PolicyStore timer_store;
    REQUIRE(PolicySync(world.config, timer_store, world.fetcher())
                .sync_once()
                .ok);       // the timer's one fetch
    world.serve("acme", 5); // the server goes back to an older bundle
    daemon.trigger();
    CHECK(wait_for([&] { return !serving.sync_status().last_ok; }));
    CHECK(serving.sync_status().last_result ==
          "bundle has serial 5, lower than the cached serial 6 (rollback refused)");
    daemon.stop();
}
