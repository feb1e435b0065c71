#pragma once
// The PostgreSQL backend (issue 6): the store shared by several latchkey-server instances.
//
// URL: postgresql://[user[:password]@]host[:port]/database[?param=value&...] (or postgres://), as
// libpq takes it, plus `pool_max` (connections this store opens at most, 1..1000, default 8), which
// is ours and removed before libpq sees the URL. So that an outage never hangs a request,
// connect_timeout defaults to 3 seconds and TCP keepalives plus tcp_user_timeout are on (a vanished
// peer is noticed within about 25 s); the URL may set them otherwise. Error messages never repeat
// the URL (it may carry a password).
//
// Connections: a pool of at most pool_max; a call borrows one for its duration (waiting up to
// 10 s for one to come back, then StoreUnavailable). Each connection prepares every statement once
// (PQprepare) and runs it with text parameters. A connection that failed is dropped; an idle one
// the server closed (restart, crash) is noticed and dropped when it is next borrowed; new ones are
// opened on demand, so the store reconnects by itself once the server is back.
//
// Schema: versioned migrations (migrations.cpp, the same versions as SQLite), recorded in
// schema_migrations(version, applied_at). open() does not migrate; migrate() applies what is
// missing in one transaction holding pg_advisory_xact_lock, so several instances running
// `latchkey-server migrate` at once are safe: the others wait, then find nothing to do. The lock
// and the tables are per schema (search_path), so deployments may share a database.
//
// Atomicity across instances, also on CockroachDB-like (SERIALIZABLE) databases:
//  - consume_code, decide_device_code, consume_device_code: one conditional UPDATE (... WHERE
//    used_at IS NULL / status = 'pending' ...); the row lock decides the winner.
//  - revoke_access_token: INSERT ... ON CONFLICT DO UPDATE (keeps an earlier revoked_at).
//  - rotate_refresh_token, revoke_grant, delete_user: one statement each (data-modifying CTEs).
//  - insert_key_if_none_active, put_secret_if_absent: INSERT ... ON CONFLICT DO NOTHING.
//  - put_device_code: a SERIALIZABLE transaction (no two live requests share a user code).
//  - record_throttle_failure and the role/group changes: read ... FOR UPDATE, then write.
//  - rotate_key: LOCK TABLE signing_keys (taken before the snapshot), retire, insert.
//  Every call is retried (up to 10 attempts, jittered back-off) on serialization failure (40001)
//  or deadlock (40P01); when conflicts persist it throws StoreUnavailable.
//
// Errors: an unreachable or lost server (SQLSTATE class 08, 57P01-57P03) throws StoreUnavailable;
// other failures StoreError naming the operation and the SQLSTATE, never a parameter's value.
// Text must be valid UTF-8 without NUL (PostgreSQL's TEXT): lookups by such a key find nothing,
// writes of it throw StoreError.
//
// purge_expired runs in one transaction guarded by pg_try_advisory_xact_lock: while one instance
// purges, the others' calls return 0 at once.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "store/store.h"

namespace latchkey::store::postgres {

struct ConnectionSettings {
  std::string conninfo;      // the URL as libpq gets it (pool_max removed, timeouts added)
  std::size_t pool_max = 8;
};

// Splits a postgresql:// URL into what libpq gets and our own parameters. Throws StoreError (not
// naming the URL) for a URL that is not postgresql:// or postgres://, or a bad pool_max.
ConnectionSettings parse_connection_url(const std::string& url);

class PostgresStore final : public Store {
 public:
  // Connects once (so a wrong URL, password or database fails here; an unreachable server throws
  // StoreUnavailable).
  static std::unique_ptr<PostgresStore> open(const std::string& url);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  void migrate() override;
  PoolStats pool_stats() override;
  int schema_version();
  static int latest_schema_version();
  // Calls retried after a serialization failure or deadlock, since open (for tests and metrics).
  std::uint64_t conflict_retries() const;

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
  ThrottleState record_throttle_failure(const std::string& key, Timestamp now, const ThrottleRule& rule) override;
  void clear_throttle(const std::string& key) override;

  std::size_t purge_expired(Timestamp now, std::size_t batch_limit) override;

 private:
  struct Impl;
  explicit PostgresStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs SQL without parameters on a connection of its own (for tests and tooling, e.g. creating or
// dropping a schema). Errors as for the store's calls.
void run_sql(const std::string& url, const std::string& sql);

}  // namespace latchkey::store::postgres
