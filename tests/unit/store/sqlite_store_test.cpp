// What only the SQLite backend has: schema versions, files shared by several connections or
// processes, and the failures of a real database (locks, foreign files).
#include <gmock/gmock.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

using sqlite::SqliteStore;
using ::testing::HasSubstr;

// A raw connection on the same file, as another process (or an operator with sqlite3) would have.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("raw open failed");
  }
  ~RawConnection() { sqlite3_close(db_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = error ? error : "?";
      sqlite3_free(error);
      throw std::runtime_error("raw exec failed: " + message);
    }
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) throw std::runtime_error("prepare");
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
  }
  // Column `column` of every row, joined by " / " (e.g. the details of EXPLAIN QUERY PLAN).
  std::string all_rows(const std::string& sql, int column) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) throw std::runtime_error("prepare");
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (!out.empty()) out += " / ";
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string error_of(auto&& call) {
  try {
    call();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.file("latchkey.db"); }
  TempDir dir_;
};

TEST_F(SqliteStoreTest, UnmigratedDatabaseAsksForMigrate) {
  auto store = SqliteStore::open(path());
  EXPECT_EQ(store->schema_version(), 0);
  std::string error = error_of([&] { store->find_client("c"); });
  EXPECT_THAT(error, HasSubstr("schema is at version 0"));
  EXPECT_THAT(error, HasSubstr("run `latchkey-server migrate`"));
  EXPECT_THROW(store->consume_code("x", 0), StoreError);
}

TEST_F(SqliteStoreTest, PoolStatsCountConnections) {
  auto store = SqliteStore::open(path());
  store->migrate();
  store->find_client("c");
  auto after_one = store->pool_stats();
  EXPECT_EQ(after_one.in_use, 0u);  // every call returned its connection
  EXPECT_GE(after_one.idle, 1u);
  EXPECT_GE(after_one.opened_total, 1u);
  // Calls from several threads at once open more connections, all returned afterwards.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) store->find_client("c");
    });
  for (auto& t : threads) t.join();
  auto after_many = store->pool_stats();
  EXPECT_EQ(after_many.in_use, 0u);
  EXPECT_GE(after_many.opened_total, after_one.opened_total);
  EXPECT_LE(after_many.idle, after_many.opened_total);
}

TEST_F(SqliteStoreTest, MigrateBringsTheSchemaToTheLatestVersion) {
  auto store = SqliteStore::open(path());
  store->migrate();
  EXPECT_GE(SqliteStore::latest_schema_version(), 1);
  EXPECT_EQ(store->schema_version(), SqliteStore::latest_schema_version());
  store->migrate();
  EXPECT_EQ(store->schema_version(), SqliteStore::latest_schema_version());
  RawConnection raw(path());
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM schema_migrations"), std::to_string(SqliteStore::latest_schema_version()));
}

TEST_F(SqliteStoreTest, AStoreOpenedBeforeAnotherMigratesSeesTheNewSchema) {
  auto early = SqliteStore::open(path());
  EXPECT_THROW(early->list_users(), StoreError);
  SqliteStore::open(path())->migrate();
  EXPECT_NO_THROW(early->list_users());
}

TEST_F(SqliteStoreTest, ConcurrentMigrationsFromSeparateStoresAreSafe) {
  std::vector<std::unique_ptr<SqliteStore>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(SqliteStore::open(path()));
  std::vector<std::string> errors(stores.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < stores.size(); ++i) {
    threads.emplace_back([&, i] { errors[i] = error_of([&] { stores[i]->migrate(); }); });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "(no StoreError)");
  RawConnection raw(path());
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM schema_migrations"), std::to_string(SqliteStore::latest_schema_version()));
}

