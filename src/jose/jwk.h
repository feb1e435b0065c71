#pragma once
// JSON Web Keys (RFC 7517, RFC 7518 §6) for the two signature algorithms Latchkey speaks.
// See jws.h for why this is OpenSSL EVP + Boost.JSON and not a JOSE library.
#include <openssl/types.h>

#include <boost/json/object.hpp>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latchkey::jose {

// Asymmetric only. "none" and HS* are deliberately not representable (RFC 8725 §3.1–3.2).
enum class Algorithm { ES256, RS256 };

std::string_view to_string(Algorithm alg);
std::optional<Algorithm> algorithm_from_string(std::string_view name);

// Shared, immutable OpenSSL key. OpenSSL 3 allows concurrent signing/verifying with one
// EVP_PKEY as long as nobody modifies it, and nobody does after construction.
using KeyHandle = std::shared_ptr<EVP_PKEY>;

namespace detail {
struct SignerPool;
}

class SigningKeyPair {
 public:
  // ES256: P-256. RS256: 2048-bit RSA, e = 65537.
  static SigningKeyPair generate(Algorithm alg);
  // Reads a PKCS#8 / traditional PEM private key and checks that it fits `alg`
  // (EC on P-256 for ES256; RSA of at least 2048 bits for RS256).
  static std::expected<SigningKeyPair, std::string> from_private_pem(std::string_view pem, Algorithm alg);

  std::string private_pem() const;  // unencrypted PKCS#8; seal it (seal.h) before storing
  Algorithm algorithm() const { return alg_; }
  // {"kty","crv","x","y"} or {"kty","n","e"}, plus "kid", "alg" and "use":"sig".
  boost::json::object public_jwk(std::string_view kid) const;
  // RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
  std::string thumbprint() const;
  // The raw JWS signature over `signing_input`: ES256 is R||S, 64 bytes (RFC 7518 §3.4);
  // RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
  std::string sign(std::string_view signing_input) const;

 private:
  SigningKeyPair(KeyHandle key, Algorithm alg);
  KeyHandle key_;
  Algorithm alg_;
  // Signing contexts set up once and reused: EVP_DigestSignInit per token cost a tenth of a grant.
  std::shared_ptr<detail::SignerPool> signers_;
};

// A public verification key, from a JWK or a JWKS.
struct PublicJwk {
  std::string kid;  // may be empty when the JWK has none
  Algorithm alg;
  KeyHandle key;

  // Strict: kty must fit alg (alg is inferred from kty/crv when absent), crv must be P-256 with
  // 32-byte coordinates of a point on the curve, RSA moduli at least 2048 bits, "use" (when
  // present) must be "sig", and private members (d, p, q, dp, dq, qi, oth, k) are refused.
  static std::expected<PublicJwk, std::string> from_json(const boost::json::object& jwk);

  // Checks a raw JWS signature (format as SigningKeyPair::sign produces it).
  bool verify(std::string_view signing_input, std::string_view signature) const;
};

// Parses a JWK Set ({"keys":[...]}). Keys for other uses ("enc"), other key types or algorithms
// and too-weak RSA keys are skipped, so a shared JWKS with such keys still works; malformed
// JSON, a missing "keys" array, and a broken key of a supported type (bad encoding, point off
// the curve, private members) are errors.
std::expected<std::vector<PublicJwk>, std::string> parse_jwks(std::string_view json_text);

// RFC 7638 thumbprint of a public JWK object (EC: crv,kty,x,y; RSA: e,kty,n).
std::expected<std::string, std::string> jwk_thumbprint(const boost::json::object& jwk);

}  // namespace latchkey::jose
