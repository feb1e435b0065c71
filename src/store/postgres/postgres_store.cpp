#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/postgres/connection.h"
#include "store/postgres/migrations.h"
#include "store/sql_columns.h"
#include "store/sqlite/string_list.h"  // the JSON list codec: list columns are stored the same way

namespace latchkey::store::postgres {

using sqlite::decode_string_list;
using sqlite::encode_string_list;

namespace {

constexpr std::size_t kDefaultPoolMax = 8;
constexpr std::size_t kMaxPoolMax = 1000;
// Added to the URL unless it sets them: an outage must never hang a request. connect_timeout bounds
// connecting; TCP keepalives and tcp_user_timeout notice a peer that vanished without closing the
// connection (network partition, power loss) within about 25 s instead of the kernel's 15 minutes.
constexpr std::pair<std::string_view, std::string_view> kDefaultParameters[] = {
    {"connect_timeout", "3"},  {"keepalives_idle", "10"},        {"keepalives_interval", "5"},
    {"keepalives_count", "3"}, {"tcp_user_timeout", "10000"}};
constexpr auto kPoolWait = std::chrono::seconds(10);
constexpr int kMaxAttempts = 10;  // per call, on serialization failure or deadlock

// ---- SQL, by concern ----
using sql::unix_now;

// Advisory locks, two-key form: (purpose, schema), so deployments in separate schemas do not wait
// for each other.
#define LK_LOCK_KEY(purpose) purpose ", hashtext(coalesce(current_schema(), ''))"
#define LK_MIGRATE_LOCK "1280003399"  // "LKMG"
#define LK_PURGE_LOCK "1280004167"    // "LKPG"

namespace schema_sql {
constexpr Sql kHasMigrationsTable{"schema_has_migrations", "SELECT to_regclass('schema_migrations') IS NOT NULL"};
constexpr Sql kVersion{"schema_version", "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"};
constexpr Sql kLock{"schema_lock", "SELECT pg_advisory_xact_lock(" LK_LOCK_KEY(LK_MIGRATE_LOCK) ")"};
constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)";
constexpr Sql kRecord{"schema_record", "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)"};
}  // namespace schema_sql

namespace client_sql {
constexpr Sql kInsert{"client_insert", "INSERT INTO clients (" LK_CLIENT_COLUMNS
                                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"};
constexpr Sql kFind{"client_find", "SELECT " LK_CLIENT_COLUMNS " FROM clients WHERE id = $1"};
constexpr Sql kList{"client_list", "SELECT " LK_CLIENT_COLUMNS " FROM clients ORDER BY id COLLATE \"C\""};
constexpr Sql kDelete{"client_delete", "DELETE FROM clients WHERE id = $1"};
constexpr Sql kHasWebOrigin{"client_has_web_origin",
                            "SELECT 1 FROM clients WHERE EXISTS (SELECT 1 FROM "
                            "json_array_elements_text(web_origins::json) AS origin(value) WHERE origin.value = $1) "
                            "LIMIT 1"};
}  // namespace client_sql

namespace user_sql {
constexpr Sql kInsert{"user_insert",
                      "INSERT INTO users (" LK_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"};
constexpr Sql kFind{"user_find", "SELECT " LK_USER_COLUMNS " FROM users WHERE id = $1"};
constexpr Sql kFindByUsername{"user_find_by_username", "SELECT " LK_USER_COLUMNS " FROM users WHERE username = $1"};
constexpr Sql kList{"user_list", "SELECT " LK_USER_COLUMNS " FROM users ORDER BY id COLLATE \"C\""};
// The user and their sessions in one statement.
constexpr Sql kDelete{"user_delete",
                      "WITH deleted AS (DELETE FROM users WHERE id = $1 RETURNING id), "
                      "ended AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM deleted)) "
                      "SELECT count(*) FROM deleted"};
constexpr Sql kLockRoles{"user_lock_roles", "SELECT roles FROM users WHERE id = $1 FOR UPDATE"};
constexpr Sql kSetRoles{"user_set_roles", "UPDATE users SET roles = $2 WHERE id = $1"};
constexpr Sql kLockGroups{"user_lock_groups", "SELECT user_groups FROM users WHERE id = $1 FOR UPDATE"};
constexpr Sql kSetGroups{"user_set_groups", "UPDATE users SET user_groups = $2 WHERE id = $1"};
}  // namespace user_sql

namespace session_sql {
constexpr Sql kInsert{"session_insert", "INSERT INTO sessions (" LK_SESSION_COLUMNS ") VALUES ($1, $2, $3, $4, $5)"};
constexpr Sql kFind{"session_find",
                    "SELECT " LK_SESSION_COLUMNS " FROM sessions WHERE id_hash = $1 AND expires_at > $2"};
constexpr Sql kDelete{"session_delete", "DELETE FROM sessions WHERE id_hash = $1"};
}  // namespace session_sql

namespace consent_sql {
constexpr Sql kSave{"consent_save",
                    "INSERT INTO consents (user_id, client_id, scopes, audiences, granted_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, client_id) DO UPDATE SET "
                    "scopes = EXCLUDED.scopes, audiences = EXCLUDED.audiences, granted_at = EXCLUDED.granted_at"};
constexpr Sql kFind{"consent_find",
                    "SELECT user_id, client_id, scopes, audiences, granted_at FROM consents "
                    "WHERE user_id = $1 AND client_id = $2"};
}  // namespace consent_sql

namespace interaction_sql {
constexpr Sql kInsert{"interaction_insert",
                      "INSERT INTO interactions (" LK_INTERACTION_COLUMNS ") VALUES ($1, $2, $3, $4, $5)"};
constexpr Sql kFind{"interaction_find",
                    "SELECT " LK_INTERACTION_COLUMNS " FROM interactions WHERE id_hash = $1 AND expires_at > $2"};
constexpr Sql kDelete{"interaction_delete", "DELETE FROM interactions WHERE id_hash = $1"};
}  // namespace interaction_sql

namespace code_sql {
constexpr Sql kInsert{"code_insert",
                      "INSERT INTO authorization_codes (" LK_CODE_COLUMNS
                      ", used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL)"};
// RFC 6749 §4.1.2: a code MUST NOT be used more than once. The conditional UPDATE is the claim:
// of concurrent callers (any connection, any instance) exactly one changes the row; the others wait
// for its row lock, re-check used_at, and change nothing.
constexpr Sql kConsume{"code_consume",
                       "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL "
                       "RETURNING " LK_CODE_COLUMNS};
constexpr Sql kFind{"code_find", "SELECT " LK_CODE_COLUMNS " FROM authorization_codes WHERE code_hash = $1"};
}  // namespace code_sql

namespace grant_sql {
constexpr Sql kInsert{"grant_insert",
                      "INSERT INTO grants (" LK_GRANT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"};
constexpr Sql kFind{"grant_find", "SELECT " LK_GRANT_COLUMNS " FROM grants WHERE id = $1"};
// The grant, its live refresh tokens and its access tokens in one statement; earlier times are kept.
constexpr Sql kRevoke{"grant_revoke",
                      "WITH revoked AS (UPDATE grants SET revoked_at = CASE WHEN revoked_at = 0 THEN $2 "
                      "ELSE revoked_at END WHERE id = $1 RETURNING id), "
                      "refresh AS (UPDATE refresh_tokens SET used_at = $2 "
                      "WHERE grant_id IN (SELECT id FROM revoked) AND used_at = 0), "
                      "access AS (UPDATE access_tokens SET revoked_at = $2 "
                      "WHERE grant_id IN (SELECT id FROM revoked) AND revoked_at = 0) "
                      "SELECT count(*) FROM revoked"};
constexpr Sql kInsertRefresh{"refresh_insert",
                             "INSERT INTO refresh_tokens (" LK_REFRESH_COLUMNS ") VALUES ($1, $2, $3, $4, $5)"};
constexpr Sql kFindRefresh{"refresh_find", "SELECT " LK_REFRESH_COLUMNS " FROM refresh_tokens WHERE token_hash = $1"};
// RFC 9700 §4.14.2: one statement marks the old token used (only if live) and inserts the next
// one only when it did. A clash of the next token fails the whole statement: the old stays live.
constexpr Sql kRotateRefresh{
    "refresh_rotate",
    "WITH old AS (UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at = 0 "
    "RETURNING " LK_REFRESH_COLUMNS "), "
    "next AS (INSERT INTO refresh_tokens (" LK_REFRESH_COLUMNS ") "
    "SELECT $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint FROM old) "
    "SELECT " LK_REFRESH_COLUMNS " FROM old"};
constexpr Sql kFindAccess{"access_find", "SELECT " LK_ACCESS_COLUMNS " FROM access_tokens WHERE jti = $1"};
// The only write for access tokens: a row of a token issued before access tokens became stateless
// keeps its grant and expiry, and an earlier revocation keeps its time.
constexpr Sql kRevokeAccess{"access_revoke_upsert",
                            "INSERT INTO access_tokens (" LK_ACCESS_COLUMNS ") VALUES ($1, $2, $3, $4, $5) "
                            "ON CONFLICT (jti) DO UPDATE SET revoked_at = CASE WHEN access_tokens.revoked_at = 0 "
                            "THEN excluded.revoked_at ELSE access_tokens.revoked_at END"};
}  // namespace grant_sql

namespace device_sql {
// No second pending, unexpired request with the same user code: run in a SERIALIZABLE
// transaction, so two concurrent inserts cannot both see "none" and both insert.
constexpr Sql kInsert{"device_insert",
                      "INSERT INTO device_codes (" LK_DEVICE_COLUMNS ") "
                      "SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, "
                      "$8::bigint, $9::bigint, $10::text, $11::text, $12::bigint "
                      "WHERE NOT EXISTS (SELECT 1 FROM device_codes WHERE user_code_hash = $2::text "
                      "AND status = 'pending' AND expires_at > $6::bigint)"};
constexpr Sql kFind{"device_find",
                    "SELECT " LK_DEVICE_COLUMNS " FROM device_codes WHERE device_code_hash = $1"};
constexpr Sql kFindPending{"device_find_pending",
                           "SELECT " LK_DEVICE_COLUMNS " FROM device_codes WHERE user_code_hash = $1 "
                           "AND status = 'pending' AND expires_at > $2 LIMIT 1"};
constexpr Sql kPoll{"device_poll",
                    "UPDATE device_codes SET last_polled_at = $2, poll_interval = $3 WHERE device_code_hash = $1"};
// Decided once, and never after it expired (RFC 8628 §3.3).
constexpr Sql kDecide{"device_decide",
                      "UPDATE device_codes SET status = $2, user_id = $3, auth_time = $4 "
                      "WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $5"};
constexpr Sql kConsume{"device_consume",
                       "UPDATE device_codes SET status = 'consumed' "
                       "WHERE device_code_hash = $1 AND status = 'approved'"};
}  // namespace device_sql

namespace key_sql {
constexpr Sql kList{"key_list", "SELECT " LK_KEY_COLUMNS " FROM signing_keys ORDER BY created_at DESC, inserted DESC"};
// The unique partial index decides between concurrent first keys; a taken kid still fails.
constexpr Sql kInsertFirst{"key_insert_first",
                           "INSERT INTO signing_keys (" LK_KEY_COLUMNS ") "
                           "SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::bigint "
                           "WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at = 0) "
                           "ON CONFLICT (retired_at) WHERE retired_at = 0 DO NOTHING"};
// Taken before the transaction's first query (so before its snapshot, also under SERIALIZABLE):
// rotations run one after the other. SHARE ROW EXCLUSIVE conflicts with itself and with writers,
// not with readers.
constexpr const char* kLockForRotation = "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE";
constexpr Sql kRetireActive{"key_retire_active", "UPDATE signing_keys SET retired_at = $1 WHERE retired_at = 0"};
constexpr Sql kInsertActive{"key_insert_active",
                            "INSERT INTO signing_keys (" LK_KEY_COLUMNS ") VALUES ($1, $2, $3, $4, $5, 0)"};
constexpr Sql kDelete{"key_delete", "DELETE FROM signing_keys WHERE kid = $1"};
constexpr Sql kPutSecret{"secret_put",
                         "INSERT INTO server_secrets (name, value) VALUES ($1, decode($2, 'hex')) "
                         "ON CONFLICT (name) DO NOTHING"};
constexpr Sql kGetSecret{"secret_get", "SELECT encode(value, 'hex') FROM server_secrets WHERE name = $1"};
}  // namespace key_sql

namespace throttle_sql {
constexpr Sql kFind{"throttle_find", "SELECT failures, last_failure_at, locked_until FROM throttles WHERE key = $1"};
// A zero row first, so that there is a row to lock even for the first failure of a key.
constexpr Sql kEnsure{"throttle_ensure",
                      "INSERT INTO throttles (key, failures, last_failure_at, locked_until) VALUES ($1, 0, 0, 0) "
                      "ON CONFLICT (key) DO NOTHING"};
constexpr Sql kLock{"throttle_lock",
                    "SELECT failures, last_failure_at, locked_until FROM throttles WHERE key = $1 FOR UPDATE"};
constexpr Sql kStore{"throttle_store",
                     "UPDATE throttles SET failures = $2, last_failure_at = $3, locked_until = $4 WHERE key = $1"};
constexpr Sql kClear{"throttle_clear", "DELETE FROM throttles WHERE key = $1"};
}  // namespace throttle_sql

namespace purge_sql {
// store.h MaintenanceStore. Each statement deletes at most `limit` rows, chosen by their key.
constexpr Sql kTryLock{"purge_try_lock", "SELECT pg_try_advisory_xact_lock(" LK_LOCK_KEY(LK_PURGE_LOCK) ")"};
// $1 = now, $2 = limit
constexpr Sql kSessions{"purge_sessions",
                        "DELETE FROM sessions WHERE id_hash IN "
                        "(SELECT id_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)"};
constexpr Sql kInteractions{"purge_interactions",
                            "DELETE FROM interactions WHERE id_hash IN "
                            "(SELECT id_hash FROM interactions WHERE expires_at <= $1 LIMIT $2)"};
// $1 = now - grace, $2 = limit
constexpr Sql kCodes{"purge_codes",
                     "DELETE FROM authorization_codes WHERE code_hash IN "
                     "(SELECT code_hash FROM authorization_codes WHERE expires_at <= $1 LIMIT $2)"};
constexpr Sql kDeviceCodes{"purge_device_codes",
                           "DELETE FROM device_codes WHERE device_code_hash IN "
                           "(SELECT device_code_hash FROM device_codes WHERE expires_at <= $1 LIMIT $2)"};
// A grant is done when revoked or expired for longer than the grace period ($1 = now - grace).
#define LK_DONE_GRANTS \
  "SELECT id FROM grants WHERE (revoked_at <> 0 AND revoked_at <= $1) OR (expires_at <> 0 AND expires_at <= $1)"
constexpr Sql kRefreshTokens{"purge_refresh_tokens",
                             "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
                             "WHERE expires_at <= $1 OR grant_id IN (" LK_DONE_GRANTS ") LIMIT $2)"};
// $1 = now - grace, $2 = now, $3 = limit
constexpr Sql kAccessTokens{"purge_access_tokens",
                            "DELETE FROM access_tokens WHERE jti IN (SELECT jti FROM access_tokens "
                            "WHERE expires_at <= $2 OR (grant_id <> '' AND grant_id IN (" LK_DONE_GRANTS ")) "
                            "LIMIT $3)"};
// $1 = now - grace, $2 = limit. Only grants no token refers to any more.
constexpr Sql kGrants{"purge_grants",
                      "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.id IN (" LK_DONE_GRANTS ") "
                      "AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id) "
                      "AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id) LIMIT $2)"};
#undef LK_DONE_GRANTS
// $1 = now - grace, $2 = now, $3 = limit
constexpr Sql kThrottles{"purge_throttles",
                         "DELETE FROM throttles WHERE key IN "
                         "(SELECT key FROM throttles WHERE last_failure_at <= $1 AND locked_until <= $2 LIMIT $3)"};
}  // namespace purge_sql

// ---- rows to records ----

Client read_client(const Result& r, int row) {
  return Client{.id = r.text(row, 0),
                .name = r.text(row, 1),
                .secret_hash = r.text(row, 2),
                .is_public = r.boolean(row, 3),
                .redirect_uris = decode_string_list(r.text(row, 4)),
                .scopes = decode_string_list(r.text(row, 5)),
                .grant_types = decode_string_list(r.text(row, 6)),
                .audiences = decode_string_list(r.text(row, 7)),
                .created_at = r.integer(row, 8),
                .web_origins = decode_string_list(r.text(row, 9)),
                .allowed_claims = decode_string_list(r.text(row, 10))};
}

User read_user(const Result& r, int row) {
  return User{.id = r.text(row, 0),
              .username = r.text(row, 1),
              .password_hash = r.text(row, 2),
              .email = r.text(row, 3),
              .name = r.text(row, 4),
              .created_at = r.integer(row, 5),
              .roles = decode_string_list(r.text(row, 6)),
              .groups = decode_string_list(r.text(row, 7))};
}

Session read_session(const Result& r, int row) {
  return Session{.id_hash = r.text(row, 0),
                 .user_id = r.text(row, 1),
                 .auth_time = r.integer(row, 2),
                 .created_at = r.integer(row, 3),
                 .expires_at = r.integer(row, 4)};
}

Interaction read_interaction(const Result& r, int row) {
  return Interaction{.id_hash = r.text(row, 0),
                     .browser_hash = r.text(row, 1),
                     .request_json = r.text(row, 2),
                     .created_at = r.integer(row, 3),
                     .expires_at = r.integer(row, 4)};
}

AuthorizationCode read_code(const Result& r, int row) {
  return AuthorizationCode{.code_hash = r.text(row, 0),
                           .client_id = r.text(row, 1),
                           .user_id = r.text(row, 2),
                           .grant_id = r.text(row, 3),
                           .redirect_uri = r.text(row, 4),
                           .redirect_uri_in_request = r.boolean(row, 5),
                           .code_challenge = r.text(row, 6),
                           .code_challenge_method = r.text(row, 7),
                           .scopes = decode_string_list(r.text(row, 8)),
                           .audiences = decode_string_list(r.text(row, 9)),
                           .nonce = r.text(row, 10),
                           .session_id_hash = r.text(row, 11),
                           .auth_time = r.integer(row, 12),
                           .created_at = r.integer(row, 13),
                           .expires_at = r.integer(row, 14)};
}

Grant read_grant(const Result& r, int row) {
  return Grant{.id = r.text(row, 0),
               .client_id = r.text(row, 1),
               .user_id = r.text(row, 2),
               .scopes = decode_string_list(r.text(row, 3)),
               .audiences = decode_string_list(r.text(row, 4)),
               .nonce = r.text(row, 5),
               .auth_time = r.integer(row, 6),
               .created_at = r.integer(row, 7),
               .expires_at = r.integer(row, 8),
               .revoked_at = r.integer(row, 9)};
}

RefreshToken read_refresh(const Result& r, int row) {
  return RefreshToken{.token_hash = r.text(row, 0),
                      .grant_id = r.text(row, 1),
                      .created_at = r.integer(row, 2),
                      .expires_at = r.integer(row, 3),
                      .used_at = r.integer(row, 4)};
}

AccessTokenRecord read_access(const Result& r, int row) {
  return AccessTokenRecord{.jti = r.text(row, 0),
                           .grant_id = r.text(row, 1),
                           .client_id = r.text(row, 2),
                           .expires_at = r.integer(row, 3),
                           .revoked_at = r.integer(row, 4)};
}

SigningKey read_key(const Result& r, int row) {
  return SigningKey{.kid = r.text(row, 0),
                    .alg = r.text(row, 1),
                    .private_key_sealed = r.text(row, 2),
                    .public_jwk = r.text(row, 3),
                    .created_at = r.integer(row, 4),
                    .retired_at = r.integer(row, 5)};
}

DeviceCode read_device_code(const Result& r, int row) {
  return DeviceCode{.device_code_hash = r.text(row, 0),
                    .user_code_hash = r.text(row, 1),
                    .client_id = r.text(row, 2),
                    .scopes = decode_string_list(r.text(row, 3)),
                    .audiences = decode_string_list(r.text(row, 4)),
                    .created_at = r.integer(row, 5),
                    .expires_at = r.integer(row, 6),
                    .interval = r.integer(row, 7),
                    .last_polled_at = r.integer(row, 8),
                    .status = r.text(row, 9),
                    .user_id = r.text(row, 10),
                    .auth_time = r.integer(row, 11)};
}

ThrottleState read_throttle(const Result& r, int row) {
  return ThrottleState{r.integer(row, 0), r.integer(row, 1), r.integer(row, 2)};
}

template <typename Reader>
auto first_row(const Result& r, Reader read) -> std::optional<decltype(read(r, 0))> {
  if (r.empty()) return std::nullopt;
  return read(r, 0);
}

template <typename Reader>
auto all_rows(const Result& r, Reader read) {
  std::vector<decltype(read(r, 0))> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read(r, i));
  return out;
}

// Runs an INSERT; a primary-key clash throws StoreError(on_duplicate_key), a clash of another
// unique constraint StoreError(on_duplicate_unique).
template <typename... Args>
Result insert(Connection& c, const Sql& sql, const std::string& on_duplicate_key,
              const std::string& on_duplicate_unique, const Args&... args) {
  try {
    return c.execute(sql, args...);
  } catch (const UniqueViolation& clash) {
    if (clash.constraint.ends_with("_pkey") || on_duplicate_unique.empty()) throw StoreError(on_duplicate_key);
    throw StoreError(on_duplicate_unique);
  }
}

int read_schema_version(Connection& c) {
  if (!c.execute(schema_sql::kHasMigrationsTable).boolean(0, 0)) return 0;
  return static_cast<int>(c.execute(schema_sql::kVersion).integer(0, 0));
}

// Jittered exponential back-off before retrying a conflicting call: 1, 2, 4 ... 64 ms, times 0.5-1.5.
void back_off(int attempt) {
  thread_local std::minstd_rand random{std::random_device{}()};
  const int base_ms = 1 << std::min(attempt, 6);
  std::uniform_int_distribution<int> jitter(base_ms / 2, base_ms + base_ms / 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(jitter(random)));
}

}  // namespace

// ---- URL ----

ConnectionSettings parse_connection_url(const std::string& url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    throw StoreError("postgresql: the database URL must start with postgresql:// or postgres://");
  }
  ConnectionSettings settings;
  settings.pool_max = kDefaultPoolMax;
  const auto query_start = url.find('?');
  std::string base = url.substr(0, query_start);
  std::vector<std::string> kept;
  std::vector<std::string_view> given;  // parameter names the URL sets
  if (query_start != std::string::npos) {
    std::string_view query(url);
    query.remove_prefix(query_start + 1);
    while (!query.empty()) {
      auto end = query.find('&');
      std::string_view item = query.substr(0, end);
      query.remove_prefix(end == std::string_view::npos ? query.size() : end + 1);
      if (item.empty()) continue;
      std::string_view key = item.substr(0, item.find('='));
      if (key == "pool_max") {
        std::string_view value = item.size() > key.size() ? item.substr(key.size() + 1) : std::string_view{};
        std::size_t n = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || n < 1 || n > kMaxPoolMax) {
          throw StoreError("postgresql: pool_max in the database URL must be a whole number from 1 to " +
                           std::to_string(kMaxPoolMax));
        }
        settings.pool_max = n;
        continue;
      }
      given.push_back(key);
      kept.emplace_back(item);
    }
  }
  for (const auto& [key, value] : kDefaultParameters) {
    if (std::find(given.begin(), given.end(), key) == given.end()) {
      kept.push_back(std::string(key) + "=" + std::string(value));
    }
  }
  settings.conninfo = base;
  for (std::size_t i = 0; i < kept.size(); ++i) settings.conninfo += (i == 0 ? "?" : "&") + kept[i];

