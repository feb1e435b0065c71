#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "store/sql_columns.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/string_list.h"

namespace latchkey::store::sqlite {

namespace {

// Idle connections kept for reuse; more may be open while many threads are busy at once.
constexpr std::size_t kMaxIdleConnections = 8;

using sql::unix_now;

Client read_client(const Statement& s) {
  return Client{.id = s.text(0),
                .name = s.text(1),
                .secret_hash = s.text(2),
                .is_public = s.integer(3) != 0,
                .redirect_uris = decode_string_list(s.text(4)),
                .scopes = decode_string_list(s.text(5)),
                .grant_types = decode_string_list(s.text(6)),
                .audiences = decode_string_list(s.text(7)),
                .created_at = s.integer(8),
                .web_origins = decode_string_list(s.text(9)),
                .allowed_claims = decode_string_list(s.text(10))};
}

User read_user(const Statement& s) {
  return User{.id = s.text(0),
              .username = s.text(1),
              .password_hash = s.text(2),
              .email = s.text(3),
              .name = s.text(4),
              .created_at = s.integer(5),
              .roles = decode_string_list(s.text(6)),
              .groups = decode_string_list(s.text(7))};
}

Session read_session(const Statement& s) {
  return Session{.id_hash = s.text(0),
                 .user_id = s.text(1),
                 .auth_time = s.integer(2),
                 .created_at = s.integer(3),
                 .expires_at = s.integer(4)};
}

Interaction read_interaction(const Statement& s) {
  return Interaction{.id_hash = s.text(0),
                     .browser_hash = s.text(1),
                     .request_json = s.text(2),
                     .created_at = s.integer(3),
                     .expires_at = s.integer(4)};
}

AuthorizationCode read_code(const Statement& s) {
  return AuthorizationCode{.code_hash = s.text(0),
                           .client_id = s.text(1),
                           .user_id = s.text(2),
                           .grant_id = s.text(3),
                           .redirect_uri = s.text(4),
                           .redirect_uri_in_request = s.integer(5) != 0,
                           .code_challenge = s.text(6),
                           .code_challenge_method = s.text(7),
                           .scopes = decode_string_list(s.text(8)),
                           .audiences = decode_string_list(s.text(9)),
                           .nonce = s.text(10),
                           .session_id_hash = s.text(11),
                           .auth_time = s.integer(12),
                           .created_at = s.integer(13),
                           .expires_at = s.integer(14)};
}

Grant read_grant(const Statement& s) {
  return Grant{.id = s.text(0),
               .client_id = s.text(1),
               .user_id = s.text(2),
               .scopes = decode_string_list(s.text(3)),
               .audiences = decode_string_list(s.text(4)),
               .nonce = s.text(5),
               .auth_time = s.integer(6),
               .created_at = s.integer(7),
               .expires_at = s.integer(8),
               .revoked_at = s.integer(9)};
}

RefreshToken read_refresh(const Statement& s) {
  return RefreshToken{.token_hash = s.text(0),
                      .grant_id = s.text(1),
                      .created_at = s.integer(2),
                      .expires_at = s.integer(3),
                      .used_at = s.integer(4)};
}

AccessTokenRecord read_access(const Statement& s) {
  return AccessTokenRecord{.jti = s.text(0),
                           .grant_id = s.text(1),
                           .client_id = s.text(2),
                           .expires_at = s.integer(3),
                           .revoked_at = s.integer(4)};
}

SigningKey read_key(const Statement& s) {
  return SigningKey{.kid = s.text(0),
                    .alg = s.text(1),
                    .private_key_sealed = s.text(2),
                    .public_jwk = s.text(3),
                    .created_at = s.integer(4),
                    .retired_at = s.integer(5)};
}

DeviceCode read_device_code(const Statement& s) {
  return DeviceCode{.device_code_hash = s.text(0),
                    .user_code_hash = s.text(1),
                    .client_id = s.text(2),
                    .scopes = decode_string_list(s.text(3)),
                    .audiences = decode_string_list(s.text(4)),
                    .created_at = s.integer(5),
                    .expires_at = s.integer(6),
                    .interval = s.integer(7),
                    .last_polled_at = s.integer(8),
                    .status = s.text(9),
                    .user_id = s.text(10),
                    .auth_time = s.integer(11)};
}

template <typename T, typename Reader>
std::optional<T> first_row(Statement& s, Reader read) {
  if (!s.step()) return std::nullopt;
  return read(s);
}

// Reads the applied schema version; 0 when the database has never been migrated.
int read_schema_version(Connection& c) {
  auto exists = c.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                          "read schema version");
  if (!exists.step()) return 0;
  auto max = c.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "read schema version");
  max.step();
  return static_cast<int>(max.integer(0));
}

}  // namespace

struct SqliteStore::Impl {
  std::string path;
  SqliteOptions options;
  std::mutex mutex;
  std::vector<std::unique_ptr<Connection>> idle;
  std::atomic<std::size_t> in_use{0};          // for pool_stats (metrics)
  std::atomic<std::uint64_t> opened_total{0};
  // Once the schema was seen current it stays current (migrations only add versions).
  std::atomic<bool> schema_current{false};

