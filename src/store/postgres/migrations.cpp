#include "store/postgres/migrations.h"

#include <array>

namespace latchkey::store::postgres {

namespace {

// Conventions as in sqlite/migrations.cpp: timestamps are BIGINT seconds since the epoch, 0 meaning
// "not set" (except authorization_codes.used_at, NULL until the one consuming UPDATE); list columns
// are TEXT holding a JSON array of strings (the same codec as SQLite, so any string survives, even
// ones jsonb would refuse); secrets only as hashes; no foreign keys. Dialect differences: BOOLEAN
// flags, BYTEA for server secrets, an identity column giving signing keys their insertion order
// (SQLite's rowid), and indexes on the expiry columns for purge_expired.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE clients (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  secret_hash   TEXT NOT NULL,
  is_public     BOOLEAN NOT NULL,
  redirect_uris TEXT NOT NULL,
  scopes        TEXT NOT NULL,
  grant_types   TEXT NOT NULL,
  audiences     TEXT NOT NULL,
  created_at    BIGINT NOT NULL
);

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  email         TEXT NOT NULL,
  name          TEXT NOT NULL,
  created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
  id_hash    TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL,
  auth_time  BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

CREATE TABLE consents (
  user_id    TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  audiences  TEXT NOT NULL,
  granted_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, client_id)
);

CREATE TABLE interactions (
  id_hash      TEXT PRIMARY KEY,
  browser_hash TEXT NOT NULL,
  request_json TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL
);
CREATE INDEX interactions_by_expiry ON interactions(expires_at);

CREATE TABLE authorization_codes (
  code_hash               TEXT PRIMARY KEY,
  client_id               TEXT NOT NULL,
  user_id                 TEXT NOT NULL,
  grant_id                TEXT NOT NULL,
  redirect_uri            TEXT NOT NULL,
  redirect_uri_in_request BOOLEAN NOT NULL,
  code_challenge          TEXT NOT NULL,
  code_challenge_method   TEXT NOT NULL,
  scopes                  TEXT NOT NULL,
  audiences               TEXT NOT NULL,
  nonce                   TEXT NOT NULL,
  session_id_hash         TEXT NOT NULL,
  auth_time               BIGINT NOT NULL,
  created_at              BIGINT NOT NULL,
  expires_at              BIGINT NOT NULL,
  used_at                 BIGINT
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes(expires_at);

CREATE TABLE grants (
  id         TEXT PRIMARY KEY,
  client_id  TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  audiences  TEXT NOT NULL,
  nonce      TEXT NOT NULL,
  auth_time  BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL
);
CREATE INDEX grants_by_revocation ON grants(revoked_at) WHERE revoked_at <> 0;
CREATE INDEX grants_by_expiry ON grants(expires_at) WHERE expires_at <> 0;

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  grant_id   TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at    BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens(grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

CREATE TABLE access_tokens (
  jti        TEXT PRIMARY KEY,
  grant_id   TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_grant ON access_tokens(grant_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);

CREATE TABLE signing_keys (
  kid                TEXT PRIMARY KEY,
  alg                TEXT NOT NULL,
  private_key_sealed TEXT NOT NULL,
  public_jwk         TEXT NOT NULL,
  created_at         BIGINT NOT NULL,
  retired_at         BIGINT NOT NULL,
  inserted           BIGINT GENERATED ALWAYS AS IDENTITY
);
-- At most one active key, enforced by the database itself (not only by insert_key_if_none_active).
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(retired_at) WHERE retired_at = 0;

CREATE TABLE server_secrets (
  name  TEXT PRIMARY KEY,
  value BYTEA NOT NULL
);
)sql";

// Version 2: RFC 8628 device authorization (see sqlite/migrations.cpp).
constexpr std::string_view kVersion2 = R"sql(
CREATE TABLE device_codes (
  device_code_hash TEXT PRIMARY KEY,
  user_code_hash   TEXT NOT NULL,
  client_id        TEXT NOT NULL,
  scopes           TEXT NOT NULL,
  audiences        TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,
  poll_interval    BIGINT NOT NULL,
  last_polled_at   BIGINT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
  user_id          TEXT NOT NULL,
  auth_time        BIGINT NOT NULL
);
CREATE INDEX device_codes_by_user_code ON device_codes(user_code_hash, status);
CREATE INDEX device_codes_by_expiry ON device_codes(expires_at);
)sql";

// Version 3: browser apps and permissions (see sqlite/migrations.cpp).
constexpr std::string_view kVersion3 = R"sql(
ALTER TABLE clients ADD COLUMN web_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN allowed_claims TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN user_groups TEXT NOT NULL DEFAULT '[]';
)sql";

// Version 4: brute-force throttling state, shared by every instance.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE throttles (
  key             TEXT PRIMARY KEY,
  failures        BIGINT NOT NULL,
  last_failure_at BIGINT NOT NULL,
  locked_until    BIGINT NOT NULL
);
CREATE INDEX throttles_by_last_failure ON throttles(last_failure_at);
)sql";

// Version 5: SQLite's version 5 adds the indexes purge_expired needs, which this schema has had
// since version 1 (and throttles_by_last_failure since 4). The versions stay aligned across
// backends, so this one only makes sure they exist (a database created by hand, or an index an
// operator dropped while debugging).
constexpr std::string_view kVersion5 = R"sql(
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires_at);
CREATE INDEX IF NOT EXISTS interactions_by_expiry ON interactions(expires_at);
CREATE INDEX IF NOT EXISTS authorization_codes_by_expiry ON authorization_codes(expires_at);
CREATE INDEX IF NOT EXISTS device_codes_by_expiry ON device_codes(expires_at);
CREATE INDEX IF NOT EXISTS grants_by_revocation ON grants(revoked_at) WHERE revoked_at <> 0;
CREATE INDEX IF NOT EXISTS grants_by_expiry ON grants(expires_at) WHERE expires_at <> 0;
CREATE INDEX IF NOT EXISTS refresh_tokens_by_expiry ON refresh_tokens(expires_at);
CREATE INDEX IF NOT EXISTS access_tokens_by_expiry ON access_tokens(expires_at);
CREATE INDEX IF NOT EXISTS throttles_by_last_failure ON throttles(last_failure_at);
)sql";

constexpr std::array<std::string_view, 5> kMigrations = {kVersion1, kVersion2, kVersion3, kVersion4, kVersion5};

}  // namespace

std::span<const std::string_view> migrations() { return kMigrations; }

}  // namespace latchkey::store::postgres
