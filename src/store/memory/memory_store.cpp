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

bool MemoryStore::has_client_with_web_origin(const std::string& origin) {
  std::lock_guard lock(mutex_);
  return std::any_of(clients_.begin(), clients_.end(), [&](const auto& entry) {
    return std::find(entry.second.web_origins.begin(), entry.second.web_origins.end(), origin) !=
           entry.second.web_origins.end();
  });
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

bool MemoryStore::update_user_list(const std::string& user_id, std::vector<std::string> User::*list,
                                   const std::string& name, bool add) {
  std::lock_guard lock(mutex_);
  auto it = users_.find(user_id);
  if (it == users_.end()) return false;
  std::vector<std::string>& names = it->second.*list;
  auto present = std::find(names.begin(), names.end(), name);
  if (add && present == names.end()) names.push_back(name);
  if (!add && present != names.end()) names.erase(present);
  return true;
}

bool MemoryStore::add_user_role(const std::string& user_id, const std::string& role) {
  return update_user_list(user_id, &User::roles, role, true);
}
bool MemoryStore::remove_user_role(const std::string& user_id, const std::string& role) {
  return update_user_list(user_id, &User::roles, role, false);
}
bool MemoryStore::add_user_group(const std::string& user_id, const std::string& group) {
  return update_user_list(user_id, &User::groups, group, true);
}
bool MemoryStore::remove_user_group(const std::string& user_id, const std::string& group) {
  return update_user_list(user_id, &User::groups, group, false);
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

void MemoryStore::put_grant_and_refresh_token(const Grant& g, const RefreshToken& t) {
  std::lock_guard lock(mutex_);
  if (refresh_tokens_.contains(t.token_hash)) throw StoreError("refresh token already exists");
  insert_new(grants_, g.id, g, "grant");
  insert_new(refresh_tokens_, t.token_hash, t, "refresh token");
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

std::optional<AccessTokenRecord> MemoryStore::find_access_token(const std::string& jti) {
  std::lock_guard lock(mutex_);
  return find_copy(access_tokens_, jti);
}

RotateResult MemoryStore::rotate_refresh_token(const std::string& old_hash, const RefreshToken& next, Timestamp now) {
  std::lock_guard lock(mutex_);
  auto old = refresh_tokens_.find(old_hash);
  if (old == refresh_tokens_.end()) return {RotateOutcome::not_found, std::nullopt};
  // RFC 9700 §4.14.2: a refresh token is used once; check and mark under one lock.
  if (old->second.used_at != 0) return {RotateOutcome::already_used, old->second};
  // Checked before any change, so a clash leaves the old token live (as the SQL rollback does).
  if (refresh_tokens_.contains(next.token_hash)) throw StoreError("refresh token already exists");
  old->second.used_at = now;
  refresh_tokens_.emplace(next.token_hash, next);
  return {RotateOutcome::rotated, old->second};  // std::map iterators survive the insert
}

void MemoryStore::revoke_access_token(const AccessTokenRecord& revoked) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = access_tokens_.try_emplace(revoked.jti, revoked);
  if (!inserted && it->second.revoked_at == 0) it->second.revoked_at = revoked.revoked_at;
}

// ---- device codes ----

void MemoryStore::put_device_code(const DeviceCode& d) {
  std::lock_guard lock(mutex_);
  for (const auto& [hash, code] : device_codes_) {
    if (code.user_code_hash == d.user_code_hash && code.status == "pending" && code.expires_at > d.created_at) {
      throw StoreError("a pending device code already has this user code");
    }
  }
  insert_new(device_codes_, d.device_code_hash, d, "device code");
}

std::optional<DeviceCode> MemoryStore::find_device_code(const std::string& device_code_hash) {
  std::lock_guard lock(mutex_);
  return find_copy(device_codes_, device_code_hash);
}

std::optional<DeviceCode> MemoryStore::find_pending_device_code_by_user_code(const std::string& user_code_hash,
                                                                             Timestamp now) {
  std::lock_guard lock(mutex_);
  for (const auto& [hash, code] : device_codes_) {
    if (code.user_code_hash == user_code_hash && code.status == "pending" && now < code.expires_at) return code;
  }
  return std::nullopt;
}

void MemoryStore::update_device_poll(const std::string& device_code_hash, Timestamp polled_at,
                                     std::int64_t interval) {
  std::lock_guard lock(mutex_);
  auto it = device_codes_.find(device_code_hash);
  if (it == device_codes_.end()) return;
  it->second.last_polled_at = polled_at;
  it->second.interval = interval;
}

bool MemoryStore::decide_device_code(const std::string& user_code_hash, bool approve, const std::string& user_id,
                                     Timestamp auth_time, Timestamp now) {
  std::lock_guard lock(mutex_);
  for (auto& [hash, code] : device_codes_) {
    if (code.user_code_hash != user_code_hash || code.status != "pending" || now >= code.expires_at) continue;
    code.status = approve ? "approved" : "denied";
    if (approve) {
      code.user_id = user_id;
      code.auth_time = auth_time;
    }
    return true;  // put_device_code keeps at most one pending, unexpired code per user code
  }
  return false;
}

bool MemoryStore::consume_device_code(const std::string& device_code_hash) {
  std::lock_guard lock(mutex_);
  auto it = device_codes_.find(device_code_hash);
  if (it == device_codes_.end() || it->second.status != "approved") return false;
  it->second.status = "consumed";
  return true;
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

void MemoryStore::rotate_key(const SigningKey& next, Timestamp now) {
  std::lock_guard lock(mutex_);
  for (const auto& key : keys_) {
    if (key.kid == next.kid) throw StoreError("signing key '" + next.kid + "' already exists");
  }
  for (auto& key : keys_) {
    if (key.retired_at == 0) key.retired_at = now;
  }
  SigningKey active = next;
  active.retired_at = 0;
  keys_.push_back(std::move(active));
}

bool MemoryStore::delete_key(const std::string& kid) {
  std::lock_guard lock(mutex_);
  return std::erase_if(keys_, [&](const SigningKey& key) { return key.kid == kid; }) > 0;
}

ThrottleState MemoryStore::find_throttle(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = throttles_.find(key);
  return it == throttles_.end() ? ThrottleState{} : it->second;
}

ThrottleState MemoryStore::record_throttle_failure(const std::string& key, Timestamp now, const ThrottleRule& rule) {
  std::lock_guard lock(mutex_);
  auto& state = throttles_[key];
  state = next_throttle_state(state, now, rule);
  return state;
}

void MemoryStore::clear_throttle(const std::string& key) {
  std::lock_guard lock(mutex_);
  throttles_.erase(key);
}

// ---- maintenance ----

namespace {

// Erases at most `limit` entries of `map` matching `expired`; returns how many went.
template <typename Map, typename Predicate>
std::size_t erase_expired(Map& map, std::size_t limit, Predicate expired) {
  std::size_t erased = 0;
  for (auto it = map.begin(); it != map.end() && erased < limit;) {
    if (expired(it->second)) {
      it = map.erase(it);
      ++erased;
    } else {
      ++it;
    }
  }
  return erased;
}

}  // namespace

std::size_t MemoryStore::purge_expired(Timestamp now, std::size_t batch_limit) {
  std::lock_guard lock(mutex_);
  const Timestamp grace_cutoff = now - kPurgeGracePeriod;
  auto grant_is_done = [&](const std::string& grant_id) {
    auto g = grants_.find(grant_id);
    if (g == grants_.end()) return false;
    return (g->second.revoked_at != 0 && g->second.revoked_at <= grace_cutoff) ||
           (g->second.expires_at != 0 && g->second.expires_at <= grace_cutoff);
  };
  std::size_t purged = 0;
  purged += erase_expired(sessions_, batch_limit, [&](const Session& s) { return s.expires_at <= now; });
  purged += erase_expired(interactions_, batch_limit, [&](const Interaction& i) { return i.expires_at <= now; });
  purged += erase_expired(codes_, batch_limit,
                          [&](const StoredCode& c) { return c.code.expires_at <= grace_cutoff; });
  purged += erase_expired(device_codes_, batch_limit,
                          [&](const DeviceCode& d) { return d.expires_at <= grace_cutoff; });
  purged += erase_expired(refresh_tokens_, batch_limit, [&](const RefreshToken& t) {
    return t.expires_at <= grace_cutoff || grant_is_done(t.grant_id);
  });
  purged += erase_expired(access_tokens_, batch_limit, [&](const AccessTokenRecord& t) {
    return t.expires_at <= now || (!t.grant_id.empty() && grant_is_done(t.grant_id));
  });
  // A grant goes once no token refers to it any more.
  purged += erase_expired(grants_, batch_limit, [&](const Grant& g) {
    if (!grant_is_done(g.id)) return false;
    auto refers = [&](const auto& entry) { return entry.second.grant_id == g.id; };
    return std::none_of(refresh_tokens_.begin(), refresh_tokens_.end(), refers) &&
           std::none_of(access_tokens_.begin(), access_tokens_.end(), refers);
  });
  purged += erase_expired(throttles_, batch_limit, [&](const ThrottleState& t) {
    return t.last_failure_at <= grace_cutoff && t.locked_until <= now;
  });
  return purged;
}

}  // namespace latchkey::store::memory
