#pragma once
// Storage interfaces, one per concern (DESIGN.md "Storage"). The protocol core sees only these;
// store/memory (tests), store/sqlite and store/postgres implement them.
//
// Contract for every implementation:
//  - Every method is safe to call from many threads at once.
//  - Secrets never arrive here in clear: codes, refresh tokens, session and interaction ids are
//    given as hashes (util::secret_hash); passwords and client secrets as their password hash.
//  - Single-use operations (consume_code, ...) are atomic: of two concurrent callers exactly one
//    wins, also across processes sharing one database.
//  - Failures of the database itself throw StoreError; "not found" is an empty optional / false.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace latchkey::store {

using Timestamp = std::int64_t;  // seconds since the Unix epoch

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The database cannot be reached right now (connection refused or lost, server shutting down or
// starting). The request did not take effect and may be retried: the HTTP layer answers 503 with
// Retry-After instead of 500. Backends reconnect by themselves on a later call.
struct StoreUnavailable : StoreError {
  using StoreError::StoreError;
};

struct Client {
  std::string id;
  std::string name;
  std::string secret_hash;  // empty for public clients
  bool is_public = false;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> scopes;       // the scopes the client may ask for
  std::vector<std::string> grant_types;  // authorization_code, refresh_token, ...
  std::vector<std::string> audiences;    // the audiences/resources the client may ask for
  Timestamp created_at = 0;
  // Browser origins (scheme://host[:port], normalized) allowed to call the token, revocation and
  // userinfo endpoints cross-origin (CORS).
  std::vector<std::string> web_origins;
  // Claims beyond the OIDC standard ones the client may receive: "roles", "groups".
  std::vector<std::string> allowed_claims;
};

struct User {
  std::string id;  // the stable `sub`
  std::string username;
  std::string password_hash;  // Argon2id (libsodium crypto_pwhash_str format)
  std::string email;
  std::string name;
  Timestamp created_at = 0;
  // RFC 9068 §2.2.3.1 (roles, groups), in the order they were added, no repeats.
  std::vector<std::string> roles;
  std::vector<std::string> groups;
};

struct Session {
  std::string id_hash;
  std::string user_id;
  Timestamp auth_time = 0;
  Timestamp created_at = 0;
  Timestamp expires_at = 0;
};

struct Consent {
  std::string user_id;
  std::string client_id;
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  Timestamp granted_at = 0;
};

// An authorization request waiting for the user to log in and/or consent.
struct Interaction {
  std::string id_hash;
  std::string browser_hash;  // binds the interaction to the browser that started it
  std::string request_json;  // the validated authorization request, opaque to the store
  Timestamp created_at = 0;
  Timestamp expires_at = 0;
};

struct AuthorizationCode {
  std::string code_hash;
  std::string client_id;
  std::string user_id;
  std::string grant_id;  // the grant the tokens will be issued under (revoked on code reuse)
  std::string redirect_uri;
  bool redirect_uri_in_request = true;
  std::string code_challenge;
  std::string code_challenge_method;  // "S256", "plain" or empty
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::string nonce;
  std::string session_id_hash;
  Timestamp auth_time = 0;
  Timestamp created_at = 0;
  Timestamp expires_at = 0;
};

enum class ConsumeOutcome { consumed, already_used, not_found };

struct ConsumeResult {
  ConsumeOutcome outcome = ConsumeOutcome::not_found;
  // The code's data for `consumed` and `already_used` (so that a reuse can revoke its grant).
  std::optional<AuthorizationCode> code;
};

// A grant: what one user allowed one client, from which tokens are issued (refresh-token family).
struct Grant {
  std::string id;
  std::string client_id;
  std::string user_id;
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::string nonce;
  Timestamp auth_time = 0;
  Timestamp created_at = 0;
  Timestamp expires_at = 0;  // absolute lifetime of the grant's refresh tokens; 0 = none
  Timestamp revoked_at = 0;  // 0 = live
};

struct RefreshToken {
  std::string token_hash;
  std::string grant_id;
  Timestamp created_at = 0;
  Timestamp expires_at = 0;
  Timestamp used_at = 0;  // set when rotated; 0 = live
};

// A revoked access token (RFC 7009). Access tokens are stateless JWTs (docs/ARCHITECTURE.md): no
// row is written when one is issued, only when one is revoked, and the row lives until the token
// expires. Databases upgraded from earlier versions also hold one unrevoked row per token issued
// before the change (those tokens carry no grant_id claim); they are read, never written any more.
struct AccessTokenRecord {
  std::string jti;
  std::string grant_id;  // empty for grants without a user (client_credentials)
  std::string client_id;
  Timestamp expires_at = 0;
  Timestamp revoked_at = 0;
};

struct SigningKey {
  std::string kid;
  std::string alg;                    // ES256 | RS256
  std::string private_key_sealed;     // private key PEM sealed with the key-encryption key
  std::string public_jwk;             // JSON object text
  Timestamp created_at = 0;
  Timestamp retired_at = 0;  // 0 = the active signing key; else only published for verification
};

enum class RotateOutcome { rotated, already_used, not_found };

struct RotateResult {
  RotateOutcome outcome = RotateOutcome::not_found;
  std::optional<RefreshToken> old;  // the presented token's record for rotated and already_used
};

// RFC 8628 device authorization: one row per device_code.
struct DeviceCode {
  std::string device_code_hash;
  std::string user_code_hash;  // hash of the normalized user code (8 characters, no dash)
  std::string client_id;
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  Timestamp created_at = 0;
  Timestamp expires_at = 0;
  std::int64_t interval = 5;     // seconds between polls; grows by 5 on slow_down (RFC 8628 §3.5)
  Timestamp last_polled_at = 0;  // 0 = never polled
  std::string status = "pending";  // pending | approved | denied | consumed
  std::string user_id;             // set on approval
  Timestamp auth_time = 0;         // set on approval
};

class ClientStore {
 public:
  virtual ~ClientStore() = default;
  virtual void put_client(const Client& c) = 0;  // insert; throws StoreError if the id exists
  virtual std::optional<Client> find_client(const std::string& id) = 0;
  virtual std::vector<Client> list_clients() = 0;
  virtual bool delete_client(const std::string& id) = 0;
  // Whether any client lists `origin` (exact, normalized) among its web_origins: the answer to a
  // CORS preflight, which carries no client_id.
  virtual bool has_client_with_web_origin(const std::string& origin) = 0;
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  virtual void put_user(const User& u) = 0;  // insert; throws StoreError if id or username exists
  virtual std::optional<User> find_user(const std::string& id) = 0;
  virtual std::optional<User> find_user_by_username(const std::string& username) = 0;
  virtual std::vector<User> list_users() = 0;
  virtual bool delete_user(const std::string& id) = 0;  // also ends the user's sessions
  // Roles and groups, one name at a time and atomically (two admins adding at once both land).
  // Adding a name the user has, or removing one they lack, changes nothing. Returns false only
  // when the user is unknown.
  virtual bool add_user_role(const std::string& user_id, const std::string& role) = 0;
  virtual bool remove_user_role(const std::string& user_id, const std::string& role) = 0;
  virtual bool add_user_group(const std::string& user_id, const std::string& group) = 0;
  virtual bool remove_user_group(const std::string& user_id, const std::string& group) = 0;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  virtual void put_session(const Session& s) = 0;
  // A session that exists and has not expired at `now`.
  virtual std::optional<Session> find_session(const std::string& id_hash, Timestamp now) = 0;
  virtual void delete_session(const std::string& id_hash) = 0;
};

class ConsentStore {
 public:
  virtual ~ConsentStore() = default;
  virtual void put_consent(const Consent& c) = 0;  // insert or replace (user_id, client_id)
  virtual std::optional<Consent> find_consent(const std::string& user_id, const std::string& client_id) = 0;
};

class InteractionStore {
 public:
  virtual ~InteractionStore() = default;
  virtual void put_interaction(const Interaction& i) = 0;
  virtual std::optional<Interaction> find_interaction(const std::string& id_hash, Timestamp now) = 0;
  virtual void delete_interaction(const std::string& id_hash) = 0;
};

class CodeStore {
 public:
  virtual ~CodeStore() = default;
  virtual void put_code(const AuthorizationCode& c) = 0;
  // Atomically marks the code used. RFC 6749 §4.1.2: a code MUST NOT be used more than once.
  // Returns consumed (first use), already_used (with the code, for revocation), or not_found.
  // Expiry is the caller's rule: an expired but unused code is still returned as consumed.
  virtual ConsumeResult consume_code(const std::string& code_hash, Timestamp now) = 0;
};

class GrantStore {
 public:
  virtual ~GrantStore() = default;
  virtual void put_grant(const Grant& g) = 0;
  virtual std::optional<Grant> find_grant(const std::string& id) = 0;
  // Revokes the grant, all its refresh tokens and every access-token record under it (its other
  // access tokens are inactive because the grant is). Returns false when no such grant exists.
  // Idempotent.
  virtual bool revoke_grant(const std::string& id, Timestamp now) = 0;
  virtual void put_refresh_token(const RefreshToken& t) = 0;
  // A new grant with its first refresh token; one transaction where the backend has them (one
  // commit instead of two for every code redeemed with offline_access). A clash stores neither.
  virtual void put_grant_and_refresh_token(const Grant& g, const RefreshToken& t) = 0;
  virtual std::optional<RefreshToken> find_refresh_token(const std::string& token_hash) = 0;
  virtual std::optional<AccessTokenRecord> find_access_token(const std::string& jti) = 0;

  // Refresh-token rotation (RFC 9700 §4.14.2), atomic: if `old_hash` is live (used_at == 0) it is
  // marked used at `now` and `next` is inserted, in one transaction; of concurrent callers with the
  // same token exactly one gets `rotated`. A used token gives `already_used` (the caller then
  // revokes the grant), an unknown one `not_found`. Expiry and grant checks are the caller's.
  virtual RotateResult rotate_refresh_token(const std::string& old_hash, const RefreshToken& next, Timestamp now) = 0;
  // Records one access token as revoked (RFC 7009 §2.1), the only write for access tokens: inserts
  // `revoked` (revoked_at != 0), or, when its jti has a row already, sets revoked_at unless the row
  // was revoked earlier (the earlier time is kept; the other columns stay). Idempotent, atomic.
  virtual void revoke_access_token(const AccessTokenRecord& revoked) = 0;
};

class DeviceCodeStore {
 public:
  virtual ~DeviceCodeStore() = default;
  // Inserts; throws StoreError on a duplicate device_code_hash, and also when a code that is still
  // pending and unexpired at d.created_at has the same user_code_hash (a user code must name one
  // request; the caller draws a new user code).
  virtual void put_device_code(const DeviceCode& d) = 0;
  virtual std::optional<DeviceCode> find_device_code(const std::string& device_code_hash) = 0;
  // A device code with this user code that is still pending and not expired at `now`.
  virtual std::optional<DeviceCode> find_pending_device_code_by_user_code(const std::string& user_code_hash,
                                                                          Timestamp now) = 0;
  // Records a poll: sets last_polled_at and interval.
  virtual void update_device_poll(const std::string& device_code_hash, Timestamp polled_at, std::int64_t interval) = 0;
  // pending -> approved (with user and auth_time) or denied, only if still pending and unexpired at
  // `now`. Returns false otherwise. Atomic.
  virtual bool decide_device_code(const std::string& user_code_hash, bool approve, const std::string& user_id,
                                  Timestamp auth_time, Timestamp now) = 0;
  // approved -> consumed, atomically; true for exactly one caller (the device_code works once).
  virtual bool consume_device_code(const std::string& device_code_hash) = 0;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  virtual std::vector<SigningKey> list_keys() = 0;  // newest first
  // Inserts `k` only when there is no key with retired_at == 0, atomically (no two processes
  // both create a first key). Returns true when it inserted.
  virtual bool insert_key_if_none_active(const SigningKey& k) = 0;
  // A named server secret (e.g. the CSRF MAC key): stores `value` unless the name exists;
  // returns the value that is stored afterwards (the first writer wins).
  virtual std::string put_secret_if_absent(const std::string& name, const std::string& value) = 0;
  // Key rotation in one transaction: every active key gets retired_at = now, then `next` (active)
  // is inserted. A duplicate kid throws StoreError and changes nothing.
  virtual void rotate_key(const SigningKey& next, Timestamp now) = 0;
  // Removes a key (prune of retired keys); false when unknown.
  virtual bool delete_key(const std::string& kid) = 0;
};

// Brute-force throttling (RFC 9700 §4.4.1 leaves login protection to the AS; issue 7 §4). A key
// names what is counted ("login-user:<hash>", "login-addr:<address>", ...); the state lives in the
// store so that every instance sharing a database agrees on who is locked out.
struct ThrottleRule {
  std::int64_t max_failures = 5;  // failures (each within `window` of the previous) before a lock
  std::int64_t window = 900;      // a quiet period this long forgets earlier failures
  std::int64_t base_lock = 2;     // the first lock, in seconds; every further failure doubles it
  std::int64_t max_lock = 900;    // the longest lock
};

struct ThrottleState {
  std::int64_t failures = 0;
  Timestamp last_failure_at = 0;
  Timestamp locked_until = 0;  // locked while now < locked_until
};

// The state after one more failure at `now`, the same for every backend: after max_failures
// failures the key is locked for base_lock * 2^(failures - max_failures) seconds, capped at max_lock.
inline ThrottleState next_throttle_state(ThrottleState s, Timestamp now, const ThrottleRule& rule) {
  if (s.failures > 0 && now - s.last_failure_at >= rule.window && now >= s.locked_until) s = ThrottleState{};
  ++s.failures;
  s.last_failure_at = now;
  if (s.failures >= rule.max_failures) {
    const std::int64_t doublings = s.failures - rule.max_failures;
    std::int64_t lock = rule.base_lock;
    for (std::int64_t i = 0; i < doublings && lock < rule.max_lock; ++i) lock *= 2;
    s.locked_until = now + (lock < rule.max_lock ? lock : rule.max_lock);
  }
  return s;
}

class ThrottleStore {
 public:
  virtual ~ThrottleStore() = default;
  // The key's state; a zero state when the key has no failures recorded.
  virtual ThrottleState find_throttle(const std::string& key) = 0;
  // Two keys' states at once (a request is throttled per account or client and per address), in
  // one query where the backend can: this read comes before every login and token request.
  virtual std::array<ThrottleState, 2> find_throttles(const std::string& first, const std::string& second) {
    return {find_throttle(first), find_throttle(second)};
  }
  // Applies next_throttle_state atomically (concurrent failures, also from other processes, all
  // count) and returns the state stored afterwards.
  virtual ThrottleState record_throttle_failure(const std::string& key, Timestamp now, const ThrottleRule& rule) = 0;
  // Forgets the key (after a success). Unknown keys are fine.
  virtual void clear_throttle(const std::string& key) = 0;
};

// Connection-pool figures for /metrics. A backend without a pool reports zeros.
struct PoolStats {
  std::size_t in_use = 0;        // connections borrowed by a call right now
  std::size_t idle = 0;          // open connections waiting in the pool
  std::uint64_t opened_total = 0;  // connections opened since start
};

// Removal of expired rows (issue 6 §4: tables do not grow without bound). Codes, device codes,
// refresh tokens and grants are kept for kPurgeGracePeriod after they expired (grants: after they
// expired or were revoked), so that a reuse shortly after expiry is still recognised as a reuse
// (consume_code answers already_used with the grant to revoke, rotate_refresh_token already_used)
// rather than not_found. Sessions and interactions go as soon as they expired (find_* ignores them
// already); access-token records (revocations) as soon as the token expired (an expired token is
// inactive before its record is looked at); throttle keys once
// idle for kPurgeGracePeriod and not locked.
inline constexpr Timestamp kPurgeGracePeriod = 24 * 60 * 60;

class MaintenanceStore {
 public:
  virtual ~MaintenanceStore() = default;
  // Deletes at most `batch_limit` rows from each table (sessions, interactions, codes, device codes,
  // refresh tokens, access tokens, grants, throttles) and returns how many rows went in total. A
  // grant goes only after its refresh tokens and access-token records went (a later call, when the
  // batch limit stopped this one), so no token outlives its grant. Backends shared by several
  // instances let one instance purge at a time: a call while another purges returns 0 at once.
  // Call it periodically until it returns less than a full batch.
  virtual std::size_t purge_expired(Timestamp now, std::size_t batch_limit) = 0;
};

// One object per backend that serves every concern.
class Store : public ClientStore,
              public UserStore,
              public SessionStore,
              public ConsentStore,
              public InteractionStore,
              public CodeStore,
              public GrantStore,
              public DeviceCodeStore,
              public KeyStore,
              public ThrottleStore,
              public MaintenanceStore {
 public:
  // Creates or upgrades the schema (versioned migrations). Idempotent.
  virtual void migrate() = 0;
  virtual PoolStats pool_stats() = 0;
};

}  // namespace latchkey::store
