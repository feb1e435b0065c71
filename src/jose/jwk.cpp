#include "jose/jwk.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <array>
#include <mutex>
#include <vector>
#include <span>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "jose/openssl_util.h"
#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::jose {
namespace {

using namespace detail;

constexpr std::size_t kP256CoordinateSize = 32;  // RFC 7518 §6.2.1.2/§6.2.1.3: full size, left-padded
constexpr int kMinRsaBits = 2048;                // RFC 7518 §3.3: 2048 bits or larger MUST be used
constexpr int kMaxRsaBits = 8192;                // bounds the work one verification can cost
constexpr std::size_t kMaxRsaExponentBytes = 8;  // OpenSSL's own limit on public exponents is 64 bits
constexpr std::size_t kMaxJwksSize = 1 << 20;

// Why a JWK could not be used: a key we do not support is skipped inside a JWKS, a broken key
// of a type we do support is an error there.
struct JwkProblem {
  bool unsupported;
  std::string message;
};

std::unexpected<JwkProblem> unsupported(std::string message) { return std::unexpected(JwkProblem{true, std::move(message)}); }
std::unexpected<JwkProblem> invalid(std::string message) { return std::unexpected(JwkProblem{false, std::move(message)}); }

bool is_p256(EVP_PKEY* key) {
  char name[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) {
    ERR_clear_error();
    return false;
  }
  int nid = OBJ_txt2nid(name);
  if (nid == NID_undef) nid = EC_curve_nist2nid(name);
  return nid == NID_X9_62_prime256v1;
}

// Checks that an OpenSSL key is usable with `alg`; returns the reason when it is not.
std::optional<std::string> key_mismatch(EVP_PKEY* key, Algorithm alg) {
  switch (alg) {
    case Algorithm::ES256:
      if (!EVP_PKEY_is_a(key, "EC")) return "ES256 needs an EC key";
      if (!is_p256(key)) return "ES256 needs a key on curve P-256";
      return std::nullopt;
    case Algorithm::RS256:
      if (!EVP_PKEY_is_a(key, "RSA")) return "RS256 needs an RSA key";
      if (EVP_PKEY_get_bits(key) < kMinRsaBits) return "RS256 needs an RSA key of at least 2048 bits";
      return std::nullopt;
  }
  return "unknown algorithm";
}

Bignum get_bn(EVP_PKEY* key, const char* param) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) {
    throw std::runtime_error(std::string("cannot read key parameter ") + param + ": " + take_openssl_errors());
  }
  return Bignum(bn);
}

std::string bn_to_bytes(const BIGNUM* bn, std::size_t padded_size = 0) {
  std::size_t size = padded_size ? padded_size : static_cast<std::size_t>(BN_num_bytes(bn));
  std::string out(size, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (padded_size) {
    if (BN_bn2binpad(bn, dst, static_cast<int>(size)) < 0) throw std::runtime_error("number too large for its field");
  } else {
    BN_bn2bin(bn, dst);
  }
  return out;
}

std::optional<std::string_view> string_member(const boost::json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

std::expected<std::string, JwkProblem> decode_member(const boost::json::object& o, std::string_view name) {
  auto text = string_member(o, name);
  if (!text) return invalid("JWK member \"" + std::string(name) + "\" is missing or not a string");
  auto decoded = util::base64url_decode(*text);
  if (!decoded) return invalid("JWK member \"" + std::string(name) + "\" is not base64url");
  return *decoded;
}

std::expected<KeyHandle, JwkProblem> import_public(const char* type, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return invalid(std::string("cannot import ") + type + " public key: " + take_openssl_errors());
  }
  KeyHandle key = adopt(raw);
  // Import already rejects an EC point that is not on the curve; the explicit check also
  // covers the point at infinity and RSA sanity (odd modulus, exponent > 1).
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return invalid(std::string("invalid ") + type + " public key: " + take_openssl_errors());
  }
  return key;
}

