#pragma once
// The in-memory backend: every concern of store::Store in mutex-guarded maps. It is the store of the
// protocol core's unit tests, so it follows the contract of store.h exactly and passes the same
// storage test suite as the SQLite backend (tests/unit/store/).
//
// Behaviour shared with every backend (beyond store.h):
//  - put_session, put_interaction, put_code, put_grant, put_refresh_token and
//    insert_key_if_none_active, put_device_code and rotate_refresh_token (for `next`) insert and
//    throw StoreError when the key already exists (never replace: replacing a used code would make
//    it usable again). put_consent replaces.
//  - list_clients and list_users are ordered by id (byte order); list_keys newest first
//    (created_at descending, later insertion first on ties).
//  - revoke_grant marks the grant's live refresh tokens used (used_at = now) and its access-token
//    records revoked (revoked_at = now); earlier timestamps are kept, so it is idempotent.
//    revoke_access_token keeps an earlier revoked_at the same way.
//  - rotate_refresh_token returns `old` as stored afterwards (for `rotated`, used_at == now).
//  - A device code is expired at `now` when now >= expires_at (as sessions and interactions).
//    decide_device_code sets user_id and auth_time only when approving. update_device_poll on an
//    unknown hash does nothing.
//  - rotate_key stores `next` with retired_at = 0 whatever it carries.
//  - No referential checks (a session for an unknown user is stored); delete_user removes the
//    user's sessions.
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace latchkey::store::memory {

class MemoryStore : public Store {
 public:
  void migrate() override {}  // nothing to create
  PoolStats pool_stats() override { return {}; }  // no connections to pool

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
  struct StoredCode {
    AuthorizationCode code;
    bool used = false;
  };

  // Adds or removes `name` in one of the user's lists; false when the user is unknown.
  bool update_user_list(const std::string& user_id, std::vector<std::string> User::*list, const std::string& name,
                        bool add);

  std::mutex mutex_;
  std::map<std::string, Client> clients_;
  std::map<std::string, User> users_;
  std::map<std::string, Session> sessions_;
  std::map<std::pair<std::string, std::string>, Consent> consents_;
  std::map<std::string, Interaction> interactions_;
  std::map<std::string, StoredCode> codes_;
  std::map<std::string, Grant> grants_;
  std::map<std::string, RefreshToken> refresh_tokens_;
  std::map<std::string, AccessTokenRecord> access_tokens_;
  std::map<std::string, DeviceCode> device_codes_;
  std::vector<SigningKey> keys_;  // in insertion order
  std::map<std::string, std::string> secrets_;
  std::map<std::string, ThrottleState> throttles_;
};

}  // namespace latchkey::store::memory