TEST_F(SqliteStoreTest, UpgradeFromVersion1ToVersion2KeepsDataAndAddsDeviceCodes) {
  ASSERT_GE(SqliteStore::latest_schema_version(), 2);
  {
    auto v1 = SqliteStore::open(path());
    v1->migrate_to(1);  // a database as the previous release left it
    EXPECT_EQ(v1->schema_version(), 1);
    EXPECT_THAT(error_of([&] { v1->list_clients(); }), HasSubstr("schema is at version 1"));
  }
  {
    RawConnection raw(path());
    EXPECT_EQ(raw.text("SELECT COUNT(*) FROM sqlite_master WHERE name = 'device_codes'"), "0");
    raw.exec(R"sql(
      INSERT INTO clients VALUES ('c-1', 'Client', 'h', 0, '["https://a.example/cb"]', '["openid"]',
                                  '["authorization_code"]', '[]', 100);
      INSERT INTO grants VALUES ('g-1', 'c-1', 'u-1', '["openid"]', '[]', 'n', 90, 100, 0, 0);
      INSERT INTO refresh_tokens VALUES ('rt-1', 'g-1', 100, 200, 0);
      INSERT INTO access_tokens VALUES ('at-1', 'g-1', 'c-1', 400, 0);
      INSERT INTO signing_keys VALUES ('k1', 'ES256', 'sealed', '{}', 100, 0);
    )sql");
  }
  auto store = SqliteStore::open(path());
  store->migrate();
  EXPECT_EQ(store->schema_version(), SqliteStore::latest_schema_version());

  ASSERT_TRUE(store->find_client("c-1"));
  EXPECT_EQ(store->find_client("c-1")->redirect_uris, std::vector<std::string>{"https://a.example/cb"});
  EXPECT_EQ(store->find_grant("g-1")->user_id, "u-1");
  // The version-1 rows take part in the version-2 operations.
  EXPECT_EQ(store->rotate_refresh_token("rt-1", {.token_hash = "rt-2", .grant_id = "g-1", .created_at = 150,
                                                 .expires_at = 250, .used_at = 0},
                                        150)
                .outcome,
            RotateOutcome::rotated);
  // A row written at issuance by an older version: revoking it keeps its grant and expiry.
  store->revoke_access_token({.jti = "at-1", .grant_id = "", .client_id = "c-1", .expires_at = 999, .revoked_at = 150});
  ASSERT_TRUE(store->find_access_token("at-1"));
  EXPECT_EQ(store->find_access_token("at-1")->grant_id, "g-1");
  EXPECT_EQ(store->find_access_token("at-1")->expires_at, 400);
  EXPECT_EQ(store->find_access_token("at-1")->revoked_at, 150);
  store->rotate_key(sample_key("k2", 150), 150);
  ASSERT_EQ(store->list_keys().size(), 2u);
  EXPECT_EQ(store->list_keys()[1].retired_at, 150);
  store->put_device_code(sample_device_code("dc-1", "uc-1"));
  EXPECT_TRUE(store->find_device_code("dc-1"));

  store->migrate_to(1);  // never downgrades
  EXPECT_EQ(store->schema_version(), SqliteStore::latest_schema_version());
}

TEST_F(SqliteStoreTest, UpgradeFromVersion2ToVersion3GivesOldRowsEmptyOriginsClaimsRolesAndGroups) {
  ASSERT_GE(SqliteStore::latest_schema_version(), 3);
  SqliteStore::open(path())->migrate_to(2);  // a database as the release before issue 10 left it
  {
    RawConnection raw(path());
    raw.exec(R"sql(
      INSERT INTO clients VALUES ('c-1', 'Client', 'h', 1, '["https://a.example/cb"]', '["openid"]',
                                  '["authorization_code"]', '[]', 100);
      INSERT INTO users VALUES ('u-1', 'alice', 'pw', 'a@example.com', 'Alice', 100);
    )sql");
  }
  auto store = SqliteStore::open(path());
  store->migrate();
  EXPECT_EQ(store->schema_version(), SqliteStore::latest_schema_version());
  auto client = store->find_client("c-1");
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->is_public);
  EXPECT_TRUE(client->web_origins.empty());
  EXPECT_TRUE(client->allowed_claims.empty());
  EXPECT_FALSE(store->has_client_with_web_origin("https://a.example"));
  auto user = store->find_user("u-1");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->name, "Alice");
  EXPECT_TRUE(user->roles.empty());
  EXPECT_TRUE(user->groups.empty());
  // The old rows take part in the new operations.
  EXPECT_TRUE(store->add_user_role("u-1", "admin"));
  EXPECT_TRUE(store->add_user_group("u-1", "staff"));
  EXPECT_EQ(store->find_user_by_username("alice")->roles, std::vector<std::string>{"admin"});
  EXPECT_EQ(store->find_user_by_username("alice")->groups, std::vector<std::string>{"staff"});
  RawConnection raw(path());
  EXPECT_EQ(raw.text("SELECT roles || user_groups FROM users WHERE id = 'u-1'"), R"(["admin"]["staff"])");
}