  // libpq's own check of the rest; its message may quote the URL, so it is not passed on.
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(settings.conninfo.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    throw StoreError("postgresql: the database URL is malformed or has an unknown parameter (see the libpq "
                     "connection URI format)");
  }
  PQconninfoFree(options);
  return settings;
}

// ---- pool ----

struct PostgresStore::Impl {
  ConnectionSettings settings;
  std::mutex mutex;
  std::condition_variable returned;
  std::vector<std::unique_ptr<Connection>> idle;
  std::size_t in_use = 0;  // borrowed, or being opened
  std::uint64_t opened_total = 0;
  std::atomic<std::uint64_t> conflict_retries{0};
  // Once the schema was seen current it stays current (migrations only add versions).
  std::atomic<bool> schema_current{false};

  // A connection borrowed for one call; back to the pool afterwards unless it is unusable.
  class Lease {
   public:
    Lease(Impl& impl, std::unique_ptr<Connection> connection) : impl_(impl), connection_(std::move(connection)) {}
    ~Lease() {
      std::lock_guard lock(impl_.mutex);
      --impl_.in_use;
      if (connection_ && connection_->reusable()) impl_.idle.push_back(std::move(connection_));
      impl_.returned.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *connection_; }
    Connection* operator->() { return connection_.get(); }

