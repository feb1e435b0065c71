#include "jose/jwk.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>

#include "test_keys.h"
#include "util/base64url.h"

namespace latchkey::jose {
namespace {

using testing::ec_key;
using testing::rsa_key;

std::string decoded(const boost::json::object& jwk, std::string_view name) {
  auto bytes = util::base64url_decode(std::string_view(jwk.at(name).as_string()));
  if (!bytes) throw std::runtime_error("member is not base64url");
  return *bytes;
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

TEST(Algorithm, NamesRoundTripAndOthersAreUnknown) {
  for (auto alg : {Algorithm::ES256, Algorithm::RS256}) EXPECT_EQ(algorithm_from_string(to_string(alg)), alg);
  EXPECT_EQ(to_string(Algorithm::ES256), "ES256");
  for (auto name : {"none", "HS256", "es256", "ES384", "PS256", ""}) EXPECT_FALSE(algorithm_from_string(name)) << name;
}

TEST(SigningKeyPair, EcJwkHasFullSizeCoordinatesEvenWithLeadingZeros) {
  // RFC 7518 §6.2.1.2: a coordinate whose first byte is zero must still be 32 bytes. About one
  // key in 128 has such a coordinate; keep generating until one does.
  bool saw_leading_zero = false;
  for (int i = 0; i < 3000 && !saw_leading_zero; ++i) {
    auto key = SigningKeyPair::generate(Algorithm::ES256);
    auto jwk = key.public_jwk("k");
    std::string x = decoded(jwk, "x");
    std::string y = decoded(jwk, "y");
    ASSERT_EQ(x.size(), 32u);
    ASSERT_EQ(y.size(), 32u);
    saw_leading_zero = x[0] == '\0' || y[0] == '\0';
    if (saw_leading_zero) {
      auto back = PublicJwk::from_json(jwk);
      ASSERT_TRUE(back) << back.error();
      EXPECT_TRUE(back->verify("data", key.sign("data")));
    }
  }
  EXPECT_TRUE(saw_leading_zero);
}

TEST(SigningKeyPair, EcJwkMembers) {
  auto jwk = ec_key().public_jwk("kid-1");
  EXPECT_EQ(jwk.at("kty"), "EC");
  EXPECT_EQ(jwk.at("crv"), "P-256");
  EXPECT_EQ(jwk.at("kid"), "kid-1");
  EXPECT_EQ(jwk.at("alg"), "ES256");
  EXPECT_EQ(jwk.at("use"), "sig");
  EXPECT_FALSE(jwk.contains("d"));
}

TEST(SigningKeyPair, RsaJwkMembers) {
  auto jwk = rsa_key().public_jwk("r");
  EXPECT_EQ(jwk.at("kty"), "RSA");
  EXPECT_EQ(jwk.at("e"), "AQAB");  // 65537
  EXPECT_EQ(decoded(jwk, "n").size(), 256u);
  EXPECT_NE(decoded(jwk, "n")[0], '\0');  // minimal encoding (RFC 7518 §2 Base64urlUInt)
  EXPECT_EQ(jwk.at("alg"), "RS256");
  EXPECT_EQ(jwk.at("use"), "sig");
  for (auto name : {"d", "p", "q", "dp", "dq", "qi"}) EXPECT_FALSE(jwk.contains(name)) << name;
}

TEST(SigningKeyPair, Es256SignatureIsAlways64Bytes) {
  // DER signatures vary in length (70-72 bytes); the JWS form must not (RFC 7518 §3.4).
  // R or S is shorter than 32 bytes in about one signature of 128: 1000 signatures all but
  // surely include such a case, which must be left-padded and still verify.
  auto public_jwk = testing::public_key(ec_key(), "k");
  int padded = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string input = "input " + std::to_string(i);
    std::string signature = ec_key().sign(input);
    ASSERT_EQ(signature.size(), 64u);
    if (signature[0] == '\0' || signature[32] == '\0') {
      ++padded;
      EXPECT_TRUE(public_jwk.verify(input, signature));
    }
  }
  EXPECT_GT(padded, 0);
}

TEST(SigningKeyPair, Rs256SignatureIsModulusSized) { EXPECT_EQ(rsa_key().sign("input").size(), 256u); }

TEST(SigningKeyPair, PemRoundTripKeepsTheKey) {
  for (const auto* key : {&ec_key(), &rsa_key()}) {
    auto back = SigningKeyPair::from_private_pem(key->private_pem(), key->algorithm());
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(boost::json::serialize(back->public_jwk("a")), boost::json::serialize(key->public_jwk("a")));
    EXPECT_TRUE(testing::public_key(*key, "a").verify("x", back->sign("x")));
  }
}

TEST(SigningKeyPair, PemMustFitTheAlgorithm) {
  EXPECT_FALSE(SigningKeyPair::from_private_pem(ec_key().private_pem(), Algorithm::RS256));
  EXPECT_FALSE(SigningKeyPair::from_private_pem(rsa_key().private_pem(), Algorithm::ES256));
  EXPECT_FALSE(SigningKeyPair::from_private_pem(pem_of(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384")),
                                                Algorithm::ES256));
  EXPECT_FALSE(SigningKeyPair::from_private_pem(pem_of(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024})),
                                                Algorithm::RS256));
  EXPECT_FALSE(SigningKeyPair::from_private_pem("not a pem", Algorithm::ES256));
  EXPECT_FALSE(SigningKeyPair::from_private_pem("", Algorithm::ES256));
}

TEST(PublicJwk, ImportsOurExportAndVerifies) {
  for (const auto* key : {&ec_key(), &rsa_key()}) {
    auto jwk = PublicJwk::from_json(key->public_jwk("k1"));
    ASSERT_TRUE(jwk) << jwk.error();
    EXPECT_EQ(jwk->kid, "k1");
    EXPECT_EQ(jwk->alg, key->algorithm());
    EXPECT_TRUE(jwk->verify("message", key->sign("message")));
    EXPECT_FALSE(jwk->verify("messagE", key->sign("message")));
  }
}

TEST(PublicJwk, InfersAlgFromKeyTypeWhenAbsent) {
  auto jwk = ec_key().public_jwk("k");
  jwk.erase("alg");
  jwk.erase("use");
  auto parsed = PublicJwk::from_json(jwk);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->alg, Algorithm::ES256);
}