TEST_F(SqliteStoreTest, UpgradeFromVersion4ToVersion5IndexesTheExpiryColumnsAndKeepsIssuedTokenRows) {
  ASSERT_GE(SqliteStore::latest_schema_version(), 5);
  SqliteStore::open(path())->migrate_to(4);  // as the release that recorded every access token left it
  {
    RawConnection raw(path());
    raw.exec(R"sql(
      INSERT INTO grants VALUES ('g-1', 'c-1', 'u-1', '[]', '[]', '', 100, 100, 0, 0);
      INSERT INTO access_tokens VALUES ('at-issued', 'g-1', 'c-1', 400, 0);
      INSERT INTO access_tokens VALUES ('at-other', 'g-2', 'c-1', 400, 0);
    )sql");
  }
  auto store = SqliteStore::open(path());
  store->migrate();
  RawConnection raw(path());
  for (const char* index : {"sessions_by_expiry", "interactions_by_expiry", "authorization_codes_by_expiry",
                            "device_codes_by_expiry", "grants_by_revocation", "grants_by_expiry",
                            "refresh_tokens_by_expiry", "access_tokens_by_expiry", "throttles_by_last_failure"}) {
    EXPECT_EQ(raw.text("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = '" + std::string(index) + "'"),
              "1")
        << index;
  }
  // The purge of expired access-token rows reads the index instead of the whole table.
  EXPECT_THAT(raw.all_rows("EXPLAIN QUERY PLAN SELECT jti FROM access_tokens WHERE expires_at <= 10", 3),
              HasSubstr("access_tokens_by_expiry"));
  // Rows written at issuance before access tokens became stateless still take part: revoking
  // their grant marks them revoked, and other grants' rows stay live.
  EXPECT_TRUE(store->revoke_grant("g-1", 150));
  EXPECT_EQ(store->find_access_token("at-issued")->revoked_at, 150);
  EXPECT_EQ(store->find_access_token("at-other")->revoked_at, 0);
}

