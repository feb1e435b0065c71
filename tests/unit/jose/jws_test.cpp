#include "jose/jws.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>

#include "test_keys.h"
#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::jose {
namespace {

using testing::ec_key;
using testing::other_ec_key;
using testing::public_key;
using testing::rsa_key;

constexpr std::array<Algorithm, 2> kBoth{Algorithm::ES256, Algorithm::RS256};

std::vector<PublicJwk> both_keys() { return {public_key(ec_key(), "ec"), public_key(rsa_key(), "rsa")}; }

boost::json::object claims() { return {{"iss", "https://issuer.example"}, {"sub", "alice"}, {"exp", 1700000000}}; }

// A token with exactly the given header and payload text, signed by `key`.
std::string signed_token(const SigningKeyPair& key, std::string_view header_json, std::string_view payload_json) {
  std::string input = util::base64url_encode(header_json) + "." + util::base64url_encode(payload_json);
  return input + "." + util::base64url_encode(key.sign(input));
}

std::string b64(std::string_view s) { return util::base64url_encode(s); }
std::string_view text(const boost::json::value& v) { return v.as_string(); }

class RoundTrip : public ::testing::TestWithParam<Algorithm> {
 protected:
  const SigningKeyPair& key() const { return GetParam() == Algorithm::ES256 ? ec_key() : rsa_key(); }
  std::string kid() const { return GetParam() == Algorithm::ES256 ? "ec" : "rsa"; }
};

TEST_P(RoundTrip, SignedTokenVerifies) {
  std::string token = sign_jwt(key(), kid(), "at+jwt", claims());
  auto verified = verify_jwt(token, both_keys(), kBoth);
  ASSERT_TRUE(verified) << verified.error();
  EXPECT_EQ(verified->claims, claims());
  EXPECT_EQ(text(verified->header.at("alg")), to_string(GetParam()));
  EXPECT_EQ(text(verified->header.at("typ")), "at+jwt");
  EXPECT_EQ(text(verified->header.at("kid")), kid());
}

TEST_P(RoundTrip, TamperedPayloadFails) {
  std::string token = sign_jwt(key(), kid(), "", claims());
  auto parts_end = token.find('.', token.find('.') + 1);
  auto forged_claims = claims();
  forged_claims["sub"] = "mallory";
  std::string forged = token.substr(0, token.find('.') + 1) + b64(boost::json::serialize(forged_claims)) +
                       token.substr(parts_end);
  EXPECT_TRUE(verify_jwt(token, both_keys(), kBoth));
  EXPECT_FALSE(verify_jwt(forged, both_keys(), kBoth));
}

TEST_P(RoundTrip, TamperedSignatureFails) {
  std::string token = sign_jwt(key(), kid(), "", claims());
  std::size_t middle = token.rfind('.') + 10;
  token[middle] = token[middle] == 'A' ? 'B' : 'A';
  auto result = verify_jwt(token, both_keys(), kBoth);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), "signature is invalid");
}

TEST_P(RoundTrip, SignatureOfAnotherKeyWithTheSameKidFails) {
  std::string token = sign_jwt(other_ec_key(), kid(), "", claims());
  EXPECT_FALSE(verify_jwt(token, both_keys(), kBoth));
}

INSTANTIATE_TEST_SUITE_P(Jws, RoundTrip, ::testing::Values(Algorithm::ES256, Algorithm::RS256),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(SignJwt, HeaderHasAlgTypKidOnly) {
  std::string token = sign_jwt(ec_key(), "k1", "at+jwt", claims());
  auto header = util::base64url_decode(token.substr(0, token.find('.')));
  ASSERT_TRUE(header);
  EXPECT_EQ(*header, R"({"alg":"ES256","typ":"at+jwt","kid":"k1"})");
  std::string no_typ = sign_jwt(ec_key(), "k1", "", claims());
  EXPECT_EQ(*util::base64url_decode(no_typ.substr(0, no_typ.find('.'))), R"({"alg":"ES256","kid":"k1"})");
}

TEST(SignJwt, Es256SignaturePartIs64Bytes) {
  std::string token = sign_jwt(ec_key(), "ec", "", claims());
  auto signature = util::base64url_decode(token.substr(token.rfind('.') + 1));
  ASSERT_TRUE(signature);
  EXPECT_EQ(signature->size(), 64u);
}

TEST(VerifyJwt, AlgNoneIsRejected) {
  std::string payload = b64(boost::json::serialize(claims()));
  for (auto header : {R"({"alg":"none"})", R"({"alg":"none","kid":"ec"})", R"({"alg":"None","kid":"ec"})"}) {
    EXPECT_FALSE(verify_jwt(b64(header) + "." + payload + ".", both_keys(), kBoth)) << header;
  }
}

TEST(VerifyJwt, HmacWithThePublicKeyAsSecretIsRejected) {
  // The classic confusion attack: HS256 keyed with the verifier's public key material.
  for (const auto* key : {&ec_key(), &rsa_key()}) {
    std::string public_bytes = boost::json::serialize(key->public_jwk("k"));
    std::string input = b64(R"({"alg":"HS256","kid":"k"})") + "." + b64(boost::json::serialize(claims()));
    std::string token = input + "." + b64(util::hmac_sha256(public_bytes, input));
    auto result = verify_jwt(token, {public_key(*key, "k")}, kBoth);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().find("not allowed"), std::string::npos) << result.error();
  }
}