  // ---- WAL checkpoints off the request path ----
  // By default SQLite checkpoints inside the commit that takes the WAL past 1000 pages: that call
  // copies the changed pages into the database file and fsyncs it, milliseconds during which the
  // request (and any request queued behind it on the thread) waits. Instead every pooled
  // connection's WAL hook (which replaces the automatic checkpoint) wakes one background thread,
  // which checkpoints PASSIVE (never blocking readers or writers) on a connection of its own.
  static constexpr int kCheckpointPages = 1000;  // SQLite's own default threshold
  static constexpr std::chrono::milliseconds kCheckpointSpacing{50};
  std::mutex checkpoint_mutex;
  std::condition_variable checkpoint_wake;
  std::atomic<bool> checkpoint_wanted{false};
  bool stopping = false;     // guarded by checkpoint_mutex
  std::thread checkpointer;  // started by the first checkpoint wanted

  ~Impl() {
    {
      std::lock_guard lock(checkpoint_mutex);
      stopping = true;
    }
    checkpoint_wake.notify_one();
    if (checkpointer.joinable()) checkpointer.join();
  }

  static int on_wal_commit(void* self, sqlite3*, const char*, int wal_pages) {
    if (wal_pages >= kCheckpointPages) static_cast<Impl*>(self)->request_checkpoint();
    return SQLITE_OK;
  }

  void request_checkpoint() {
    if (checkpoint_wanted.exchange(true)) return;  // one wake-up per checkpoint, not per commit
    std::lock_guard lock(checkpoint_mutex);
    if (stopping) return;
    if (!checkpointer.joinable()) checkpointer = std::thread([this] { run_checkpoints(); });
    checkpoint_wake.notify_one();
  }

  void run_checkpoints() {
    std::unique_ptr<Connection> own;
    std::unique_lock lock(checkpoint_mutex);
    while (true) {
      checkpoint_wake.wait(lock, [this] { return stopping || checkpoint_wanted.load(); });
      if (stopping) return;
      lock.unlock();
      checkpoint_wanted.store(false);
      try {
        if (!own) own = std::make_unique<Connection>(path, options.busy_timeout, options.synchronous_full);
        // Busy or failing: the WAL only grows until the next wake-up; commits are unaffected.
        sqlite3_wal_checkpoint_v2(own->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      } catch (const std::exception&) {
        own.reset();
      }
      lock.lock();
      // Until a writer restarts the WAL, every commit still reports it long: space the checkpoints.
      checkpoint_wake.wait_for(lock, kCheckpointSpacing, [this] { return stopping; });
    }
  }

  // A connection borrowed for one call; returned to the pool unless a transaction was left open.
  class Lease {
   public:
    Lease(Impl& impl, std::unique_ptr<Connection> connection) : impl_(impl), connection_(std::move(connection)) {
      impl_.in_use.fetch_add(1, std::memory_order_relaxed);
    }
    Lease(Lease&& other) noexcept : impl_(other.impl_), connection_(std::move(other.connection_)) {}
    ~Lease() {
      if (!connection_) return;  // moved from
      impl_.in_use.fetch_sub(1, std::memory_order_relaxed);
      // A connection left inside a transaction (should not happen) is dropped, not reused.
      if (connection_->in_transaction()) return;
      std::lock_guard lock(impl_.mutex);
      if (impl_.idle.size() < kMaxIdleConnections) impl_.idle.push_back(std::move(connection_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    Connection& operator*() { return *connection_; }
    Connection* operator->() { return connection_.get(); }

   private:
    Impl& impl_;
    std::unique_ptr<Connection> connection_;
  };

  Lease acquire() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        auto connection = std::move(idle.back());
        idle.pop_back();
        return Lease(*this, std::move(connection));
      }
    }
    auto connection = std::make_unique<Connection>(path, options.busy_timeout, options.synchronous_full);
    sqlite3_wal_hook(connection->handle(), &Impl::on_wal_commit, this);
    opened_total.fetch_add(1, std::memory_order_relaxed);
    return Lease(*this, std::move(connection));
  }

  // A connection to a database whose schema is the one this build knows.
  Lease ready() {
    Lease lease = acquire();
    if (!schema_current.load(std::memory_order_acquire)) {
      int version = read_schema_version(*lease);
      int latest = latest_schema_version();
      if (version < latest) {
        throw StoreError("database '" + path + "': schema is at version " + std::to_string(version) +
                         ", this build needs version " + std::to_string(latest) +
                         ": run `latchkey-server migrate`");
      }
      if (version > latest) {
        throw StoreError("database '" + path + "': schema is at version " + std::to_string(version) +
                         ", newer than this build knows (" + std::to_string(latest) +
                         "): upgrade latchkey-server");
      }
      schema_current.store(true, std::memory_order_release);
    }
    return lease;
  }
};

std::unique_ptr<SqliteStore> SqliteStore::open(const std::string& path, SqliteOptions options) {
  if (path.empty() || path == ":memory:" || path.starts_with("file::memory:")) {
    throw StoreError("sqlite: an in-memory SQLite database is not supported (each connection would see its own "
                     "empty database): use the URL memory: instead, or a file path");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  // Open one connection now so that a bad path or a non-database file fails here, not later.
  { auto lease = impl->acquire(); read_schema_version(*lease); }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

int SqliteStore::latest_schema_version() { return static_cast<int>(migrations().size()); }

int SqliteStore::schema_version() {
  auto c = impl_->acquire();
  return read_schema_version(*c);
}

int SqliteStore::synchronous_mode() {
  auto c = impl_->acquire();
  auto pragma = c->prepare("PRAGMA synchronous", "read synchronous");
  pragma.step();
  return static_cast<int>(pragma.integer(0));
}

void SqliteStore::migrate() { migrate_to(latest_schema_version()); }

PoolStats SqliteStore::pool_stats() {
  PoolStats stats;
  stats.in_use = impl_->in_use.load(std::memory_order_relaxed);
  stats.opened_total = impl_->opened_total.load(std::memory_order_relaxed);
  std::lock_guard lock(impl_->mutex);
  stats.idle = impl_->idle.size();
  return stats;
}

void SqliteStore::migrate_to(int target_version) {
  auto c = impl_->acquire();
  // The write lock is held from BEGIN IMMEDIATE on: a second process migrating at the same time
  // waits, then sees the versions the first one applied.
  Transaction tx(*c);
  c->exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
          "create schema_migrations");
  int version = read_schema_version(*c);
  auto all = migrations();
  if (version > static_cast<int>(all.size())) {
    throw StoreError("database '" + impl_->path + "': schema is at version " + std::to_string(version) +
                     ", newer than this build knows (" + std::to_string(all.size()) + "): upgrade latchkey-server");
  }
  auto target = static_cast<std::size_t>(std::clamp(target_version, 0, static_cast<int>(all.size())));
  for (auto v = static_cast<std::size_t>(version); v < target; ++v) {
    c->exec(std::string(all[v]), "apply schema migration");
    c->prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", "record schema migration")
        .bind(1, static_cast<std::int64_t>(v + 1))
        .bind(2, unix_now())
        .run();
  }
  tx.commit();
  if (std::max(version, static_cast<int>(target)) == latest_schema_version()) {
    impl_->schema_current.store(true, std::memory_order_release);
  }
}

// ---- clients ----

void SqliteStore::put_client(const Client& cl) {
  auto c = impl_->ready();
  c->prepare("INSERT INTO clients (" LK_CLIENT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
             "insert client")
      .bind(1, cl.id)
      .bind(2, cl.name)
      .bind(3, cl.secret_hash)
      .bind(4, std::int64_t{cl.is_public ? 1 : 0})
      .bind(5, encode_string_list(cl.redirect_uris))
      .bind(6, encode_string_list(cl.scopes))
      .bind(7, encode_string_list(cl.grant_types))
      .bind(8, encode_string_list(cl.audiences))
      .bind(9, cl.created_at)
      .bind(10, encode_string_list(cl.web_origins))
      .bind(11, encode_string_list(cl.allowed_claims))
      .insert("client '" + cl.id + "' already exists");
}

std::optional<Client> SqliteStore::find_client(const std::string& id) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_CLIENT_COLUMNS " FROM clients WHERE id = ?1", "find client");
  s.bind(1, id);
  return first_row<Client>(s, read_client);
}