   private:
    Impl& impl_;
    std::unique_ptr<Connection> connection_;
  };

  std::unique_ptr<Lease> acquire() {
    std::unique_lock lock(mutex);
    for (;;) {
      if (!returned.wait_for(lock, kPoolWait, [&] { return !idle.empty() || in_use < settings.pool_max; })) {
        throw StoreUnavailable("postgresql: all " + std::to_string(settings.pool_max) +
                               " connections of the pool stayed busy for " + std::to_string(kPoolWait.count()) +
                               " s (raise pool_max in the database URL?)");
      }
      ++in_use;
      if (!idle.empty()) {
        auto connection = std::move(idle.back());
        idle.pop_back();
        lock.unlock();
        // Closed by the server while idle (restart, crash): drop it and look again.
        if (connection->reusable()) return std::make_unique<Lease>(*this, std::move(connection));
        lock.lock();
        --in_use;
        continue;
      }
      lock.unlock();
      try {
        auto connection = std::make_unique<Connection>(settings.conninfo);
        std::lock_guard count(mutex);
        ++opened_total;
        return std::make_unique<Lease>(*this, std::move(connection));
      } catch (...) {
        std::lock_guard undo(mutex);
        --in_use;
        returned.notify_one();
        throw;
      }
    }
  }

  // A connection to a database whose schema is the one this build knows.
  std::unique_ptr<Lease> ready() {
    auto lease = acquire();
    if (!schema_current.load(std::memory_order_acquire)) {
      int version = read_schema_version(**lease);
      int latest = latest_schema_version();
      if (version < latest) {
        throw StoreError("postgresql: the database schema is at version " + std::to_string(version) +
                         ", this build needs version " + std::to_string(latest) + ": run `latchkey-server migrate`");
      }
      if (version > latest) {
        throw StoreError("postgresql: the database schema is at version " + std::to_string(version) +
                         ", newer than this build knows (" + std::to_string(latest) + "): upgrade latchkey-server");
      }
      schema_current.store(true, std::memory_order_release);
    }
    return lease;
  }