TEST_F(SqliteStoreTest, UpgradeFromVersion5ToVersion6KeepsGrantsAndRefreshTokensWithoutTheirRowids) {
  ASSERT_GE(SqliteStore::latest_schema_version(), 6);
  SqliteStore::open(path())->migrate_to(5);
  {
    RawConnection raw(path());
    raw.exec(R"sql(
      INSERT INTO grants VALUES ('g-1', 'c-1', 'u-1', '["openid"]', '[]', 'n', 100, 100, 9000, 0);
      INSERT INTO grants VALUES ('g-2', 'c-1', 'u-1', '[]', '[]', '', 100, 100, 9000, 150);
      INSERT INTO refresh_tokens VALUES ('rt-1', 'g-1', 100, 5000, 0);
      INSERT INTO refresh_tokens VALUES ('rt-2', 'g-1', 100, 5000, 120);
    )sql");
  }
  auto store = SqliteStore::open(path());
  store->migrate();
  EXPECT_EQ(store->schema_version(), 6);
  // Every row and column came across.
  auto g1 = store->find_grant("g-1");
  ASSERT_TRUE(g1);
  EXPECT_EQ(g1->scopes, std::vector<std::string>{"openid"});
  EXPECT_EQ(g1->nonce, "n");
  EXPECT_EQ(g1->expires_at, 9000);
  EXPECT_EQ(store->find_grant("g-2")->revoked_at, 150);
  EXPECT_EQ(store->find_refresh_token("rt-2")->used_at, 120);
  // The old rows still work: rotation, reuse detection, revocation of the grant.
  EXPECT_EQ(store->rotate_refresh_token("rt-1", {.token_hash = "rt-3", .grant_id = "g-1", .created_at = 200,
                                                .expires_at = 5000, .used_at = 0}, 200).outcome,
            RotateOutcome::rotated);
  EXPECT_EQ(store->rotate_refresh_token("rt-2", {.token_hash = "rt-4", .grant_id = "g-1", .created_at = 200,
                                                .expires_at = 5000, .used_at = 0}, 200).outcome,
            RotateOutcome::already_used);
  EXPECT_TRUE(store->revoke_grant("g-1", 300));
  EXPECT_EQ(store->find_refresh_token("rt-3")->used_at, 300);
  RawConnection raw(path());
  for (const char* table : {"grants", "refresh_tokens"}) {
    EXPECT_THAT(raw.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '" + std::string(table) + "'"),
                HasSubstr("WITHOUT ROWID"))
        << table;
  }
  for (const char* index : {"grants_by_revocation", "grants_by_expiry", "refresh_tokens_by_grant",
                            "refresh_tokens_by_expiry"}) {
    EXPECT_EQ(raw.text("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = '" + std::string(index) + "'"),
              "1")
        << index;
  }
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%_v6'"), "0");
}

TEST_F(SqliteStoreTest, DeviceCodeStatusIsCheckedByTheDatabase) {
  auto store = SqliteStore::open(path());
  store->migrate();
  DeviceCode d = sample_device_code("dc-1", "uc-1");
  d.status = "maybe";
  EXPECT_THROW(store->put_device_code(d), StoreError);
  EXPECT_FALSE(store->find_device_code("dc-1"));
}