std::vector<Client> SqliteStore::list_clients() {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_CLIENT_COLUMNS " FROM clients ORDER BY id", "list clients");
  std::vector<Client> out;
  while (s.step()) out.push_back(read_client(s));
  return out;
}

bool SqliteStore::delete_client(const std::string& id) {
  auto c = impl_->ready();
  auto s = c->prepare("DELETE FROM clients WHERE id = ?1", "delete client");
  s.bind(1, id).run();
  return s.changes() > 0;
}

bool SqliteStore::has_client_with_web_origin(const std::string& origin) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT 1 FROM clients, json_each(clients.web_origins) WHERE json_each.value = ?1 LIMIT 1",
                      "find client by web origin");
  s.bind(1, origin);
  return s.step();
}

// ---- users ----

void SqliteStore::put_user(const User& u) {
  auto c = impl_->ready();
  c->prepare("INSERT INTO users (" LK_USER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", "insert user")
      .bind(1, u.id)
      .bind(2, u.username)
      .bind(3, u.password_hash)
      .bind(4, u.email)
      .bind(5, u.name)
      .bind(6, u.created_at)
      .bind(7, encode_string_list(u.roles))
      .bind(8, encode_string_list(u.groups))
      .insert("user '" + u.id + "' already exists", "username '" + u.username + "' is taken");
}

std::optional<User> SqliteStore::find_user(const std::string& id) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_USER_COLUMNS " FROM users WHERE id = ?1", "find user");
  s.bind(1, id);
  return first_row<User>(s, read_user);
}

std::optional<User> SqliteStore::find_user_by_username(const std::string& username) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_USER_COLUMNS " FROM users WHERE username = ?1", "find user by username");
  s.bind(1, username);
  return first_row<User>(s, read_user);
}

std::vector<User> SqliteStore::list_users() {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_USER_COLUMNS " FROM users ORDER BY id", "list users");
  std::vector<User> out;
  while (s.step()) out.push_back(read_user(s));
  return out;
}