  // Runs body(connection) on a ready connection; again, on a fresh lease, after a serialization
  // failure or deadlock (the body must be safe to repeat: all it did was rolled back).
  template <typename Body>
  auto run(Body&& body, bool need_schema = true) {
    for (int attempt = 1;; ++attempt) {
      try {
        auto lease = need_schema ? ready() : acquire();
        return body(**lease);
      } catch (const RetryableConflict&) {
        if (attempt >= kMaxAttempts) {
          throw StoreUnavailable("postgresql: the database kept reporting conflicting concurrent updates (" +
                                 std::to_string(kMaxAttempts) + " attempts); try again");
        }
        conflict_retries.fetch_add(1, std::memory_order_relaxed);
      }
      back_off(attempt);
    }
  }

  // run() inside BEGIN ... COMMIT.
  template <typename Body>
  auto transaction(Isolation isolation, Body&& body) {
    return run([&](Connection& c) {
      Transaction tx(c, isolation);
      if constexpr (std::is_void_v<decltype(body(c))>) {
        body(c);
        tx.commit();
      } else {
        auto result = body(c);
        tx.commit();
        return result;
      }
    });
  }
};

std::unique_ptr<PostgresStore> PostgresStore::open(const std::string& url) {
  auto impl = std::make_unique<Impl>();
  impl->settings = parse_connection_url(url);
  // Connect now so that a wrong host, password or database fails here, not at the first request.
  impl->acquire();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStore::~PostgresStore() = default;

int PostgresStore::latest_schema_version() { return static_cast<int>(migrations().size()); }

int PostgresStore::schema_version() {
  return impl_->run([](Connection& c) { return read_schema_version(c); }, /*need_schema=*/false);
}

std::uint64_t PostgresStore::conflict_retries() const {
  return impl_->conflict_retries.load(std::memory_order_relaxed);
}

PoolStats PostgresStore::pool_stats() {
  std::lock_guard lock(impl_->mutex);
  return PoolStats{.in_use = impl_->in_use, .idle = impl_->idle.size(), .opened_total = impl_->opened_total};
}

void PostgresStore::migrate() {
  impl_->run(
      [&](Connection& c) {
        Transaction tx(c, Isolation::read_committed);
        // Held until COMMIT: a second instance migrating at the same time waits here, then (its
        // next statement takes a new snapshot) sees the versions the first one applied.
        c.execute(schema_sql::kLock);
        c.run_script(schema_sql::kCreateMigrationsTable, "create schema_migrations");
        int version = read_schema_version(c);
        auto all = migrations();
        if (version > static_cast<int>(all.size())) {
          throw StoreError("postgresql: the database schema is at version " + std::to_string(version) +
                           ", newer than this build knows (" + std::to_string(all.size()) +
                           "): upgrade latchkey-server");
        }
        for (auto v = static_cast<std::size_t>(version); v < all.size(); ++v) {
          c.run_script(std::string(all[v]).c_str(), "apply schema migration");
          c.execute(schema_sql::kRecord, static_cast<std::int64_t>(v + 1), unix_now());
        }
        tx.commit();
      },
      /*need_schema=*/false);
  impl_->schema_current.store(true, std::memory_order_release);
}

// ---- clients ----

void PostgresStore::put_client(const Client& cl) {
  impl_->run([&](Connection& c) {
    insert(c, client_sql::kInsert, "client '" + cl.id + "' already exists", {}, cl.id, cl.name, cl.secret_hash,
           cl.is_public, encode_string_list(cl.redirect_uris), encode_string_list(cl.scopes),
           encode_string_list(cl.grant_types), encode_string_list(cl.audiences), cl.created_at,
           encode_string_list(cl.web_origins), encode_string_list(cl.allowed_claims));
  });
}

std::optional<Client> PostgresStore::find_client(const std::string& id) {
  if (!storable_text(id)) return std::nullopt;  // no stored id can match
  return impl_->run([&](Connection& c) { return first_row(c.execute(client_sql::kFind, id), read_client); });
}

std::vector<Client> PostgresStore::list_clients() {
  return impl_->run([&](Connection& c) { return all_rows(c.execute(client_sql::kList), read_client); });
}

bool PostgresStore::delete_client(const std::string& id) {
  if (!storable_text(id)) return false;
  return impl_->run([&](Connection& c) { return c.execute(client_sql::kDelete, id).affected() > 0; });
}

bool PostgresStore::has_client_with_web_origin(const std::string& origin) {
  if (!storable_text(origin)) return false;  // an Origin header is not validated before it gets here
  return impl_->run([&](Connection& c) { return !c.execute(client_sql::kHasWebOrigin, origin).empty(); });
}

// ---- users ----

void PostgresStore::put_user(const User& u) {
  impl_->run([&](Connection& c) {
    insert(c, user_sql::kInsert, "user '" + u.id + "' already exists", "username '" + u.username + "' is taken",
           u.id, u.username, u.password_hash, u.email, u.name, u.created_at, encode_string_list(u.roles),
           encode_string_list(u.groups));
  });
}

std::optional<User> PostgresStore::find_user(const std::string& id) {
  if (!storable_text(id)) return std::nullopt;
  return impl_->run([&](Connection& c) { return first_row(c.execute(user_sql::kFind, id), read_user); });
}

std::optional<User> PostgresStore::find_user_by_username(const std::string& username) {
  if (!storable_text(username)) return std::nullopt;
  return impl_->run(
      [&](Connection& c) { return first_row(c.execute(user_sql::kFindByUsername, username), read_user); });
}

std::vector<User> PostgresStore::list_users() {
  return impl_->run([&](Connection& c) { return all_rows(c.execute(user_sql::kList), read_user); });
}

bool PostgresStore::delete_user(const std::string& id) {
  if (!storable_text(id)) return false;
  return impl_->run([&](Connection& c) { return c.execute(user_sql::kDelete, id).integer(0, 0) > 0; });
}

namespace {

// Read-modify-write of one list column with the row locked (FOR UPDATE): concurrent changes to
// the same user wait for each other, so none is lost.
bool update_user_list(Connection& c, const Sql& lock_sql, const Sql& set_sql, const std::string& user_id,
                      const std::string& name, bool add) {
  Result current = c.execute(lock_sql, user_id);
  if (current.empty()) return false;
  std::vector<std::string> names = decode_string_list(current.text(0, 0));
  auto present = std::find(names.begin(), names.end(), name);
  if (add && present == names.end()) {
    names.push_back(name);
  } else if (!add && present != names.end()) {
    names.erase(present);
  } else {
    return true;  // nothing to change
  }
  c.execute(set_sql, user_id, encode_string_list(names));
  return true;
}

}  // namespace

bool PostgresStore::add_user_role(const std::string& user_id, const std::string& role) {
  return impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    return update_user_list(c, user_sql::kLockRoles, user_sql::kSetRoles, user_id, role, true);
  });
}