TEST(PublicJwk, RefusesPrivateMembers) {
  for (auto name : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    auto jwk = ec_key().public_jwk("k");
    jwk[name] = "AAAA";
    EXPECT_FALSE(PublicJwk::from_json(jwk)) << name;
  }
}

TEST(PublicJwk, RefusesWrongOrMissingCurve) {
  auto jwk = ec_key().public_jwk("k");
  jwk["crv"] = "P-384";
  EXPECT_FALSE(PublicJwk::from_json(jwk));
  jwk.erase("crv");
  EXPECT_FALSE(PublicJwk::from_json(jwk));
}

TEST(PublicJwk, RefusesKeyTypeThatDoesNotFitAlg) {
  auto ec = ec_key().public_jwk("k");
  ec["alg"] = "RS256";
  EXPECT_FALSE(PublicJwk::from_json(ec));
  auto rsa = rsa_key().public_jwk("k");
  rsa["alg"] = "ES256";
  EXPECT_FALSE(PublicJwk::from_json(rsa));
  rsa["alg"] = "HS256";
  EXPECT_FALSE(PublicJwk::from_json(rsa));
}

TEST(PublicJwk, RefusesShortCoordinates) {
  auto jwk = ec_key().public_jwk("k");
  jwk["x"] = util::base64url_encode(decoded(jwk, "x").substr(1));
  EXPECT_FALSE(PublicJwk::from_json(jwk));
  jwk = ec_key().public_jwk("k");
  jwk["y"] = util::base64url_encode(std::string(1, '\0') + decoded(jwk, "y"));
  EXPECT_FALSE(PublicJwk::from_json(jwk));
}

TEST(PublicJwk, RefusesPointOffTheCurve) {
  auto jwk = ec_key().public_jwk("k");
  std::string y = decoded(jwk, "y");
  y[31] = static_cast<char>(y[31] ^ 1);
  jwk["y"] = util::base64url_encode(y);
  auto parsed = PublicJwk::from_json(jwk);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().find("EC public key"), std::string::npos) << parsed.error();
}

TEST(PublicJwk, RefusesShortRsaModulus) {
  auto jwk = rsa_key().public_jwk("k");
  jwk["n"] = util::base64url_encode(decoded(jwk, "n").substr(0, 128));  // 1024 bits
  auto parsed = PublicJwk::from_json(jwk);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().find("2048"), std::string::npos) << parsed.error();
}