bool SqliteStore::delete_user(const std::string& id) {
  auto c = impl_->ready();
  Transaction tx(*c);
  auto del = c->prepare("DELETE FROM users WHERE id = ?1", "delete user");
  del.bind(1, id).run();
  bool deleted = del.changes() > 0;
  if (deleted) {
    c->prepare("DELETE FROM sessions WHERE user_id = ?1", "end the user's sessions").bind(1, id).run();
  }
  tx.commit();
  return deleted;
}

namespace {

// Read-modify-write of one list column inside BEGIN IMMEDIATE, so concurrent changes serialize on
// the write lock and none is lost.
bool update_user_list(Connection& c, const char* select_sql, const char* update_sql, const std::string& user_id,
                      const std::string& name, bool add) {
  Transaction tx(c);
  std::vector<std::string> names;
  {
    auto read = c.prepare(select_sql, "read user list");
    read.bind(1, user_id);
    if (!read.step()) return false;
    names = decode_string_list(read.text(0));
  }
  auto present = std::find(names.begin(), names.end(), name);
  bool changed = false;
  if (add && present == names.end()) {
    names.push_back(name);
    changed = true;
  } else if (!add && present != names.end()) {
    names.erase(present);
    changed = true;
  }
  if (changed) c.prepare(update_sql, "update user list").bind(1, encode_string_list(names)).bind(2, user_id).run();
  tx.commit();
  return true;
}

}  // namespace

bool SqliteStore::add_user_role(const std::string& user_id, const std::string& role) {
  auto c = impl_->ready();
  return update_user_list(*c, "SELECT roles FROM users WHERE id = ?1", "UPDATE users SET roles = ?1 WHERE id = ?2",
                          user_id, role, true);
}

bool SqliteStore::remove_user_role(const std::string& user_id, const std::string& role) {
  auto c = impl_->ready();
  return update_user_list(*c, "SELECT roles FROM users WHERE id = ?1", "UPDATE users SET roles = ?1 WHERE id = ?2",
                          user_id, role, false);
}

bool SqliteStore::add_user_group(const std::string& user_id, const std::string& group) {
  auto c = impl_->ready();
  return update_user_list(*c, "SELECT user_groups FROM users WHERE id = ?1",
                          "UPDATE users SET user_groups = ?1 WHERE id = ?2", user_id, group, true);
}

bool SqliteStore::remove_user_group(const std::string& user_id, const std::string& group) {
  auto c = impl_->ready();
  return update_user_list(*c, "SELECT user_groups FROM users WHERE id = ?1",
                          "UPDATE users SET user_groups = ?1 WHERE id = ?2", user_id, group, false);
}

// ---- sessions ----

void SqliteStore::put_session(const Session& se) {
  auto c = impl_->ready();
  c->prepare("INSERT INTO sessions (" LK_SESSION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)", "insert session")
      .bind(1, se.id_hash)
      .bind(2, se.user_id)
      .bind(3, se.auth_time)
      .bind(4, se.created_at)
      .bind(5, se.expires_at)
      .insert("session already exists");
}

std::optional<Session> SqliteStore::find_session(const std::string& id_hash, Timestamp now) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_SESSION_COLUMNS " FROM sessions WHERE id_hash = ?1 AND expires_at > ?2",
                      "find session");
  s.bind(1, id_hash).bind(2, now);
  return first_row<Session>(s, read_session);
}

void SqliteStore::delete_session(const std::string& id_hash) {
  auto c = impl_->ready();
  c->prepare("DELETE FROM sessions WHERE id_hash = ?1", "delete session").bind(1, id_hash).run();
}

// ---- consents ----

void SqliteStore::put_consent(const Consent& co) {
  auto c = impl_->ready();
  c->prepare(
       "INSERT INTO consents (user_id, client_id, scopes, audiences, granted_at) VALUES (?1, ?2, ?3, ?4, ?5) "
       "ON CONFLICT (user_id, client_id) DO UPDATE SET "
       "scopes = excluded.scopes, audiences = excluded.audiences, granted_at = excluded.granted_at",
       "save consent")
      .bind(1, co.user_id)
      .bind(2, co.client_id)
      .bind(3, encode_string_list(co.scopes))
      .bind(4, encode_string_list(co.audiences))
      .bind(5, co.granted_at)
      .run();
}

std::optional<Consent> SqliteStore::find_consent(const std::string& user_id, const std::string& client_id) {
  auto c = impl_->ready();
  auto s = c->prepare(
      "SELECT user_id, client_id, scopes, audiences, granted_at FROM consents WHERE user_id = ?1 AND client_id = ?2",
      "find consent");
  s.bind(1, user_id).bind(2, client_id);
  return first_row<Consent>(s, [](const Statement& r) {
    return Consent{.user_id = r.text(0),
                   .client_id = r.text(1),
                   .scopes = decode_string_list(r.text(2)),
                   .audiences = decode_string_list(r.text(3)),
                   .granted_at = r.integer(4)};
  });
}

// ---- interactions ----