bool PostgresStore::remove_user_role(const std::string& user_id, const std::string& role) {
  return impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    return update_user_list(c, user_sql::kLockRoles, user_sql::kSetRoles, user_id, role, false);
  });
}

bool PostgresStore::add_user_group(const std::string& user_id, const std::string& group) {
  return impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    return update_user_list(c, user_sql::kLockGroups, user_sql::kSetGroups, user_id, group, true);
  });
}

bool PostgresStore::remove_user_group(const std::string& user_id, const std::string& group) {
  return impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    return update_user_list(c, user_sql::kLockGroups, user_sql::kSetGroups, user_id, group, false);
  });
}

// ---- sessions ----

void PostgresStore::put_session(const Session& s) {
  impl_->run([&](Connection& c) {
    insert(c, session_sql::kInsert, "session already exists", {}, s.id_hash, s.user_id, s.auth_time, s.created_at,
           s.expires_at);
  });
}

std::optional<Session> PostgresStore::find_session(const std::string& id_hash, Timestamp now) {
  return impl_->run(
      [&](Connection& c) { return first_row(c.execute(session_sql::kFind, id_hash, now), read_session); });
}

void PostgresStore::delete_session(const std::string& id_hash) {
  impl_->run([&](Connection& c) { c.execute(session_sql::kDelete, id_hash); });
}