std::expected<KeyHandle, JwkProblem> import_ec(const boost::json::object& jwk) {
  auto x = decode_member(jwk, "x");
  if (!x) return std::unexpected(x.error());
  auto y = decode_member(jwk, "y");
  if (!y) return std::unexpected(y.error());
  if (x->size() != kP256CoordinateSize || y->size() != kP256CoordinateSize) {
    return invalid("P-256 coordinates must be exactly 32 bytes (RFC 7518 §6.2.1.2)");
  }
  std::string point = "\x04" + *x + *y;  // SEC1 uncompressed point
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return invalid("cannot build EC parameters: " + take_openssl_errors());
  }
  return import_public("EC", bld.get());
}

std::expected<KeyHandle, JwkProblem> import_rsa(const boost::json::object& jwk) {
  auto n = decode_member(jwk, "n");
  if (!n) return std::unexpected(n.error());
  auto e = decode_member(jwk, "e");
  if (!e) return std::unexpected(e.error());
  if (e->empty() || e->size() > kMaxRsaExponentBytes) return invalid("RSA exponent has an unusable size");
  // Leading zero bytes in n violate the minimal Base64urlUInt encoding (RFC 7518 §2) but are
  // harmless, and some older providers emit them: tolerated, and not counted as modulus bits.
  Bignum n_bn(BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr));
  Bignum e_bn(BN_bin2bn(bytes(*e), static_cast<int>(e->size()), nullptr));
  if (!n_bn || !e_bn) return invalid("cannot read RSA numbers");
  int bits = BN_num_bits(n_bn.get());
  if (bits < kMinRsaBits) return unsupported("RSA modulus shorter than 2048 bits (RFC 7518 §3.3)");
  if (bits > kMaxRsaBits) return unsupported("RSA modulus longer than 8192 bits");
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return invalid("cannot build RSA parameters: " + take_openssl_errors());
  }
  return import_public("RSA", bld.get());
}

std::expected<PublicJwk, JwkProblem> parse_public_jwk(const boost::json::object& jwk) {
  // A published key must never carry private material (RFC 7517 §9.2, RFC 7518 §6.2.2/§6.3.2);
  // "k" is a symmetric secret (RFC 7518 §6.4).
  for (const char* name : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(name)) return invalid(std::string("JWK contains the private member \"") + name + "\"");
  }
  auto kty = string_member(jwk, "kty");
  if (!kty) return invalid("JWK has no \"kty\" string");
  if (*kty != "EC" && *kty != "RSA") return unsupported("unsupported kty \"" + std::string(*kty) + "\"");

  if (const auto* use = jwk.if_contains("use")) {
    if (!use->is_string()) return invalid("JWK \"use\" is not a string");
    if (use->get_string() != "sig") return unsupported("JWK is not for signatures");
  }
  if (const auto* ops = jwk.if_contains("key_ops")) {
    if (!ops->is_array()) return invalid("JWK \"key_ops\" is not an array");
    bool verifies = false;
    for (const auto& op : ops->get_array()) verifies = verifies || (op.is_string() && op.get_string() == "verify");
    if (!verifies) return unsupported("JWK key_ops does not allow verify");
  }

  std::optional<std::string_view> crv;
  if (*kty == "EC") {
    crv = string_member(jwk, "crv");
    if (!crv) return invalid("EC JWK has no \"crv\" string");
  }

  Algorithm alg;
  if (const auto* alg_value = jwk.if_contains("alg")) {
    if (!alg_value->is_string()) return invalid("JWK \"alg\" is not a string");
    auto known = algorithm_from_string(alg_value->get_string());
    if (!known) return unsupported("unsupported alg \"" + std::string(alg_value->get_string()) + "\"");
    alg = *known;
    // No algorithm confusion: the key type must be the one the algorithm is defined for.
    if ((alg == Algorithm::ES256) != (*kty == "EC")) return invalid("JWK kty does not fit its alg");
    if (alg == Algorithm::ES256 && *crv != "P-256") return invalid("ES256 needs crv P-256 (RFC 7518 §3.4)");
  } else if (*kty == "EC") {
    if (*crv != "P-256") return unsupported("unsupported curve \"" + std::string(*crv) + "\"");
    alg = Algorithm::ES256;
  } else {
    alg = Algorithm::RS256;
  }

  std::string kid;
  if (const auto* kid_value = jwk.if_contains("kid")) {
    if (!kid_value->is_string()) return invalid("JWK \"kid\" is not a string");
    kid = kid_value->get_string();
  }

  auto key = alg == Algorithm::ES256 ? import_ec(jwk) : import_rsa(jwk);
  if (!key) return std::unexpected(key.error());
  return PublicJwk{std::move(kid), alg, std::move(*key)};
}

}  // namespace