void SqliteStore::put_interaction(const Interaction& i) {
  auto c = impl_->ready();
  c->prepare("INSERT INTO interactions (" LK_INTERACTION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)",
             "insert interaction")
      .bind(1, i.id_hash)
      .bind(2, i.browser_hash)
      .bind(3, i.request_json)
      .bind(4, i.created_at)
      .bind(5, i.expires_at)
      .insert("interaction already exists");
}

std::optional<Interaction> SqliteStore::find_interaction(const std::string& id_hash, Timestamp now) {
  auto c = impl_->ready();
  auto s = c->prepare(
      "SELECT " LK_INTERACTION_COLUMNS " FROM interactions WHERE id_hash = ?1 AND expires_at > ?2", "find interaction");
  s.bind(1, id_hash).bind(2, now);
  return first_row<Interaction>(s, read_interaction);
}

void SqliteStore::delete_interaction(const std::string& id_hash) {
  auto c = impl_->ready();
  c->prepare("DELETE FROM interactions WHERE id_hash = ?1", "delete interaction").bind(1, id_hash).run();
}

// ---- authorization codes ----

void SqliteStore::put_code(const AuthorizationCode& co) {
  auto c = impl_->ready();
  c->prepare("INSERT INTO authorization_codes (" LK_CODE_COLUMNS
             ", used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL)",
             "insert authorization code")
      .bind(1, co.code_hash)
      .bind(2, co.client_id)
      .bind(3, co.user_id)
      .bind(4, co.grant_id)
      .bind(5, co.redirect_uri)
      .bind(6, std::int64_t{co.redirect_uri_in_request ? 1 : 0})
      .bind(7, co.code_challenge)
      .bind(8, co.code_challenge_method)
      .bind(9, encode_string_list(co.scopes))
      .bind(10, encode_string_list(co.audiences))
      .bind(11, co.nonce)
      .bind(12, co.session_id_hash)
      .bind(13, co.auth_time)
      .bind(14, co.created_at)
      .bind(15, co.expires_at)
      .insert("authorization code already exists");
}

ConsumeResult SqliteStore::consume_code(const std::string& code_hash, Timestamp now) {
  auto c = impl_->ready();
  {
    // RFC 6749 §4.1.2: a code MUST NOT be used more than once. One statement checks and marks,
    // so of two concurrent callers (any connection, any process) exactly one gets the row.
    auto s = c->prepare("UPDATE authorization_codes SET used_at = ?1 WHERE code_hash = ?2 AND used_at IS NULL "
                        "RETURNING " LK_CODE_COLUMNS,
                        "consume authorization code");
    s.bind(1, now).bind(2, code_hash);
    if (s.step()) {
      ConsumeResult result{ConsumeOutcome::consumed, read_code(s)};
      s.run();  // finish the statement so the write completes before the connection is reused
      return result;
    }
  }
  auto s = c->prepare("SELECT " LK_CODE_COLUMNS " FROM authorization_codes WHERE code_hash = ?1",
                      "look up used authorization code");
  s.bind(1, code_hash);
  if (s.step()) return {ConsumeOutcome::already_used, read_code(s)};
  return {ConsumeOutcome::not_found, std::nullopt};
}

// ---- grants and tokens ----

namespace {

void insert_grant(Connection& c, const Grant& g) {
  c.prepare("INSERT INTO grants (" LK_GRANT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            "insert grant")
      .bind(1, g.id)
      .bind(2, g.client_id)
      .bind(3, g.user_id)
      .bind(4, encode_string_list(g.scopes))
      .bind(5, encode_string_list(g.audiences))
      .bind(6, g.nonce)
      .bind(7, g.auth_time)
      .bind(8, g.created_at)
      .bind(9, g.expires_at)
      .bind(10, g.revoked_at)
      .insert("grant '" + g.id + "' already exists");
}

void insert_refresh_token(Connection& c, const RefreshToken& t, const char* what) {
  c.prepare("INSERT INTO refresh_tokens (" LK_REFRESH_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)", what)
      .bind(1, t.token_hash)
      .bind(2, t.grant_id)
      .bind(3, t.created_at)
      .bind(4, t.expires_at)
      .bind(5, t.used_at)
      .insert("refresh token already exists");
}

}  // namespace

void SqliteStore::put_grant(const Grant& g) {
  auto c = impl_->ready();
  insert_grant(*c, g);
}

void SqliteStore::put_grant_and_refresh_token(const Grant& g, const RefreshToken& t) {
  auto c = impl_->ready();
  Transaction tx(*c);
  insert_grant(*c, g);
  insert_refresh_token(*c, t, "insert refresh token");
  tx.commit();
}

std::optional<Grant> SqliteStore::find_grant(const std::string& id) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_GRANT_COLUMNS " FROM grants WHERE id = ?1", "find grant");
  s.bind(1, id);
  return first_row<Grant>(s, read_grant);
}