// ---- consents ----

void PostgresStore::put_consent(const Consent& co) {
  impl_->run([&](Connection& c) {
    c.execute(consent_sql::kSave, co.user_id, co.client_id, encode_string_list(co.scopes),
              encode_string_list(co.audiences), co.granted_at);
  });
}

std::optional<Consent> PostgresStore::find_consent(const std::string& user_id, const std::string& client_id) {
  return impl_->run([&](Connection& c) {
    return first_row(c.execute(consent_sql::kFind, user_id, client_id), [](const Result& r, int row) {
      return Consent{.user_id = r.text(row, 0),
                     .client_id = r.text(row, 1),
                     .scopes = decode_string_list(r.text(row, 2)),
                     .audiences = decode_string_list(r.text(row, 3)),
                     .granted_at = r.integer(row, 4)};
    });
  });
}

// ---- interactions ----

void PostgresStore::put_interaction(const Interaction& i) {
  impl_->run([&](Connection& c) {
    insert(c, interaction_sql::kInsert, "interaction already exists", {}, i.id_hash, i.browser_hash, i.request_json,
           i.created_at, i.expires_at);
  });
}

std::optional<Interaction> PostgresStore::find_interaction(const std::string& id_hash, Timestamp now) {
  return impl_->run(
      [&](Connection& c) { return first_row(c.execute(interaction_sql::kFind, id_hash, now), read_interaction); });
}