std::string_view to_string(Algorithm alg) {
  switch (alg) {
    case Algorithm::ES256: return "ES256";
    case Algorithm::RS256: return "RS256";
  }
  return "?";
}

std::optional<Algorithm> algorithm_from_string(std::string_view name) {
  if (name == "ES256") return Algorithm::ES256;
  if (name == "RS256") return Algorithm::RS256;
  return std::nullopt;
}

SigningKeyPair SigningKeyPair::generate(Algorithm alg) {
  EVP_PKEY* raw = alg == Algorithm::ES256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
  if (!raw) throw std::runtime_error("signing key generation failed: " + take_openssl_errors());
  return SigningKeyPair(adopt(raw), alg);
}

std::expected<SigningKeyPair, std::string> SigningKeyPair::from_private_pem(std::string_view pem, Algorithm alg) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::unexpected("out of memory");
  // A callback that gives no passphrase: an encrypted PEM fails instead of prompting on a tty.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  if (!raw) return std::unexpected("not a PEM private key: " + take_openssl_errors());
  KeyHandle key = adopt(raw);
  if (auto why = key_mismatch(key.get(), alg)) return std::unexpected(*why);
  return SigningKeyPair(std::move(key), alg);
}

std::string SigningKeyPair::private_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("cannot write private key: " + take_openssl_errors());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

boost::json::object SigningKeyPair::public_jwk(std::string_view kid) const {
  boost::json::object jwk;
  if (alg_ == Algorithm::ES256) {
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = util::base64url_encode(bn_to_bytes(get_bn(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X).get(), kP256CoordinateSize));
    jwk["y"] = util::base64url_encode(bn_to_bytes(get_bn(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y).get(), kP256CoordinateSize));
  } else {
    jwk["kty"] = "RSA";
    jwk["n"] = util::base64url_encode(bn_to_bytes(get_bn(key_.get(), OSSL_PKEY_PARAM_RSA_N).get()));
    jwk["e"] = util::base64url_encode(bn_to_bytes(get_bn(key_.get(), OSSL_PKEY_PARAM_RSA_E).get()));
  }
  if (!kid.empty()) jwk["kid"] = kid;
  jwk["alg"] = to_string(alg_);
  jwk["use"] = "sig";
  return jwk;
}

std::string SigningKeyPair::thumbprint() const {
  auto t = jwk_thumbprint(public_jwk({}));
  if (!t) throw std::logic_error("thumbprint of our own key failed: " + t.error());
  return *t;
}

namespace detail {

// Idle EVP_PKEY_CTXs for one key, each already through EVP_PKEY_sign_init. A context is used by one
// thread at a time (OpenSSL contexts are not thread-safe); the key itself is shared read-only.
struct SignerPool {
  std::mutex mutex;
  std::vector<PkeyCtx> idle;
};

}  // namespace detail

SigningKeyPair::SigningKeyPair(KeyHandle key, Algorithm alg)
    : key_(std::move(key)), alg_(alg), signers_(std::make_shared<detail::SignerPool>()) {}

std::string SigningKeyPair::sign(std::string_view signing_input) const {
  PkeyCtx ctx;
  {
    std::lock_guard lock(signers_->mutex);
    if (!signers_->idle.empty()) {
      ctx = std::move(signers_->idle.back());
      signers_->idle.pop_back();
    }
  }
  if (!ctx) {
    ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), util::sha256_md()) != 1 ||
        (alg_ == Algorithm::RS256 && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)) {
      throw std::runtime_error("signing failed: " + take_openssl_errors());
    }
  }
  // Both algorithms sign SHA-256(signing input) (RFC 7518 §3.3, §3.4).
  const std::string digest = util::sha256(signing_input);
  std::size_t size = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &size, bytes(digest), digest.size()) != 1) {
    throw std::runtime_error("signing failed: " + take_openssl_errors());
  }
  std::string signature(size, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, bytes(digest),
                    digest.size()) != 1) {
    throw std::runtime_error("signing failed: " + take_openssl_errors());
  }
  signature.resize(size);
  {
    std::lock_guard lock(signers_->mutex);
    if (signers_->idle.size() < 64) signers_->idle.push_back(std::move(ctx));
  }
  if (alg_ == Algorithm::RS256) return signature;

  // OpenSSL gives ECDSA signatures DER-encoded; JWS wants R and S as two fixed 32-byte
  // big-endian numbers (RFC 7518 §3.4).
  const auto* der = bytes(signature);
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())));
  if (!sig) throw std::runtime_error("cannot decode ECDSA signature: " + take_openssl_errors());
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  return bn_to_bytes(r, kP256CoordinateSize) + bn_to_bytes(s, kP256CoordinateSize);
}