bool SqliteStore::revoke_grant(const std::string& id, Timestamp now) {
  auto c = impl_->ready();
  Transaction tx(*c);
  {
    auto exists = c->prepare("SELECT 1 FROM grants WHERE id = ?1", "find grant to revoke");
    exists.bind(1, id);
    if (!exists.step()) return false;  // the transaction rolls back (nothing was written)
  }
  // Earlier revocation times are kept, so revoking twice changes nothing.
  c->prepare("UPDATE grants SET revoked_at = ?1 WHERE id = ?2 AND revoked_at = 0", "revoke grant")
      .bind(1, now)
      .bind(2, id)
      .run();
  c->prepare("UPDATE refresh_tokens SET used_at = ?1 WHERE grant_id = ?2 AND used_at = 0",
             "revoke the grant's refresh tokens")
      .bind(1, now)
      .bind(2, id)
      .run();
  c->prepare("UPDATE access_tokens SET revoked_at = ?1 WHERE grant_id = ?2 AND revoked_at = 0",
             "revoke the grant's access tokens")
      .bind(1, now)
      .bind(2, id)
      .run();
  tx.commit();
  return true;
}

void SqliteStore::put_refresh_token(const RefreshToken& t) {
  auto c = impl_->ready();
  insert_refresh_token(*c, t, "insert refresh token");
}

std::optional<RefreshToken> SqliteStore::find_refresh_token(const std::string& token_hash) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_REFRESH_COLUMNS " FROM refresh_tokens WHERE token_hash = ?1",
                      "find refresh token");
  s.bind(1, token_hash);
  return first_row<RefreshToken>(s, read_refresh);
}

std::optional<AccessTokenRecord> SqliteStore::find_access_token(const std::string& jti) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_ACCESS_COLUMNS " FROM access_tokens WHERE jti = ?1", "find access token");
  s.bind(1, jti);
  return first_row<AccessTokenRecord>(s, read_access);
}

RotateResult SqliteStore::rotate_refresh_token(const std::string& old_hash, const RefreshToken& next, Timestamp now) {
  auto c = impl_->ready();
  Transaction tx(*c);
  std::optional<RefreshToken> old;
  {
    // RFC 9700 §4.14.2: the conditional UPDATE is the claim. SQLite runs one writer at a time, so
    // of concurrent rotations (any connection, any process) exactly one sees used_at = 0 and
    // changes the row; the others change nothing and fall through to already_used.
    auto s = c->prepare("UPDATE refresh_tokens SET used_at = ?1 WHERE token_hash = ?2 AND used_at = 0 "
                        "RETURNING " LK_REFRESH_COLUMNS,
                        "mark refresh token used");
    s.bind(1, now).bind(2, old_hash);
    if (s.step()) {
      old = read_refresh(s);
      s.run();  // finish the UPDATE before the INSERT below
    }
  }
  if (!old) {
    auto s = c->prepare("SELECT " LK_REFRESH_COLUMNS " FROM refresh_tokens WHERE token_hash = ?1",
                        "look up used refresh token");
    s.bind(1, old_hash);
    if (s.step()) return {RotateOutcome::already_used, read_refresh(s)};  // nothing written: rolls back
    return {RotateOutcome::not_found, std::nullopt};
  }
  // A clash of `next` throws and rolls back the UPDATE too: the old token stays live.
  insert_refresh_token(*c, next, "insert rotated refresh token");
  tx.commit();
  return {RotateOutcome::rotated, std::move(old)};
}

void SqliteStore::revoke_access_token(const AccessTokenRecord& revoked) {
  auto c = impl_->ready();
  // One statement: a row of a token issued before access tokens became stateless keeps its grant
  // and expiry, and an earlier revocation keeps its time.
  c->prepare("INSERT INTO access_tokens (" LK_ACCESS_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5) "
             "ON CONFLICT (jti) DO UPDATE SET revoked_at = "
             "CASE WHEN access_tokens.revoked_at = 0 THEN excluded.revoked_at ELSE access_tokens.revoked_at END",
             "revoke access token")
      .bind(1, revoked.jti)
      .bind(2, revoked.grant_id)
      .bind(3, revoked.client_id)
      .bind(4, revoked.expires_at)
      .bind(5, revoked.revoked_at)
      .run();
}

// ---- device codes ----

void SqliteStore::put_device_code(const DeviceCode& d) {
  auto c = impl_->ready();
  // One statement: no second live request can slip in with the same user code.
  auto s = c->prepare("INSERT INTO device_codes (" LK_DEVICE_COLUMNS
                      ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 "
                      "WHERE NOT EXISTS (SELECT 1 FROM device_codes WHERE user_code_hash = ?2 "
                      "AND status = 'pending' AND expires_at > ?6)",
                      "insert device code");
  s.bind(1, d.device_code_hash)
      .bind(2, d.user_code_hash)
      .bind(3, d.client_id)
      .bind(4, encode_string_list(d.scopes))
      .bind(5, encode_string_list(d.audiences))
      .bind(6, d.created_at)
      .bind(7, d.expires_at)
      .bind(8, d.interval)
      .bind(9, d.last_polled_at)
      .bind(10, d.status)
      .bind(11, d.user_id)
      .bind(12, d.auth_time)
      .insert("device code already exists");
  if (s.changes() == 0) throw StoreError("a pending device code already has this user code");
}

std::optional<DeviceCode> SqliteStore::find_device_code(const std::string& device_code_hash) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_DEVICE_COLUMNS " FROM device_codes WHERE device_code_hash = ?1",
                      "find device code");
  s.bind(1, device_code_hash);
  return first_row<DeviceCode>(s, read_device_code);
}