void PostgresStore::delete_interaction(const std::string& id_hash) {
  impl_->run([&](Connection& c) { c.execute(interaction_sql::kDelete, id_hash); });
}

// ---- authorization codes ----

void PostgresStore::put_code(const AuthorizationCode& co) {
  impl_->run([&](Connection& c) {
    insert(c, code_sql::kInsert, "authorization code already exists", {}, co.code_hash, co.client_id, co.user_id,
           co.grant_id, co.redirect_uri, co.redirect_uri_in_request, co.code_challenge, co.code_challenge_method,
           encode_string_list(co.scopes), encode_string_list(co.audiences), co.nonce, co.session_id_hash,
           co.auth_time, co.created_at, co.expires_at);
  });
}

ConsumeResult PostgresStore::consume_code(const std::string& code_hash, Timestamp now) {
  return impl_->run([&](Connection& c) -> ConsumeResult {
    if (auto consumed = first_row(c.execute(code_sql::kConsume, now, code_hash), read_code)) {
      return {ConsumeOutcome::consumed, std::move(consumed)};
    }
    // Not claimed by this call: used before (the winner's commit is visible to this new statement),
    // or unknown.
    if (auto used = first_row(c.execute(code_sql::kFind, code_hash), read_code)) {
      return {ConsumeOutcome::already_used, std::move(used)};
    }
    return {ConsumeOutcome::not_found, std::nullopt};
  });
}

// ---- grants and tokens ----

namespace {

void insert_grant(Connection& c, const Grant& g) {
  insert(c, grant_sql::kInsert, "grant '" + g.id + "' already exists", {}, g.id, g.client_id, g.user_id,
         encode_string_list(g.scopes), encode_string_list(g.audiences), g.nonce, g.auth_time, g.created_at,
         g.expires_at, g.revoked_at);
}

void insert_refresh_token(Connection& c, const RefreshToken& t) {
  insert(c, grant_sql::kInsertRefresh, "refresh token already exists", {}, t.token_hash, t.grant_id, t.created_at,
         t.expires_at, t.used_at);
}

}  // namespace

void PostgresStore::put_grant(const Grant& g) {
  impl_->run([&](Connection& c) { insert_grant(c, g); });
}

void PostgresStore::put_grant_and_refresh_token(const Grant& g, const RefreshToken& t) {
  impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    insert_grant(c, g);
    insert_refresh_token(c, t);
  });
}

std::optional<Grant> PostgresStore::find_grant(const std::string& id) {
  return impl_->run([&](Connection& c) { return first_row(c.execute(grant_sql::kFind, id), read_grant); });
}

bool PostgresStore::revoke_grant(const std::string& id, Timestamp now) {
  return impl_->run([&](Connection& c) { return c.execute(grant_sql::kRevoke, id, now).integer(0, 0) > 0; });
}

void PostgresStore::put_refresh_token(const RefreshToken& t) {
  impl_->run([&](Connection& c) { insert_refresh_token(c, t); });
}

std::optional<RefreshToken> PostgresStore::find_refresh_token(const std::string& token_hash) {
  return impl_->run(
      [&](Connection& c) { return first_row(c.execute(grant_sql::kFindRefresh, token_hash), read_refresh); });
}

std::optional<AccessTokenRecord> PostgresStore::find_access_token(const std::string& jti) {
  if (!storable_text(jti)) return std::nullopt;
  return impl_->run([&](Connection& c) { return first_row(c.execute(grant_sql::kFindAccess, jti), read_access); });
}

RotateResult PostgresStore::rotate_refresh_token(const std::string& old_hash, const RefreshToken& next,
                                                 Timestamp now) {
  return impl_->run([&](Connection& c) -> RotateResult {
    Result rotated = insert(c, grant_sql::kRotateRefresh, "refresh token already exists", {}, now, old_hash,
                            next.token_hash, next.grant_id, next.created_at, next.expires_at, next.used_at);
    if (auto old = first_row(rotated, read_refresh)) return {RotateOutcome::rotated, std::move(old)};
    if (auto used = first_row(c.execute(grant_sql::kFindRefresh, old_hash), read_refresh)) {
      return {RotateOutcome::already_used, std::move(used)};
    }
    return {RotateOutcome::not_found, std::nullopt};
  });
}

void PostgresStore::revoke_access_token(const AccessTokenRecord& revoked) {
  impl_->run([&](Connection& c) {
    c.execute(grant_sql::kRevokeAccess, revoked.jti, revoked.grant_id, revoked.client_id, revoked.expires_at,
              revoked.revoked_at);
  });
}

// ---- device codes ----

void PostgresStore::put_device_code(const DeviceCode& d) {
  impl_->transaction(Isolation::serializable, [&](Connection& c) {
    Result inserted = insert(c, device_sql::kInsert, "device code already exists", {}, d.device_code_hash,
                             d.user_code_hash, d.client_id, encode_string_list(d.scopes),
                             encode_string_list(d.audiences), d.created_at, d.expires_at, d.interval,
                             d.last_polled_at, d.status, d.user_id, d.auth_time);
    if (inserted.affected() == 0) throw StoreError("a pending device code already has this user code");
  });
}