TEST(VerifyJwt, HeaderAlgMustFitTheKeyOfTheKid) {
  // RS256 header naming the EC key: refused before any signature check.
  std::string rs_on_ec = signed_token(rsa_key(), R"({"alg":"RS256","kid":"ec"})", boost::json::serialize(claims()));
  auto result = verify_jwt(rs_on_ec, both_keys(), kBoth);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().find("not for alg"), std::string::npos) << result.error();
  std::string es_on_rsa = signed_token(ec_key(), R"({"alg":"ES256","kid":"rsa"})", boost::json::serialize(claims()));
  EXPECT_FALSE(verify_jwt(es_on_rsa, both_keys(), kBoth));
}

TEST(VerifyJwt, AlgMustBeInTheAllowlist) {
  std::string token = sign_jwt(ec_key(), "ec", "", claims());
  std::array<Algorithm, 1> rsa_only{Algorithm::RS256};
  EXPECT_FALSE(verify_jwt(token, both_keys(), rsa_only));
  EXPECT_FALSE(verify_jwt(token, both_keys(), {}));
}

TEST(VerifyJwt, UnknownKidIsRejected) {
  std::string token = sign_jwt(ec_key(), "nobody", "", claims());
  auto result = verify_jwt(token, both_keys(), kBoth);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), "unknown kid");
  EXPECT_FALSE(verify_jwt(signed_token(ec_key(), R"({"alg":"ES256","kid":7})", "{}"), both_keys(), kBoth));
}

TEST(VerifyJwt, WithoutKidOnlyASingleKeyOfTheAlgIsUsed) {
  std::string token = sign_jwt(ec_key(), "", "", claims());
  EXPECT_TRUE(verify_jwt(token, both_keys(), kBoth));
  std::vector<PublicJwk> two_ec{public_key(ec_key(), "a"), public_key(other_ec_key(), "b")};
  EXPECT_FALSE(verify_jwt(token, two_ec, kBoth));
  EXPECT_FALSE(verify_jwt(token, {public_key(rsa_key(), "r")}, kBoth));
}

TEST(VerifyJwt, CritHeaderIsRejected) {
  std::string token =
      signed_token(ec_key(), R"({"alg":"ES256","kid":"ec","crit":["exp"],"exp":1})", boost::json::serialize(claims()));
  auto result = verify_jwt(token, both_keys(), kBoth);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().find("crit"), std::string::npos);
}

TEST(VerifyJwt, PayloadMustBeAJsonObject) {
  const std::string header = R"({"alg":"ES256","kid":"ec"})";
  EXPECT_TRUE(verify_jwt(signed_token(ec_key(), header, "{}"), both_keys(), kBoth));
  for (auto payload : {"[1]", "\"text\"", "42", "{", "", "{\"a\":\"\xff\"}"}) {
    EXPECT_FALSE(verify_jwt(signed_token(ec_key(), header, payload), both_keys(), kBoth)) << payload;
  }
}

TEST(VerifyJwt, HeaderMustBeAJsonObjectWithStringAlg) {
  for (auto header : {"[]", "{", "", R"({"kid":"ec"})", R"({"alg":1,"kid":"ec"})", "{\"alg\":\"ES256\"} x"}) {
    EXPECT_FALSE(verify_jwt(signed_token(ec_key(), header, "{}"), both_keys(), kBoth)) << header;
  }
}

TEST(VerifyJwt, MalformedCompactSerializationsAreRejected) {
  std::string token = sign_jwt(ec_key(), "ec", "", claims());
  ASSERT_TRUE(verify_jwt(token, both_keys(), kBoth));
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = token.rfind('.');
  std::vector<std::string> bad{
      "",
      ".",
      "..",
      token.substr(0, dot2),                               // two parts
      token + ".",                                         // four parts
      token + "." + token.substr(dot2 + 1),                // four parts
      token.substr(0, dot1) + "=" + token.substr(dot1),    // padding in the header
      token + "=",                                         // padding in the signature
      token.substr(0, dot2 + 1) + "+" + token.substr(dot2 + 2),  // standard-alphabet character
      " " + token,
      token + "\n",
  };
  for (const auto& t : bad) EXPECT_FALSE(verify_jwt(t, both_keys(), kBoth)) << t;
}

TEST(VerifyJwt, OversizedTokensAreRejected) {
  auto big = claims();
  big["filler"] = std::string(kMaxTokenSize, 'x');
  std::string token = sign_jwt(ec_key(), "ec", "", big);
  auto result = verify_jwt(token, both_keys(), kBoth);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), "token is too large");
}

TEST(VerifyJwt, Es256SignatureOfWrongLengthIsRejected) {
  std::string token = sign_jwt(ec_key(), "ec", "", claims());
  std::size_t dot2 = token.rfind('.');
  std::string signature = *util::base64url_decode(token.substr(dot2 + 1));
  EXPECT_FALSE(verify_jwt(token.substr(0, dot2 + 1) + b64(std::string(1, '\0') + signature), both_keys(), kBoth));
  EXPECT_FALSE(verify_jwt(token.substr(0, dot2 + 1) + b64(signature.substr(0, 63)), both_keys(), kBoth));
}

TEST(AtHash, MatchesIndependentComputation) {
  // python3: base64url(sha256(b"jHkWEdUXMU1BwAsC4vtUsZwnNWSxPhRnRd3j6ScabPg").digest()[:16]), unpadded.
  EXPECT_EQ(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNWSxPhRnRd3j6ScabPg", Algorithm::ES256), "i0RD78NxSUXHv9FpznYj-w");
  EXPECT_EQ(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNWSxPhRnRd3j6ScabPg", Algorithm::RS256), "i0RD78NxSUXHv9FpznYj-w");
  EXPECT_EQ(at_hash("other", Algorithm::ES256).size(), 22u);
}

}  // namespace
}  // namespace latchkey::jose