std::optional<DeviceCode> SqliteStore::find_pending_device_code_by_user_code(const std::string& user_code_hash,
                                                                             Timestamp now) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_DEVICE_COLUMNS " FROM device_codes WHERE user_code_hash = ?1 "
                      "AND status = 'pending' AND expires_at > ?2",
                      "find device code by user code");
  s.bind(1, user_code_hash).bind(2, now);
  return first_row<DeviceCode>(s, read_device_code);
}

void SqliteStore::update_device_poll(const std::string& device_code_hash, Timestamp polled_at,
                                     std::int64_t interval) {
  auto c = impl_->ready();
  c->prepare("UPDATE device_codes SET last_polled_at = ?1, poll_interval = ?2 WHERE device_code_hash = ?3",
             "record device poll")
      .bind(1, polled_at)
      .bind(2, interval)
      .bind(3, device_code_hash)
      .run();
}

bool SqliteStore::decide_device_code(const std::string& user_code_hash, bool approve, const std::string& user_id,
                                     Timestamp auth_time, Timestamp now) {
  auto c = impl_->ready();
  // One conditional UPDATE: a code is decided once, and never after it expired (RFC 8628 §3.3).
  auto s = c->prepare("UPDATE device_codes SET status = ?1, user_id = ?2, auth_time = ?3 "
                      "WHERE user_code_hash = ?4 AND status = 'pending' AND expires_at > ?5",
                      "decide device code");
  s.bind(1, std::string(approve ? "approved" : "denied"))
      .bind(2, approve ? user_id : std::string())
      .bind(3, approve ? auth_time : Timestamp{0})
      .bind(4, user_code_hash)
      .bind(5, now)
      .run();
  return s.changes() > 0;
}

bool SqliteStore::consume_device_code(const std::string& device_code_hash) {
  auto c = impl_->ready();
  auto s = c->prepare(
      "UPDATE device_codes SET status = 'consumed' WHERE device_code_hash = ?1 AND status = 'approved'",
      "consume device code");
  s.bind(1, device_code_hash).run();
  return s.changes() > 0;
}

// ---- keys and secrets ----

std::vector<SigningKey> SqliteStore::list_keys() {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT " LK_KEY_COLUMNS " FROM signing_keys ORDER BY created_at DESC, rowid DESC",
                      "list signing keys");
  std::vector<SigningKey> out;
  while (s.step()) out.push_back(read_key(s));
  return out;
}

bool SqliteStore::insert_key_if_none_active(const SigningKey& k) {
  auto c = impl_->ready();
  // One statement: the check and the insert cannot be split by another writer.
  auto s = c->prepare("INSERT INTO signing_keys (" LK_KEY_COLUMNS
                      ") SELECT ?1, ?2, ?3, ?4, ?5, ?6 "
                      "WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at = 0)",
                      "insert first signing key");
  s.bind(1, k.kid)
      .bind(2, k.alg)
      .bind(3, k.private_key_sealed)
      .bind(4, k.public_jwk)
      .bind(5, k.created_at)
      .bind(6, k.retired_at)
      .insert("signing key '" + k.kid + "' already exists", "an active signing key already exists");
  return s.changes() > 0;
}

std::string SqliteStore::put_secret_if_absent(const std::string& name, const std::string& value) {
  auto c = impl_->ready();
  // Secrets are never changed once stored, so the read after the insert sees the winner's value.
  c->prepare("INSERT INTO server_secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
             "store server secret")
      .bind(1, name)
      .bind_blob(2, value)
      .run();
  auto s = c->prepare("SELECT value FROM server_secrets WHERE name = ?1", "read server secret");
  s.bind(1, name);
  if (!s.step()) throw StoreError("sqlite: server secret '" + name + "' vanished after it was stored");
  return s.blob(0);
}

void SqliteStore::rotate_key(const SigningKey& next, Timestamp now) {
  auto c = impl_->ready();
  // BEGIN IMMEDIATE: the retire and the insert are seen together or not at all, and the unique
  // index on active keys holds at every commit (the old key is retired before the new one lands).
  Transaction tx(*c);
  c->prepare("UPDATE signing_keys SET retired_at = ?1 WHERE retired_at = 0", "retire active signing key")
      .bind(1, now)
      .run();
  c->prepare("INSERT INTO signing_keys (" LK_KEY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, 0)",
             "insert rotated signing key")
      .bind(1, next.kid)
      .bind(2, next.alg)
      .bind(3, next.private_key_sealed)
      .bind(4, next.public_jwk)
      .bind(5, next.created_at)
      .insert("signing key '" + next.kid + "' already exists", "an active signing key already exists");
  tx.commit();
}

bool SqliteStore::delete_key(const std::string& kid) {
  auto c = impl_->ready();
  auto s = c->prepare("DELETE FROM signing_keys WHERE kid = ?1", "delete signing key");
  s.bind(1, kid).run();
  return s.changes() > 0;
}