std::optional<DeviceCode> PostgresStore::find_device_code(const std::string& device_code_hash) {
  return impl_->run(
      [&](Connection& c) { return first_row(c.execute(device_sql::kFind, device_code_hash), read_device_code); });
}

std::optional<DeviceCode> PostgresStore::find_pending_device_code_by_user_code(const std::string& user_code_hash,
                                                                               Timestamp now) {
  return impl_->run([&](Connection& c) {
    return first_row(c.execute(device_sql::kFindPending, user_code_hash, now), read_device_code);
  });
}

void PostgresStore::update_device_poll(const std::string& device_code_hash, Timestamp polled_at,
                                       std::int64_t interval) {
  impl_->run([&](Connection& c) { c.execute(device_sql::kPoll, device_code_hash, polled_at, interval); });
}

bool PostgresStore::decide_device_code(const std::string& user_code_hash, bool approve, const std::string& user_id,
                                       Timestamp auth_time, Timestamp now) {
  return impl_->run([&](Connection& c) {
    return c
               .execute(device_sql::kDecide, user_code_hash, std::string(approve ? "approved" : "denied"),
                        approve ? user_id : std::string(), approve ? auth_time : Timestamp{0}, now)
               .affected() > 0;
  });
}

bool PostgresStore::consume_device_code(const std::string& device_code_hash) {
  return impl_->run([&](Connection& c) { return c.execute(device_sql::kConsume, device_code_hash).affected() > 0; });
}

// ---- keys and secrets ----

std::vector<SigningKey> PostgresStore::list_keys() {
  return impl_->run([&](Connection& c) { return all_rows(c.execute(key_sql::kList), read_key); });
}

bool PostgresStore::insert_key_if_none_active(const SigningKey& k) {
  return impl_->run([&](Connection& c) {
    return insert(c, key_sql::kInsertFirst, "signing key '" + k.kid + "' already exists",
                  "an active signing key already exists", k.kid, k.alg, k.private_key_sealed, k.public_jwk,
                  k.created_at, k.retired_at)
               .affected() > 0;
  });
}

std::string PostgresStore::put_secret_if_absent(const std::string& name, const std::string& value) {
  return impl_->run([&](Connection& c) {
    c.execute(key_sql::kPutSecret, name, hex_encode(value));
    // A new statement sees the winner's committed value (secrets never change once stored).
    Result stored = c.execute(key_sql::kGetSecret, name);
    if (stored.empty()) throw StoreError("postgresql: server secret '" + name + "' vanished after it was stored");
    return hex_decode(stored.text(0, 0));
  });
}

void PostgresStore::rotate_key(const SigningKey& next, Timestamp now) {
  impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    c.run_script(key_sql::kLockForRotation, "lock signing keys for rotation");
    c.execute(key_sql::kRetireActive, now);
    insert(c, key_sql::kInsertActive, "signing key '" + next.kid + "' already exists",
           "an active signing key already exists", next.kid, next.alg, next.private_key_sealed, next.public_jwk,
           next.created_at);
  });
}

bool PostgresStore::delete_key(const std::string& kid) {
  return impl_->run([&](Connection& c) { return c.execute(key_sql::kDelete, kid).affected() > 0; });
}

// ---- throttling ----

ThrottleState PostgresStore::find_throttle(const std::string& key) {
  if (!storable_text(key)) return ThrottleState{};
  return impl_->run([&](Connection& c) {
    return first_row(c.execute(throttle_sql::kFind, key), read_throttle).value_or(ThrottleState{});
  });
}

ThrottleState PostgresStore::record_throttle_failure(const std::string& key, Timestamp now, const ThrottleRule& rule) {
  return impl_->transaction(Isolation::read_committed, [&](Connection& c) {
    c.execute(throttle_sql::kEnsure, key);
    // The row stays locked until COMMIT: concurrent failures of this key (any instance) queue up
    // here and each one sees the state the previous one stored.
    ThrottleState next = next_throttle_state(read_throttle(c.execute(throttle_sql::kLock, key), 0), now, rule);
    c.execute(throttle_sql::kStore, key, next.failures, next.last_failure_at, next.locked_until);
    return next;
  });
}

void PostgresStore::clear_throttle(const std::string& key) {
  if (!storable_text(key)) return;
  impl_->run([&](Connection& c) { c.execute(throttle_sql::kClear, key); });
}

// ---- maintenance ----

std::size_t PostgresStore::purge_expired(Timestamp now, std::size_t batch_limit) {
  if (batch_limit == 0) return 0;
  const auto limit = static_cast<std::int64_t>(
      std::min<std::size_t>(batch_limit, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
  const Timestamp grace_cutoff = now - kPurgeGracePeriod;
  return impl_->transaction(Isolation::read_committed, [&](Connection& c) -> std::size_t {
    // One purging instance at a time; the lock goes with the transaction.
    if (!c.execute(purge_sql::kTryLock).boolean(0, 0)) return 0;
    std::uint64_t purged = 0;
    purged += c.execute(purge_sql::kSessions, now, limit).affected();
    purged += c.execute(purge_sql::kInteractions, now, limit).affected();
    purged += c.execute(purge_sql::kCodes, grace_cutoff, limit).affected();
    purged += c.execute(purge_sql::kDeviceCodes, grace_cutoff, limit).affected();
    // Tokens before grants, so that no token outlives its grant.
    purged += c.execute(purge_sql::kRefreshTokens, grace_cutoff, limit).affected();
    purged += c.execute(purge_sql::kAccessTokens, grace_cutoff, now, limit).affected();
    purged += c.execute(purge_sql::kGrants, grace_cutoff, limit).affected();
    purged += c.execute(purge_sql::kThrottles, grace_cutoff, now, limit).affected();
    return static_cast<std::size_t>(purged);
  });
}

// ---- tooling ----

void run_sql(const std::string& url, const std::string& sql) {
  Connection connection(parse_connection_url(url).conninfo);
  connection.run_script(sql.c_str(), "run SQL");
}

}  // namespace latchkey::store::postgres