std::expected<PublicJwk, std::string> PublicJwk::from_json(const boost::json::object& jwk) {
  auto parsed = parse_public_jwk(jwk);
  if (!parsed) return std::unexpected(parsed.error().message);
  return std::move(*parsed);
}

bool PublicJwk::verify(std::string_view signing_input, std::string_view signature) const {
  if (!key) return false;
  std::string der;
  if (alg == Algorithm::ES256) {
    // RFC 7518 §3.4: exactly 64 bytes, else the signature MUST be rejected.
    if (signature.size() != 2 * kP256CoordinateSize) return false;
    EcdsaSig sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes(signature), kP256CoordinateSize, nullptr);
    BIGNUM* s = BN_bin2bn(bytes(signature) + kP256CoordinateSize, kP256CoordinateSize, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ERR_clear_error();
      return false;
    }
    unsigned char* out = nullptr;
    int size = i2d_ECDSA_SIG(sig.get(), &out);
    if (size <= 0) {
      ERR_clear_error();
      return false;
    }
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(size));
    OPENSSL_free(out);
    signature = der;
  } else if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.get()))) {
    return false;  // RFC 8017 §8.2.2: the signature is exactly as long as the modulus
  }
  MdCtx ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input),
                             signing_input.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

std::expected<std::vector<PublicJwk>, std::string> parse_jwks(std::string_view json_text) {
  if (json_text.size() > kMaxJwksSize) return std::unexpected("JWKS is larger than 1 MiB");
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json_text, ec);
  if (ec) return std::unexpected("JWKS is not JSON: " + ec.message());
  if (!doc.is_object()) return std::unexpected("JWKS is not a JSON object");
  const auto* keys = doc.get_object().if_contains("keys");
  if (!keys || !keys->is_array()) return std::unexpected("JWKS has no \"keys\" array");
  std::vector<PublicJwk> result;
  std::size_t index = 0;
  for (const auto& entry : keys->get_array()) {
    if (!entry.is_object()) return std::unexpected("JWKS key " + std::to_string(index) + " is not an object");
    auto key = parse_public_jwk(entry.get_object());
    if (key) {
      result.push_back(std::move(*key));
    } else if (!key.error().unsupported) {
      return std::unexpected("JWKS key " + std::to_string(index) + ": " + key.error().message);
    }
    ++index;
  }
  return result;
}

std::expected<std::string, std::string> jwk_thumbprint(const boost::json::object& jwk) {
  auto kty = string_member(jwk, "kty");
  if (!kty) return std::unexpected("JWK has no \"kty\" string");
  // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
  std::array<std::string_view, 4> ec_members{"crv", "kty", "x", "y"};
  std::array<std::string_view, 3> rsa_members{"e", "kty", "n"};
  std::span<const std::string_view> members;
  if (*kty == "EC") {
    members = ec_members;
  } else if (*kty == "RSA") {
    members = rsa_members;
  } else {
    return std::unexpected("unsupported kty for a thumbprint");
  }
  std::string canonical = "{";
  for (auto name : members) {
    const auto* value = jwk.if_contains(name);
    if (!value || !value->is_string()) return std::unexpected("JWK member \"" + std::string(name) + "\" is missing");
    if (canonical.size() > 1) canonical += ',';
    canonical += boost::json::serialize(boost::json::string(name));
    canonical += ':';
    canonical += boost::json::serialize(*value);
  }
  canonical += '}';
  return util::base64url_encode(util::sha256(canonical));
}

}  // namespace latchkey::jose
