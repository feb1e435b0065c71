// What only the PostgreSQL backend has: the URL and its pool_max, migrations raced by several
// instances, the pool bound, StoreUnavailable and reconnection across server outages, retries on
// serialization failures, and the purge lock. The shared suites (store_suite_test.cpp, ...) cover
// the storage contract on PostgreSQL too.
//
// PostgresUrl runs everywhere (no server). The others need LATCHKEY_TEST_POSTGRES_URL; the restart
// tests also LATCHKEY_TEST_POSTGRES_DIR and LATCHKEY_TEST_POSTGRES_SCRIPT (the cluster directory and
// scripts/postgres.sh), which tests/postgres (ctest -R store_postgres) sets.
#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using postgres::parse_connection_url;
using postgres::PostgresStore;

// ---- the URL (no server needed) ----

std::string url_error(const std::string& url) {
  try {
    parse_connection_url(url);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "no error";
}

constexpr const char* kDefaultTimeouts =
    "connect_timeout=3&keepalives_idle=10&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=10000";

TEST(PostgresUrl, DefaultsToEightConnectionsAndTimeoutsThatBoundAnOutage) {
  auto settings = parse_connection_url("postgresql://latchkey@db.example/latchkey");
  EXPECT_EQ(settings.pool_max, 8u);
  EXPECT_EQ(settings.conninfo, std::string("postgresql://latchkey@db.example/latchkey?") + kDefaultTimeouts);
}

TEST(PostgresUrl, PoolMaxIsOursAndRemovedBeforeLibpqSeesTheUrl) {
  auto settings =
      parse_connection_url("postgres://u:pw@db.example:5433/latchkey?sslmode=disable&pool_max=3&application_name=x");
  EXPECT_EQ(settings.pool_max, 3u);
  EXPECT_EQ(settings.conninfo,
            std::string("postgres://u:pw@db.example:5433/latchkey?sslmode=disable&application_name=x&") +
                kDefaultTimeouts);
}

TEST(PostgresUrl, TimeoutsTheUrlSetsAreKept) {
  auto settings =
      parse_connection_url("postgresql://u@h/db?connect_timeout=10&pool_max=1000&keepalives_idle=60&"
                           "keepalives_interval=10&keepalives_count=5&tcp_user_timeout=0");
  EXPECT_EQ(settings.pool_max, 1000u);
  EXPECT_EQ(settings.conninfo,
            "postgresql://u@h/db?connect_timeout=10&keepalives_idle=60&keepalives_interval=10&keepalives_count=5&"
            "tcp_user_timeout=0");
}

TEST(PostgresUrl, BadUrlsAreRefusedWithoutRepeatingThem) {
  for (const char* url : {"postgresql://u:sekrit@h/db?pool_max=0", "postgresql://u:sekrit@h/db?pool_max=1001",
                          "postgresql://u:sekrit@h/db?pool_max=eight", "postgresql://u:sekrit@h/db?pool_max=",
                          "postgresql://u:sekrit@h/db?pool_max=8x"}) {
    std::string error = url_error(url);
    EXPECT_THAT(error, HasSubstr("pool_max")) << url;
    EXPECT_THAT(error, Not(HasSubstr("sekrit"))) << url;
  }
  std::string unknown = url_error("postgresql://u:sekrit@h/db?no_such_parameter=1");
  EXPECT_THAT(unknown, HasSubstr("malformed or has an unknown parameter"));
  EXPECT_THAT(unknown, Not(HasSubstr("sekrit")));
  EXPECT_THAT(url_error("mysql://u:sekrit@h/db"), HasSubstr("postgresql://"));
}

// ---- against a server ----

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (postgres_test_url().empty()) GTEST_SKIP() << kPostgresNotConfigured;
    schema_ = std::make_unique<PostgresSchema>(postgres_test_url());
  }

  std::unique_ptr<PostgresStore> open(const std::string& more_parameters = {}) {
    return PostgresStore::open(schema_->store_url(more_parameters));
  }

  std::unique_ptr<PostgresSchema> schema_;
};

TEST_F(PostgresStoreTest, NothingWorksBeforeMigrateSaysSo) {
  auto store = open();
  EXPECT_EQ(store->schema_version(), 0);
  try {
    store->find_client("c");
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("latchkey-server migrate"));
  }
  store->migrate();
  EXPECT_EQ(store->schema_version(), PostgresStore::latest_schema_version());
  EXPECT_FALSE(store->find_client("c"));
}

