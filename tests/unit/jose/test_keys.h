#pragma once
// Keys are expensive to generate (RSA especially): each test binary makes them once.
#include "jose/jwk.h"

namespace latchkey::jose::testing {

inline const SigningKeyPair& ec_key() {
  static const SigningKeyPair key = SigningKeyPair::generate(Algorithm::ES256);
  return key;
}
inline const SigningKeyPair& other_ec_key() {
  static const SigningKeyPair key = SigningKeyPair::generate(Algorithm::ES256);
  return key;
}
inline const SigningKeyPair& rsa_key() {
  static const SigningKeyPair key = SigningKeyPair::generate(Algorithm::RS256);
  return key;
}

inline PublicJwk public_key(const SigningKeyPair& key, std::string_view kid) {
  auto jwk = PublicJwk::from_json(key.public_jwk(kid));
  if (!jwk) throw std::runtime_error(jwk.error());
  return *jwk;
}

}  // namespace latchkey::jose::testing
