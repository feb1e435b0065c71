#include "store/memory/memory_store.h"

#include <algorithm>

namespace latchkey::store::memory {

namespace {

template <typename Map, typename Key>
auto find_copy(const Map& map, const Key& key) -> std::optional<typename Map::mapped_type> {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

template <typename Map, typename Value>
void insert_new(Map& map, const std::string& key, const Value& value, const char* what) {
  if (!map.emplace(key, value).second) {
    throw StoreError(std::string(what) + " '" + key + "' already exists");
  }
}

}  // namespace

// ---- clients ----

void MemoryStore::put_client(const Client& c) {
  std::lock_guard lock(mutex_);
  insert_new(clients_, c.id, c, "client");
}

std::optional<Client> MemoryStore::find_client(const std::string& id) {
  std::lock_guard lock(mutex_);
  return find_copy(clients_, id);
}

std::vector<Client> MemoryStore::list_clients() {
  std::lock_guard lock(mutex_);
  std::vector<Client> out;
  for (const auto& [id, client] : clients_) out.push_back(client);
  return out;
}

bool MemoryStore::delete_client(const std::string& id) {
  std::lock_guard lock(mutex_);
  return clients_.erase(id) > 0;
}

// ---- users ----

void MemoryStore::put_user(const User& u) {
  std::lock_guard lock(mutex_);
  if (users_.contains(u.id)) throw StoreError("user '" + u.id + "' already exists");
  for (const auto& [id, user] : users_) {
    if (user.username == u.username) throw StoreError("username '" + u.username + "' is taken");
  }
  users_.emplace(u.id, u);
}

std::optional<User> MemoryStore::find_user(const std::string& id) {
  std::lock_guard lock(mutex_);
  return find_copy(users_, id);
}

std::optional<User> MemoryStore::find_user_by_username(const std::string& username) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, user] : users_) {
    if (user.username == username) return user;
  }
  return std::nullopt;
}

std::vector<User> MemoryStore::list_users() {
  std::lock_guard lock(mutex_);
  std::vector<User> out;
  for (const auto& [id, user] : users_) out.push_back(user);
  return out;
}

bool MemoryStore::delete_user(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (users_.erase(id) == 0) return false;
  std::erase_if(sessions_, [&](const auto& entry) { return entry.second.user_id == id; });
  return true;
}

// ---- sessions ----

void MemoryStore::put_session(const Session& s) {
  std::lock_guard lock(mutex_);
  insert_new(sessions_, s.id_hash, s, "session");
}

std::optional<Session> MemoryStore::find_session(const std::string& id_hash, Timestamp now) {
  std::lock_guard lock(mutex_);
  auto session = find_copy(sessions_, id_hash);
  if (session && now >= session->expires_at) return std::nullopt;
  return session;
}

void MemoryStore::delete_session(const std::string& id_hash) {
  std::lock_guard lock(mutex_);
  sessions_.erase(id_hash);
}

// ---- consents ----

void MemoryStore::put_consent(const Consent& c) {
  std::lock_guard lock(mutex_);
  consents_.insert_or_assign({c.user_id, c.client_id}, c);
}

std::optional<Consent> MemoryStore::find_consent(const std::string& user_id, const std::string& client_id) {
  std::lock_guard lock(mutex_);
  return find_copy(consents_, std::pair{user_id, client_id});
}

// ---- interactions ----

void MemoryStore::put_interaction(const Interaction& i) {
  std::lock_guard lock(mutex_);
  insert_new(interactions_, i.id_hash, i, "interaction");
}

std::optional<Interaction> MemoryStore::find_interaction(const std::string& id_hash, Timestamp now) {
  std::lock_guard lock(mutex_);
  auto interaction = find_copy(interactions_, id_hash);
  if (interaction && now >= interaction->expires_at) return std::nullopt;
  return interaction;
}

void MemoryStore::delete_interaction(const std::string& id_hash) {
  std::lock_guard lock(mutex_);
  interactions_.erase(id_hash);
}

// ---- authorization codes ----

void MemoryStore::put_code(const AuthorizationCode& c) {
  std::lock_guard lock(mutex_);
  insert_new(codes_, c.code_hash, StoredCode{c, false}, "authorization code");
}

ConsumeResult MemoryStore::consume_code(const std::string& code_hash, Timestamp /*now*/) {
  std::lock_guard lock(mutex_);
  auto it = codes_.find(code_hash);
  if (it == codes_.end()) return {ConsumeOutcome::not_found, std::nullopt};
  // The check and the mark happen under one lock: of two concurrent callers exactly one wins.
  if (it->second.used) return {ConsumeOutcome::already_used, it->second.code};
  it->second.used = true;
  return {ConsumeOutcome::consumed, it->second.code};
}

// ---- grants and tokens ----

void MemoryStore::put_grant(const Grant& g) {
  std::lock_guard lock(mutex_);
  insert_new(grants_, g.id, g, "grant");
}

std::optional<Grant> MemoryStore::find_grant(const std::string& id) {
  std::lock_guard lock(mutex_);
  return find_copy(grants_, id);
}

bool MemoryStore::revoke_grant(const std::string& id, Timestamp now) {
  std::lock_guard lock(mutex_);
  auto grant = grants_.find(id);
  if (grant == grants_.end()) return false;
  if (grant->second.revoked_at == 0) grant->second.revoked_at = now;
  for (auto& [hash, token] : refresh_tokens_) {
    if (token.grant_id == id && token.used_at == 0) token.used_at = now;
  }
  for (auto& [jti, record] : access_tokens_) {
    if (record.grant_id == id && record.revoked_at == 0) record.revoked_at = now;
  }
  return true;
}

void MemoryStore::put_refresh_token(const RefreshToken& t) {
  std::lock_guard lock(mutex_);
  insert_new(refresh_tokens_, t.token_hash, t, "refresh token");
}

std::optional<RefreshToken> MemoryStore::find_refresh_token(const std::string& token_hash) {
  std::lock_guard lock(mutex_);
  return find_copy(refresh_tokens_, token_hash);
}

void MemoryStore::record_access_token(const AccessTokenRecord& t) {
  std::lock_guard lock(mutex_);
  insert_new(access_tokens_, t.jti, t, "access token");
}

std::optional<AccessTokenRecord> MemoryStore::find_access_token(const std::string& jti) {
  std::lock_guard lock(mutex_);
  return find_copy(access_tokens_, jti);
}

// ---- keys and secrets ----

std::vector<SigningKey> MemoryStore::list_keys() {
  std::lock_guard lock(mutex_);
  std::vector<SigningKey> out(keys_.rbegin(), keys_.rend());  // later insertion first on ties
  std::stable_sort(out.begin(), out.end(),
                   [](const SigningKey& a, const SigningKey& b) { return a.created_at > b.created_at; });
  return out;
}

bool MemoryStore::insert_key_if_none_active(const SigningKey& k) {
  std::lock_guard lock(mutex_);
  for (const auto& key : keys_) {
    if (key.retired_at == 0) return false;
  }
  for (const auto& key : keys_) {
    if (key.kid == k.kid) throw StoreError("signing key '" + k.kid + "' already exists");
  }
  keys_.push_back(k);
  return true;
}

std::string MemoryStore::put_secret_if_absent(const std::string& name, const std::string& value) {
  std::lock_guard lock(mutex_);
  return secrets_.emplace(name, value).first->second;
}

}  // namespace latchkey::store::memory
