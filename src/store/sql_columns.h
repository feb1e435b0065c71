#pragma once
// What the SQL backends (sqlite/, postgres/) share: one schema, so one list of columns per table, in
// the order their row readers expect; used by the SELECTs and RETURNING clauses of both. Macros,
// because they are pasted into string literals.
#include <chrono>
#include <cstdint>

namespace latchkey::store::sql {

// Wall-clock seconds, for bookkeeping columns that are not protocol time (the protocol passes `now`).
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace latchkey::store::sql

// Column lists shared by the SELECTs and RETURNING clauses, in the order the readers expect.
#define LK_CLIENT_COLUMNS                                                                          \
  "id, name, secret_hash, is_public, redirect_uris, scopes, grant_types, audiences, created_at, web_origins, " \
  "allowed_claims"
#define LK_USER_COLUMNS "id, username, password_hash, email, name, created_at, roles, user_groups"
#define LK_SESSION_COLUMNS "id_hash, user_id, auth_time, created_at, expires_at"
#define LK_INTERACTION_COLUMNS "id_hash, browser_hash, request_json, created_at, expires_at"
#define LK_CODE_COLUMNS                                                                             \
  "code_hash, client_id, user_id, grant_id, redirect_uri, redirect_uri_in_request, code_challenge, " \
  "code_challenge_method, scopes, audiences, nonce, session_id_hash, auth_time, created_at, expires_at"
#define LK_GRANT_COLUMNS \
  "id, client_id, user_id, scopes, audiences, nonce, auth_time, created_at, expires_at, revoked_at"
#define LK_REFRESH_COLUMNS "token_hash, grant_id, created_at, expires_at, used_at"
#define LK_ACCESS_COLUMNS "jti, grant_id, client_id, expires_at, revoked_at"
#define LK_KEY_COLUMNS "kid, alg, private_key_sealed, public_jwk, created_at, retired_at"
#define LK_DEVICE_COLUMNS                                                                            \
  "device_code_hash, user_code_hash, client_id, scopes, audiences, created_at, expires_at, poll_interval, " \
  "last_polled_at, status, user_id, auth_time"
