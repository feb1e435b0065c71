#include "oauth/keyring.h"

#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "jose/seal.h"

namespace latchkey::oauth {

KeyRing::KeyRing(store::KeyStore& store, std::string kek) : KeyRing(store, std::vector<std::string>{std::move(kek)}) {}

KeyRing::KeyRing(store::KeyStore& store, std::vector<std::string> keks) : store_(store), keks_(std::move(keks)) {
  if (keks_.empty()) throw std::invalid_argument("a key-encryption key is needed");
  for (const auto& kek : keks_) {
    if (kek.size() != jose::kKekSize) {
      throw std::invalid_argument("the key-encryption key must be 32 bytes, not " + std::to_string(kek.size()));
    }
  }
}

store::SigningKey KeyRing::new_key_record(jose::Algorithm alg, util::Random& random, const util::Clock& clock) const {
  auto key = jose::SigningKeyPair::generate(alg);
  // kid = RFC 7638 thumbprint: unique per key without coordination between processes, stable,
  // reveals nothing, and any verifier (jwcrypto, jose, ...) can recompute it from the JWKS.
  std::string kid = key.thumbprint();
  return store::SigningKey{
      .kid = kid,
      .alg = std::string(jose::to_string(alg)),
      // The kid is the AAD: a sealed key copied into another row does not unseal there.
      .private_key_sealed = jose::seal(key.private_pem(), keks_.front(), random, kid),
      .public_jwk = boost::json::serialize(key.public_jwk(kid)),
      .created_at = clock.now(),
      .retired_at = 0,
  };
}

bool KeyRing::ensure_signing_key(jose::Algorithm alg, util::Random& random, const util::Clock& clock) {
  // Most starts find a key already; checking first avoids generating one (RSA takes ~100 ms) for
  // nothing. The check is only an optimisation: the insert below is what is atomic.
  for (const auto& existing : store_.list_keys()) {
    if (existing.retired_at == 0) return false;
  }
  return store_.insert_key_if_none_active(new_key_record(alg, random, clock));
}

std::string KeyRing::rotate(jose::Algorithm alg, util::Random& random, const util::Clock& clock) {
  auto record = new_key_record(alg, random, clock);
  store_.rotate_key(record, clock.now());
  return record.kid;
}

std::vector<std::string> KeyRing::prune(const util::Clock& clock, std::int64_t max_token_lifetime) {
  std::vector<std::string> removed;
  const auto now = clock.now();
  for (const auto& k : store_.list_keys()) {
    // A retired key signed nothing after retired_at; once the longest-lived token it could have
    // signed has expired, no one needs it to verify anything.
    if (k.retired_at != 0 && now >= k.retired_at + max_token_lifetime && store_.delete_key(k.kid))
      removed.push_back(k.kid);
  }
  return removed;
}

void KeyRing::reload_if_changed() {
  std::string fingerprint;
  for (const auto& k : store_.list_keys()) fingerprint += k.kid + ":" + std::to_string(k.retired_at) + ";";
  {
    std::lock_guard lock(reload_mutex_);
    if (fingerprint == loaded_fingerprint_ && snapshot_.load()) return;
  }
  reload();
  std::lock_guard lock(reload_mutex_);
  loaded_fingerprint_ = fingerprint;
}

void KeyRing::reload() {
  auto next = std::make_shared<KeySnapshot>();
  boost::json::array published;
  std::shared_ptr<const ActiveKey> active;
  store::Timestamp active_created_at = 0;

  for (const auto& record : store_.list_keys()) {
    auto alg = jose::algorithm_from_string(record.alg);
    if (!alg) throw std::runtime_error("signing key " + record.kid + " has unsupported alg \"" + record.alg + "\"");
    // AES-GCM's tag tells which key-encryption key sealed it: try the current one, then older ones.
    auto pem = jose::unseal(record.private_key_sealed, keks_.front(), record.kid);
    for (std::size_t i = 1; !pem && i < keks_.size(); ++i) pem = jose::unseal(record.private_key_sealed, keks_[i], record.kid);
    if (!pem) {
      throw std::runtime_error("signing key " + record.kid + " cannot be unsealed: wrong key-encryption key?");
    }
    auto key = jose::SigningKeyPair::from_private_pem(*pem, *alg);
    if (!key) throw std::runtime_error("signing key " + record.kid + " is unreadable: " + key.error());

    // Published from the private key itself, so the JWKS always matches what signs.
    auto jwk = key->public_jwk(record.kid);
    auto public_key = jose::PublicJwk::from_json(jwk);
    if (!public_key) throw std::runtime_error("signing key " + record.kid + ": " + public_key.error());
    next->public_keys.push_back(std::move(*public_key));
    published.push_back(std::move(jwk));

    // list_keys is newest first; created_at decides anyway should two keys be active at once.
    if (record.retired_at == 0 && (!active || record.created_at > active_created_at)) {
      active = std::make_shared<const ActiveKey>(ActiveKey{record.kid, *alg, std::move(*key)});
      active_created_at = record.created_at;
    }
  }
  if (!active) {
    throw std::runtime_error("no active signing key in the store (keys are created by `latchkey-server migrate` "
                             "or at the first start)");
  }
  next->active = std::move(active);
  boost::json::object jwks;
  jwks["keys"] = std::move(published);
  next->jwks_json = boost::json::serialize(jwks);
  snapshot_.store(std::move(next));
}

}  // namespace latchkey::oauth