TEST(PublicJwk, RefusesBadEncodingsAndTypes) {
  auto jwk = ec_key().public_jwk("k");
  jwk["x"] = std::string(jwk.at("x").as_string()) + "=";
  EXPECT_FALSE(PublicJwk::from_json(jwk));
  jwk = ec_key().public_jwk("k");
  jwk["x"] = 5;
  EXPECT_FALSE(PublicJwk::from_json(jwk));
  jwk = ec_key().public_jwk("k");
  jwk["kid"] = 7;
  EXPECT_FALSE(PublicJwk::from_json(jwk));
  jwk = ec_key().public_jwk("k");
  jwk["use"] = "enc";
  EXPECT_FALSE(PublicJwk::from_json(jwk));
  EXPECT_FALSE(PublicJwk::from_json(boost::json::object{}));
}

TEST(PublicJwk, VerifyRefusesMalformedSignatures) {
  auto ec = testing::public_key(ec_key(), "k");
  std::string good = ec_key().sign("m");
  EXPECT_TRUE(ec.verify("m", good));
  EXPECT_FALSE(ec.verify("m", good + '\0'));
  EXPECT_FALSE(ec.verify("m", good.substr(0, 63)));
  EXPECT_FALSE(ec.verify("m", std::string(64, '\0')));  // r = s = 0
  EXPECT_FALSE(ec.verify("m", ""));
  auto rsa = testing::public_key(rsa_key(), "k");
  EXPECT_FALSE(rsa.verify("m", std::string(1, '\0') + rsa_key().sign("m")));
  EXPECT_FALSE(rsa.verify("m", ""));
}

TEST(Thumbprint, MatchesRfc7638Example) {
  // RFC 7638 §3.1.
  boost::json::object jwk{
      {"kty", "RSA"},
      {"n",
       "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMst"
       "n64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n"
       "91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
      {"e", "AQAB"},
      {"alg", "RS256"},
      {"kid", "2011-04-29"}};
  EXPECT_EQ(jwk_thumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(Thumbprint, IgnoresOptionalMembersAndDiffersPerKey) {
  EXPECT_EQ(ec_key().thumbprint(), jwk_thumbprint(ec_key().public_jwk("any kid")));
  EXPECT_NE(ec_key().thumbprint(), testing::other_ec_key().thumbprint());
  EXPECT_EQ(ec_key().thumbprint().size(), 43u);
  EXPECT_FALSE(jwk_thumbprint(boost::json::object{{"kty", "oct"}, {"k", "AAAA"}}));
}

std::string jwks_with(std::initializer_list<boost::json::object> keys) {
  boost::json::array array;
  for (const auto& key : keys) array.push_back(key);
  boost::json::object jwks;
  jwks["keys"] = std::move(array);
  return boost::json::serialize(jwks);
}

TEST(Jwks, ParsesSupportedKeysAndSkipsOthers) {
  auto enc = rsa_key().public_jwk("enc");
  enc["use"] = "enc";
  auto p384 = ec_key().public_jwk("p384");
  p384.erase("alg");
  p384["crv"] = "P-384";
  auto weak = rsa_key().public_jwk("weak");
  weak["n"] = util::base64url_encode(decoded(weak, "n").substr(0, 128));
  boost::json::object okp{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
  boost::json::object ps256 = rsa_key().public_jwk("ps");
  ps256["alg"] = "PS256";
  auto keys = parse_jwks(jwks_with({ec_key().public_jwk("a"), enc, p384, weak, okp, ps256, rsa_key().public_jwk("b")}));
  ASSERT_TRUE(keys) << keys.error();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "a");
  EXPECT_EQ((*keys)[0].alg, Algorithm::ES256);
  EXPECT_EQ((*keys)[1].kid, "b");
  EXPECT_EQ((*keys)[1].alg, Algorithm::RS256);
}

TEST(Jwks, ErrorsOnMalformedDocumentsAndBrokenKeys) {
  EXPECT_FALSE(parse_jwks(""));
  EXPECT_FALSE(parse_jwks("{"));
  EXPECT_FALSE(parse_jwks("[]"));
  EXPECT_FALSE(parse_jwks("{}"));
  EXPECT_FALSE(parse_jwks(R"({"keys":{}})"));
  EXPECT_FALSE(parse_jwks(R"({"keys":[1]})"));
  auto with_private = ec_key().public_jwk("a");
  with_private["d"] = "AAAA";
  EXPECT_FALSE(parse_jwks(jwks_with({with_private})));
  auto off_curve = ec_key().public_jwk("a");
  off_curve["x"] = off_curve.at("y");
  EXPECT_FALSE(parse_jwks(jwks_with({off_curve})));
  boost::json::object secret{{"kty", "oct"}, {"k", "c2VjcmV0"}};
  EXPECT_FALSE(parse_jwks(jwks_with({secret})));
  EXPECT_TRUE(parse_jwks(R"({"keys":[]})"));
}

}  // namespace
}  // namespace latchkey::jose