TEST_F(SqliteStoreTest, SchemaNewerThanTheBuildIsRefused) {
  SqliteStore::open(path())->migrate();
  RawConnection(path()).exec("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
  auto store = SqliteStore::open(path());
  EXPECT_THAT(error_of([&] { store->list_clients(); }), HasSubstr("newer than this build"));
  EXPECT_THAT(error_of([&] { store->migrate(); }), HasSubstr("newer than this build"));
}

TEST_F(SqliteStoreTest, DataSurvivesReopening) {
  {
    auto store = SqliteStore::open(path());
    store->migrate();
    store->put_client(sample_client("c-1"));
    store->put_code(sample_code("code", "g"));
    EXPECT_EQ(store->consume_code("code", 1).outcome, ConsumeOutcome::consumed);
  }
  auto store = SqliteStore::open(path());
  EXPECT_TRUE(store->find_client("c-1"));
  EXPECT_EQ(store->consume_code("code", 2).outcome, ConsumeOutcome::already_used);
}

TEST_F(SqliteStoreTest, TheWalIsCheckpointedIntoTheDatabaseFileInTheBackground) {
  auto store = SqliteStore::open(path());
  store->migrate();
  const auto main_file_size = [&] { return std::filesystem::file_size(path()); };
  const auto before = main_file_size();
  // About 1,600 pages of WAL: past the 1,000-page threshold. The store's WAL hook replaces
  // SQLite's automatic checkpoint, so only the background checkpointer can move these pages into
  // the database file; without it the file would stay at its schema size forever.
  const std::string big(64 * 1024, 'x');
  for (int i = 0; i < 100; ++i) {
    store->put_interaction(Interaction{"i-" + std::to_string(i), "b", big, 1, 2});
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (main_file_size() < before + 4 * 1024 * 1024 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(main_file_size(), before + 4 * 1024 * 1024);
  EXPECT_EQ(store->find_interaction("i-99", 1)->request_json.size(), big.size());
}

TEST_F(SqliteStoreTest, UsesWalJournalAndJsonListColumns) {
  auto store = SqliteStore::open(path());
  store->migrate();
  Client c = sample_client("c-1");
  c.redirect_uris = {"https://a.example/cb", "has space", "q\"uote"};
  store->put_client(c);
  RawConnection raw(path());
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  // The list column is a JSON array that SQLite's own json functions read back element by element.
  EXPECT_EQ(raw.text("SELECT json_array_length(redirect_uris) FROM clients"), "3");
  EXPECT_EQ(raw.text("SELECT redirect_uris ->> 2 FROM clients"), "q\"uote");
}

TEST_F(SqliteStoreTest, CorruptListColumnIsAStoreError) {
  auto store = SqliteStore::open(path());
  store->migrate();
  store->put_client(sample_client("c-1"));
  RawConnection(path()).exec("UPDATE clients SET scopes = 'openid profile'");
  EXPECT_THAT(error_of([&] { store->find_client("c-1"); }), HasSubstr("corrupt list column"));
}

TEST_F(SqliteStoreTest, WriterLockedPastTheBusyTimeoutIsAStoreError) {
  auto store = SqliteStore::open(path(), {.busy_timeout = std::chrono::milliseconds(100)});
  store->migrate();
  store->put_client(sample_client("before"));
  RawConnection other(path());
  other.exec("BEGIN IMMEDIATE");
  EXPECT_THAT(error_of([&] { store->put_client(sample_client("blocked")); }), HasSubstr("locked"));
  // WAL: readers are not blocked by the writer.
  EXPECT_TRUE(store->find_client("before"));
  other.exec("COMMIT");
  EXPECT_NO_THROW(store->put_client(sample_client("blocked")));
}

TEST_F(SqliteStoreTest, AWriterWaitsWithinTheBusyTimeout) {
  auto store = SqliteStore::open(path());
  store->migrate();
  RawConnection other(path());
  other.exec("BEGIN IMMEDIATE");
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    other.exec("COMMIT");
  });
  EXPECT_NO_THROW(store->put_client(sample_client("waited")));
  release.join();
}

TEST_F(SqliteStoreTest, AFileThatIsNotADatabaseIsRefusedAtOpen) {
  {
    std::ofstream out(path(), std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database ";
  }
  EXPECT_THAT(error_of([&] { SqliteStore::open(path()); }), HasSubstr("not a SQLite database"));
}

TEST_F(SqliteStoreTest, AMissingDirectoryIsRefusedAtOpen) {
  std::string error = error_of([&] { SqliteStore::open(dir_.file("no-such-dir/latchkey.db")); });
  EXPECT_THAT(error, HasSubstr("cannot be opened"));
  EXPECT_THAT(error, HasSubstr("no-such-dir/latchkey.db"));
}

TEST_F(SqliteStoreTest, InMemoryDatabaseIsRefused) {
  EXPECT_THAT(error_of([] { SqliteStore::open(":memory:"); }), HasSubstr("memory:"));
  EXPECT_THROW(SqliteStore::open(""), StoreError);
}

TEST_F(SqliteStoreTest, OnlyOneActiveKeyEvenWhenInsertedBehindTheStoresBack) {
  auto store = SqliteStore::open(path());
  store->migrate();
  ASSERT_TRUE(store->insert_key_if_none_active(sample_key("k1", 10)));
  // The unique partial index holds even for writers that skip insert_key_if_none_active.
  EXPECT_THROW(RawConnection(path()).exec("INSERT INTO signing_keys VALUES ('k2', 'ES256', 's', '{}', 11, 0)"),
               std::runtime_error);
}

}  // namespace
}  // namespace latchkey::store::testing