TEST_F(PostgresStoreTest, InstancesMigratingAFreshSchemaAtOnceMakeOneSchemaWithoutError) {
  for (int round = 0; round < 3; ++round) {
    PostgresSchema fresh(postgres_test_url());
    constexpr int kInstances = 8;
    std::vector<std::unique_ptr<PostgresStore>> stores;
    for (int i = 0; i < kInstances; ++i) stores.push_back(PostgresStore::open(fresh.store_url()));
    std::atomic<bool> go{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (auto& store : stores) {
      threads.emplace_back([&, s = store.get()] {
        while (!go.load()) std::this_thread::yield();
        try {
          s->migrate();
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0) << "round " << round;
    for (auto& store : stores) EXPECT_EQ(store->schema_version(), PostgresStore::latest_schema_version());
    stores[0]->put_client(sample_client("c"));
    EXPECT_TRUE(stores[kInstances - 1]->find_client("c"));
  }
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsStoreUnavailableAtOnceAndTheUrlIsNotRepeated) {
  // Port 1 on loopback: nothing listens, the connection is refused.
  auto started = std::chrono::steady_clock::now();
  try {
    PostgresStore::open("postgresql://latchkey:sekrit@127.0.0.1:1/latchkey");
    FAIL() << "expected StoreUnavailable";
  } catch (const StoreUnavailable& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr("sekrit")));
    EXPECT_THAT(e.what(), HasSubstr("cannot connect"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(PostgresStoreTest, ThePoolNeverOpensMoreThanPoolMax) {
  auto store = open("pool_max=2");
  store->migrate();
  store->put_client(sample_client("c"));
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) found += store->find_client("c") ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(found.load(), 240);
  PoolStats stats = store->pool_stats();
  EXPECT_LE(stats.opened_total, 2u);
  EXPECT_GE(stats.opened_total, 1u);
  EXPECT_EQ(stats.in_use, 0u);
  EXPECT_LE(stats.idle, 2u);
}

TEST_F(PostgresStoreTest, SerializationFailuresAreRetriedAndNoFailureIsLost) {
  // Every transaction SERIALIZABLE, as on CockroachDB: concurrent throttle failures on one key
  // conflict (SQLSTATE 40001) and must be retried, not lost and not reported.
  PostgresSchema serializable(postgres_test_url(), kSerializableOption);
  std::vector<std::unique_ptr<PostgresStore>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(PostgresStore::open(serializable.store_url()));
  stores[0]->migrate();
  constexpr ThrottleRule kRule{.max_failures = 1000, .window = 100, .base_lock = 1, .max_lock = 1};
  std::uint64_t retries = 0;
  for (int round = 0; round < 5 && retries == 0; ++round) {
    const std::string key = "shared-" + std::to_string(round);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 5; ++i) stores[static_cast<std::size_t>(t) % stores.size()]->record_throttle_failure(
            key, 1000, kRule);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(stores[0]->find_throttle(key).failures, 40) << "round " << round;
    for (auto& s : stores) retries += s->conflict_retries();
  }
  EXPECT_GT(retries, 0u) << "no serialization failure happened, so the retry path was not exercised";
}

TEST_F(PostgresStoreTest, OnlyOneInstancePurgesAtATime) {
  auto store = open();
  store->migrate();
  store->put_session({.id_hash = "s", .user_id = "u", .auth_time = 1, .created_at = 1, .expires_at = 100});
  // Another instance purging: it holds the purge lock of this schema for a while.
  std::thread other([&] {
    postgres::run_sql(schema_->store_url(),
                      "BEGIN; SELECT pg_advisory_xact_lock(1280004167, hashtext(current_schema())); "
                      "SELECT pg_sleep(3); COMMIT");
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(store->purge_expired(1000, 100), 0u);  // returns at once, nothing deleted
  other.join();
  EXPECT_EQ(store->purge_expired(1000, 100), 1u);
}

// ---- server outages (scripts/postgres.sh stops and starts the test server) ----

class PostgresOutageTest : public PostgresStoreTest {
 protected:
  void SetUp() override {
    PostgresStoreTest::SetUp();
    if (IsSkipped()) return;
    const char* dir = std::getenv("LATCHKEY_TEST_POSTGRES_DIR");
    const char* script = std::getenv("LATCHKEY_TEST_POSTGRES_SCRIPT");
    if (dir == nullptr || script == nullptr) {
      GTEST_SKIP() << "set LATCHKEY_TEST_POSTGRES_DIR and LATCHKEY_TEST_POSTGRES_SCRIPT to let the test stop and "
                      "start the server (ctest -R store_postgres does)";
    }
    dir_ = dir;
    script_ = script;
  }

  void TearDown() override {
    if (!dir_.empty()) control("start");  // whatever happened, leave the server running
  }

  void control(const std::string& command) {
    std::string line = "'" + script_ + "' " + command + " '" + dir_ + "' >/dev/null";
    ASSERT_EQ(std::system(line.c_str()), 0) << line;
  }

  std::string dir_;
  std::string script_;
};

TEST_F(PostgresOutageTest, CallsDuringAnOutageAreStoreUnavailableAndTheStoreReconnectsAfterwards) {
  auto store = open();
  store->migrate();
  store->put_client(sample_client("c"));
  std::uint64_t opened_before = store->pool_stats().opened_total;

  control("stop");
  for (int i = 0; i < 3; ++i) {
    auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(store->find_client("c"), StoreUnavailable);
    EXPECT_THROW(store->consume_code("x", 1), StoreUnavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "an outage must not hang";
  }
  EXPECT_EQ(store->pool_stats().in_use, 0u);

  control("start");
  ASSERT_NO_THROW(store->find_client("c"));
  EXPECT_TRUE(store->find_client("c"));
  EXPECT_GT(store->pool_stats().opened_total, opened_before);
}

TEST_F(PostgresOutageTest, IdleConnectionsClosedByARestartOrCrashAreReplacedWithoutAnError) {
  auto store = open();
  store->migrate();
  store->put_client(sample_client("c"));
  for (const char* outage : {"restart", "kill"}) {
    // Several idle connections in the pool.
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        try {
          store->list_clients();
        } catch (const StoreError&) {
          ++failed;
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(failed.load(), 0) << outage;
    ASSERT_GE(store->pool_stats().idle, 1u);

    control(outage);
    if (std::string(outage) == "kill") control("start");

    // The first call after the server came back already works: dead idle connections are noticed
    // when borrowed, not by failing a request.
    EXPECT_NO_THROW(EXPECT_TRUE(store->find_client("c"))) << outage;
    EXPECT_NO_THROW(store->put_session({.id_hash = std::string("s-") + outage, .user_id = "u", .auth_time = 1,
                                        .created_at = 1, .expires_at = 2}))
        << outage;
  }
}

}  // namespace
}  // namespace latchkey::store::testing
