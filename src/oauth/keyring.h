#pragma once
// The server's signing keys: created up front (at migrate or first start, never per request),
// kept sealed in the KeyStore under a key-encryption key, unsealed into memory by reload().
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jose/jwk.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::oauth {

struct ActiveKey {
  std::string kid;
  jose::Algorithm alg;
  jose::SigningKeyPair key;
};

struct KeySnapshot {
  std::shared_ptr<const ActiveKey> active;  // signs new tokens
  std::string jwks_json;                    // {"keys":[...]} every published public key
  std::vector<jose::PublicJwk> public_keys; // for verifying our own tokens
};

class KeyRing {
 public:
  // kek: the 32-byte key-encryption key (raw bytes).
  KeyRing(store::KeyStore& store, std::string kek);
  // keks: the current key-encryption key first, then older ones that may still open keys sealed
  // before a rotation of the key-encryption key. New keys are always sealed under the first.
  KeyRing(store::KeyStore& store, std::vector<std::string> keks);

  // Creates a first signing key of `alg` when no key is active. Atomic in the store, so two
  // processes starting together create one key. Returns true when it created one.
  bool ensure_signing_key(jose::Algorithm alg, util::Random& random, const util::Clock& clock);

  // Makes a new key of `alg` the active one in one store transaction; the previous key stays
  // published (retired) so tokens it signed keep validating. Returns the new kid. Instances pick
  // it up on their next reload_if_changed().
  std::string rotate(jose::Algorithm alg, util::Random& random, const util::Clock& clock);

  // Deletes retired keys older than the longest token lifetime; returns their kids.
  std::vector<std::string> prune(const util::Clock& clock, std::int64_t max_token_lifetime);

  // Reloads only when the stored key list changed (cheap enough to call every few seconds).
  void reload_if_changed();

  // Loads and unseals every key. Throws std::runtime_error with a clear message (wrong
  // key-encryption key, no active key, unreadable key); the previous snapshot stays in use then.
  void reload();

  // The current keys; never null after a successful reload(). Lock-free for readers.
  std::shared_ptr<const KeySnapshot> snapshot() const { return snapshot_.load(); }

 private:
  store::SigningKey new_key_record(jose::Algorithm alg, util::Random& random, const util::Clock& clock) const;

  store::KeyStore& store_;
  std::vector<std::string> keks_;  // [0] seals; all may unseal
  std::mutex reload_mutex_;
  std::string loaded_fingerprint_;
  std::atomic<std::shared_ptr<const KeySnapshot>> snapshot_;
};

}  // namespace latchkey::oauth
