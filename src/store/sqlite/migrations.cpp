#include "store/sqlite/migrations.h"

#include <array>

namespace latchkey::store::sqlite {

namespace {

// Conventions: STRICT tables; timestamps are INTEGER seconds since the epoch, 0 meaning "not set"
// (except authorization_codes.used_at, NULL until the one consuming UPDATE); list columns are
// JSON arrays of strings (string_list.h). Secrets are stored only as hashes (store.h).
// No foreign keys: the contract asks for no referential checks and the memory backend has none,
// so both behave the same; delete_user removes sessions itself.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE clients (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  secret_hash   TEXT NOT NULL,
  is_public     INTEGER NOT NULL,
  redirect_uris TEXT NOT NULL,
  scopes        TEXT NOT NULL,
  grant_types   TEXT NOT NULL,
  audiences     TEXT NOT NULL,
  created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  email         TEXT NOT NULL,
  name          TEXT NOT NULL,
  created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
  id_hash    TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL,
  auth_time  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE consents (
  user_id    TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  audiences  TEXT NOT NULL,
  granted_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE TABLE interactions (
  id_hash      TEXT PRIMARY KEY,
  browser_hash TEXT NOT NULL,
  request_json TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE authorization_codes (
  code_hash               TEXT PRIMARY KEY,
  client_id               TEXT NOT NULL,
  user_id                 TEXT NOT NULL,
  grant_id                TEXT NOT NULL,
  redirect_uri            TEXT NOT NULL,
  redirect_uri_in_request INTEGER NOT NULL,
  code_challenge          TEXT NOT NULL,
  code_challenge_method   TEXT NOT NULL,
  scopes                  TEXT NOT NULL,
  audiences               TEXT NOT NULL,
  nonce                   TEXT NOT NULL,
  session_id_hash         TEXT NOT NULL,
  auth_time               INTEGER NOT NULL,
  created_at              INTEGER NOT NULL,
  expires_at              INTEGER NOT NULL,
  used_at                 INTEGER
) STRICT;

CREATE TABLE grants (
  id         TEXT PRIMARY KEY,
  client_id  TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  audiences  TEXT NOT NULL,
  nonce      TEXT NOT NULL,
  auth_time  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL
) STRICT;

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  grant_id   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens(grant_id);

CREATE TABLE access_tokens (
  jti        TEXT PRIMARY KEY,
  grant_id   TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX access_tokens_by_grant ON access_tokens(grant_id);

CREATE TABLE signing_keys (
  kid                TEXT PRIMARY KEY,
  alg                TEXT NOT NULL,
  private_key_sealed TEXT NOT NULL,
  public_jwk         TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  retired_at         INTEGER NOT NULL
) STRICT;
-- At most one active key, enforced by the database itself (not only by insert_key_if_none_active).
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(retired_at) WHERE retired_at = 0;

CREATE TABLE server_secrets (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
) STRICT;
)sql";

// Version 2: RFC 8628 device authorization. status is one of pending | approved | denied |
// consumed; user_id is '' and auth_time 0 until approval. user_code_hash is not UNIQUE: expired
// pending rows may share a user code with a new one (put_device_code refuses only live clashes).
constexpr std::string_view kVersion2 = R"sql(
CREATE TABLE device_codes (
  device_code_hash TEXT PRIMARY KEY,
  user_code_hash   TEXT NOT NULL,
  client_id        TEXT NOT NULL,
  scopes           TEXT NOT NULL,
  audiences        TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  poll_interval    INTEGER NOT NULL,
  last_polled_at   INTEGER NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
  user_id          TEXT NOT NULL,
  auth_time        INTEGER NOT NULL
) STRICT;
CREATE INDEX device_codes_by_user_code ON device_codes(user_code_hash, status);
)sql";

// Version 3: browser apps and permissions. Clients get their CORS web origins and the extra claims
// they may receive; users get roles and groups (JSON arrays like every list column). The column is
// user_groups because GROUPS is an SQL keyword (window frames). Existing rows get empty lists.
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE clients ADD COLUMN web_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN allowed_claims TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN user_groups TEXT NOT NULL DEFAULT '[]';
)sql";

// Version 4: brute-force throttling state (store.h ThrottleStore), shared by every instance.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE throttles (
  key             TEXT PRIMARY KEY,
  failures        INTEGER NOT NULL,
  last_failure_at INTEGER NOT NULL,
  locked_until    INTEGER NOT NULL
) STRICT;
)sql";

// Version 5: indexes on the columns purge_expired filters by, so a purge reads only the rows that
// go instead of scanning whole tables (PostgreSQL had them from version 1). Grants are indexed
// only where set, as purge_expired looks for revoked_at <> 0 or expires_at <> 0. Access tokens have
// theirs already (access_tokens_by_grant for revoke_grant; expiry added here).
constexpr std::string_view kVersion5 = R"sql(
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE INDEX interactions_by_expiry ON interactions(expires_at);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes(expires_at);
CREATE INDEX device_codes_by_expiry ON device_codes(expires_at);
CREATE INDEX grants_by_revocation ON grants(revoked_at) WHERE revoked_at <> 0;
CREATE INDEX grants_by_expiry ON grants(expires_at) WHERE expires_at <> 0;
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);
CREATE INDEX throttles_by_last_failure ON throttles(last_failure_at);
)sql";

// Version 6: grants and refresh tokens become WITHOUT ROWID tables. Each row is found by its text
// key (a grant id, a token hash); with a rowid SQLite kept that key in a separate index, so every
// new row dirtied one more page and every commit wrote one more page to the WAL: a fifth of the
// pages of a refresh. Their rows are small (well under 1/20 of a page), where WITHOUT ROWID is
// the recommended layout. Columns, order and indexes stay as they were. (PostgreSQL has no rowid.)
constexpr std::string_view kVersion6 = R"sql(
CREATE TABLE grants_v6 (
  id         TEXT PRIMARY KEY,
  client_id  TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  audiences  TEXT NOT NULL,
  nonce      TEXT NOT NULL,
  auth_time  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO grants_v6 SELECT id, client_id, user_id, scopes, audiences, nonce, auth_time, created_at, expires_at,
  revoked_at FROM grants;
DROP TABLE grants;
ALTER TABLE grants_v6 RENAME TO grants;
CREATE INDEX grants_by_revocation ON grants(revoked_at) WHERE revoked_at <> 0;
CREATE INDEX grants_by_expiry ON grants(expires_at) WHERE expires_at <> 0;

CREATE TABLE refresh_tokens_v6 (
  token_hash TEXT PRIMARY KEY,
  grant_id   TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO refresh_tokens_v6 SELECT token_hash, grant_id, created_at, expires_at, used_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v6 RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens(grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);
)sql";

constexpr std::array<std::string_view, 6> kMigrations = {kVersion1, kVersion2, kVersion3,
                                                         kVersion4, kVersion5, kVersion6};

}  // namespace

std::span<const std::string_view> migrations() { return kMigrations; }

}  // namespace latchkey::store::sqlite