namespace {

std::optional<ThrottleState> read_throttle(Connection& c, const std::string& key) {
  auto s = c.prepare("SELECT failures, last_failure_at, locked_until FROM throttles WHERE key = ?1", "find throttle");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return ThrottleState{s.integer(0), s.integer(1), s.integer(2)};
}

}  // namespace

ThrottleState SqliteStore::find_throttle(const std::string& key) {
  auto c = impl_->ready();
  return read_throttle(*c, key).value_or(ThrottleState{});
}

std::array<ThrottleState, 2> SqliteStore::find_throttles(const std::string& first, const std::string& second) {
  auto c = impl_->ready();
  auto s = c->prepare("SELECT key, failures, last_failure_at, locked_until FROM throttles WHERE key IN (?1, ?2)",
                      "find throttles");
  s.bind(1, first).bind(2, second);
  std::array<ThrottleState, 2> states{};
  while (s.step()) {
    ThrottleState state{s.integer(1), s.integer(2), s.integer(3)};
    const std::string key = s.text(0);
    if (key == first) states[0] = state;
    if (key == second) states[1] = state;
  }
  return states;
}

ThrottleState SqliteStore::record_throttle_failure(const std::string& key, Timestamp now, const ThrottleRule& rule) {
  auto c = impl_->ready();
  // Read, compute and write under one IMMEDIATE transaction: concurrent failures from any process
  // are serialized, so none is lost.
  Transaction tx(*c);
  ThrottleState next = next_throttle_state(read_throttle(*c, key).value_or(ThrottleState{}), now, rule);
  c->prepare("INSERT INTO throttles (key, failures, last_failure_at, locked_until) VALUES (?1, ?2, ?3, ?4) "
             "ON CONFLICT (key) DO UPDATE SET failures = ?2, last_failure_at = ?3, locked_until = ?4",
             "record throttle failure")
      .bind(1, key)
      .bind(2, next.failures)
      .bind(3, next.last_failure_at)
      .bind(4, next.locked_until)
      .run();
  tx.commit();
  return next;
}

void SqliteStore::clear_throttle(const std::string& key) {
  auto c = impl_->ready();
  c->prepare("DELETE FROM throttles WHERE key = ?1", "clear throttle").bind(1, key).run();
}

// ---- maintenance ----

namespace {

// A grant whose tokens may go: revoked or expired for longer than the grace period (?1 = cutoff).
#define LK_DONE_GRANTS \
  "SELECT id FROM grants WHERE (revoked_at <> 0 AND revoked_at <= ?1) OR (expires_at <> 0 AND expires_at <= ?1)"

struct PurgeStatement {
  const char* sql;  // ?1 = now - kPurgeGracePeriod, ?2 = now, ?3 = the batch limit
  const char* what;
};

// Each deletes at most ?3 rows, chosen by their key (bounded batches; see store.h MaintenanceStore).
constexpr PurgeStatement kPurges[] = {
    {"DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions WHERE expires_at <= ?2 LIMIT ?3)",
     "purge expired sessions"},
    {"DELETE FROM interactions WHERE id_hash IN (SELECT id_hash FROM interactions WHERE expires_at <= ?2 LIMIT ?3)",
     "purge expired interactions"},
    {"DELETE FROM authorization_codes WHERE code_hash IN "
     "(SELECT code_hash FROM authorization_codes WHERE expires_at <= ?1 LIMIT ?3)",
     "purge expired authorization codes"},
    {"DELETE FROM device_codes WHERE device_code_hash IN "
     "(SELECT device_code_hash FROM device_codes WHERE expires_at <= ?1 LIMIT ?3)",
     "purge expired device codes"},
    {"DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
     "WHERE expires_at <= ?1 OR grant_id IN (" LK_DONE_GRANTS ") LIMIT ?3)",
     "purge expired refresh tokens"},
    {"DELETE FROM access_tokens WHERE jti IN (SELECT jti FROM access_tokens "
     "WHERE expires_at <= ?2 OR (grant_id <> '' AND grant_id IN (" LK_DONE_GRANTS ")) LIMIT ?3)",
     "purge expired access tokens"},
    // Only grants no token refers to any more: their tokens went first (this call or an earlier one).
    {"DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.id IN (" LK_DONE_GRANTS ") "
     "AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id) "
     "AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id) LIMIT ?3)",
     "purge finished grants"},
    {"DELETE FROM throttles WHERE key IN "
     "(SELECT key FROM throttles WHERE last_failure_at <= ?1 AND locked_until <= ?2 LIMIT ?3)",
     "purge idle throttle keys"},
};

#undef LK_DONE_GRANTS

}  // namespace

std::size_t SqliteStore::purge_expired(Timestamp now, std::size_t batch_limit) {
  if (batch_limit == 0) return 0;
  const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(batch_limit, std::numeric_limits<std::int64_t>::max()));
  auto c = impl_->ready();
  Transaction tx(*c);
  std::size_t purged = 0;
  for (const auto& purge : kPurges) {
    auto s = c->prepare(purge.sql, purge.what);
    s.bind(1, now - kPurgeGracePeriod).bind(2, now).bind(3, limit).run();
    purged += static_cast<std::size_t>(s.changes());
  }
  tx.commit();
  return purged;
}

}  // namespace latchkey::store::sqlite
