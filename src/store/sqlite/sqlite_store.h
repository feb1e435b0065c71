#pragma once
// The SQLite backend (DESIGN.md "Storage"): the embedded default of latchkey-server.
//
// Connections: a mutex-guarded pool; a call borrows one connection for its duration, so threads
// never share a connection and each connection caches its prepared statements (prepared once with
// SQLITE_PREPARE_PERSISTENT, reset after each use). Every connection runs in WAL mode with
// synchronous=NORMAL, foreign_keys=ON and a busy timeout (5 s by default).
//
// Schema: versioned migrations (migrations.cpp), recorded in schema_migrations(version, applied_at).
// open() does NOT migrate: `latchkey-server migrate` (or serve --dev) calls migrate() explicitly,
// so a production server never changes its schema by surprise. Until the schema is at the version
// this build knows, every other method throws StoreError("database schema is at version N, ...
// run `latchkey-server migrate`"). migrate() runs inside BEGIN IMMEDIATE, so two processes
// migrating one file at once are safe: the second one finds nothing left to do.
//
// Atomicity across connections and processes: consume_code is one UPDATE ... RETURNING;
// insert_key_if_none_active one INSERT ... WHERE NOT EXISTS (backed by a unique partial index);
// put_device_code one INSERT ... WHERE NOT EXISTS; decide_device_code and consume_device_code one
// conditional UPDATE each; revoke_access_token one INSERT ... ON CONFLICT DO UPDATE;
// rotate_refresh_token one IMMEDIATE transaction whose first statement is the conditional UPDATE
// marking the old token used (the INSERT of the next token follows only when it changed a row);
// revoke_grant, delete_user, rotate_key, record_throttle_failure and the add/remove of a user's
// role or group one IMMEDIATE transaction each.
//
// Errors of SQLite itself (busy past the timeout, disk full, not a database, corrupt file, ...)
// become StoreError naming the operation, the file and SQLite's reason.
//
// Same behaviour as the memory backend beyond store.h: see the list in memory/memory_store.h.
#include <chrono>
#include <memory>
#include <string>

#include "store/store.h"

namespace latchkey::store::sqlite {

struct SqliteOptions {
  std::chrono::milliseconds busy_timeout{5000};  // how long a writer waits for another's lock
  // synchronous=NORMAL (the default) in WAL mode: a commit survives a crash or kill of the process,
  // and the file is never corrupted, but the last commits may be lost if the machine loses power
  // or the kernel crashes. FULL also syncs the WAL on every commit: nothing committed is ever lost,
  // at the price of an fsync per write. `sqlite:PATH?synchronous=full` asks for it.
  bool synchronous_full = false;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating when missing) the database file at `path` and checks that it is usable.
  // ":memory:" and "" are refused: each pooled connection would see its own empty database;
  // use the memory backend instead.
  static std::unique_ptr<SqliteStore> open(const std::string& path, SqliteOptions options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void migrate() override;
  PoolStats pool_stats() override;
  // Applies the migrations up to `version` only (never down; a lower version does nothing). For
  // tests of upgrades from an older schema; the server always calls migrate().
  void migrate_to(int version);
  // The highest applied migration (0 for an empty database) and the one this build knows.
  int schema_version();
  static int latest_schema_version();
  // PRAGMA synchronous of the pool's connections: 1 NORMAL, 2 FULL.
  int synchronous_mode();

  void put_client(const Client& c) override;
  std::optional<Client> find_client(const std::string& id) override;
  std::vector<Client> list_clients() override;
  bool delete_client(const std::string& id) override;
  bool has_client_with_web_origin(const std::string& origin) override;

  void put_user(const User& u) override;
  std::optional<User> find_user(const std::string& id) override;
  std::optional<User> find_user_by_username(const std::string& username) override;
  std::vector<User> list_users() override;
  bool delete_user(const std::string& id) override;
  bool add_user_role(const std::string& user_id, const std::string& role) override;
  bool remove_user_role(const std::string& user_id, const std::string& role) override;
  bool add_user_group(const std::string& user_id, const std::string& group) override;
  bool remove_user_group(const std::string& user_id, const std::string& group) override;

  void put_session(const Session& s) override;
  std::optional<Session> find_session(const std::string& id_hash, Timestamp now) override;
  void delete_session(const std::string& id_hash) override;

  void put_consent(const Consent& c) override;
  std::optional<Consent> find_consent(const std::string& user_id, const std::string& client_id) override;

  void put_interaction(const Interaction& i) override;
  std::optional<Interaction> find_interaction(const std::string& id_hash, Timestamp now) override;
  void delete_interaction(const std::string& id_hash) override;

  void put_code(const AuthorizationCode& c) override;
  ConsumeResult consume_code(const std::string& code_hash, Timestamp now) override;

  void put_grant(const Grant& g) override;
  void put_grant_and_refresh_token(const Grant& g, const RefreshToken& t) override;
  std::optional<Grant> find_grant(const std::string& id) override;
  bool revoke_grant(const std::string& id, Timestamp now) override;
  void put_refresh_token(const RefreshToken& t) override;
  std::optional<RefreshToken> find_refresh_token(const std::string& token_hash) override;
  std::optional<AccessTokenRecord> find_access_token(const std::string& jti) override;
  RotateResult rotate_refresh_token(const std::string& old_hash, const RefreshToken& next, Timestamp now) override;
  void revoke_access_token(const AccessTokenRecord& revoked) override;

  void put_device_code(const DeviceCode& d) override;
  std::optional<DeviceCode> find_device_code(const std::string& device_code_hash) override;
  std::optional<DeviceCode> find_pending_device_code_by_user_code(const std::string& user_code_hash,
                                                                  Timestamp now) override;
  void update_device_poll(const std::string& device_code_hash, Timestamp polled_at, std::int64_t interval) override;
  bool decide_device_code(const std::string& user_code_hash, bool approve, const std::string& user_id,
                          Timestamp auth_time, Timestamp now) override;
  bool consume_device_code(const std::string& device_code_hash) override;

  std::vector<SigningKey> list_keys() override;
  bool insert_key_if_none_active(const SigningKey& k) override;
  std::string put_secret_if_absent(const std::string& name, const std::string& value) override;
  void rotate_key(const SigningKey& next, Timestamp now) override;
  bool delete_key(const std::string& kid) override;

  ThrottleState find_throttle(const std::string& key) override;
  std::array<ThrottleState, 2> find_throttles(const std::string& first, const std::string& second) override;
  ThrottleState record_throttle_failure(const std::string& key, Timestamp now, const ThrottleRule& rule) override;
  void clear_throttle(const std::string& key) override;

  // One IMMEDIATE transaction: SQLite's write lock already lets one purge (or writer) run at a time.
  std::size_t purge_expired(Timestamp now, std::size_t batch_limit) override;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace latchkey::store::sqlite
