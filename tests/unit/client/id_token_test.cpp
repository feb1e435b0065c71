#include "client/id_token.h"

#include <gtest/gtest.h>

#include "jose/jws.h"

namespace latchkey::client {
namespace {

constexpr util::Timestamp kNow = 1'800'000'000;

class IdTokenTest : public ::testing::Test {
 protected:
  IdTokenTest() : key_(jose::SigningKeyPair::generate(jose::Algorithm::ES256)) {
    keys_.push_back(*jose::PublicJwk::from_json(key_.public_jwk("k1")));
    claims_ = {{"iss", "https://idp.example"}, {"sub", "user-1"}, {"aud", "cli"},
               {"exp", kNow + 300},           {"iat", kNow},      {"nonce", "n-1"}};
    expected_ = {"https://idp.example", "cli", "n-1", "", kNow, kMaxClockSkew};
  }

  std::string sign() const { return jose::sign_jwt(key_, "k1", "", claims_); }
  Result<IdTokenClaims> check() const { return validate_id_token(sign(), keys_, expected_); }
  void expect_rejected(const std::string& needle) const {
    auto r = check();
    ASSERT_FALSE(r.has_value()) << "accepted, expected: " << needle;
    EXPECT_EQ(r.error().kind, ErrorKind::refused);
    EXPECT_NE(r.error().what.find(needle), std::string::npos) << r.error().what;
  }

  jose::SigningKeyPair key_;
  std::vector<jose::PublicJwk> keys_;
  boost::json::object claims_;
  IdTokenExpectation expected_;
};

TEST_F(IdTokenTest, ValidTokenGivesTheSubject) {
  auto r = check();
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->subject, "user-1");
  EXPECT_EQ(r->expires_at, kNow + 300);
}

TEST_F(IdTokenTest, BadSignature) {
  auto other = jose::SigningKeyPair::generate(jose::Algorithm::ES256);
  std::string forged = jose::sign_jwt(other, "k1", "", claims_);
  auto r = validate_id_token(forged, keys_, expected_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("signature"), std::string::npos);
  // A tampered payload with the original signature fails as well.
  std::string token = sign();
  auto dot1 = token.find('.'), dot2 = token.rfind('.');
  claims_["sub"] = "admin";
  std::string other_payload = jose::sign_jwt(key_, "k1", "", claims_);
  std::string spliced = token.substr(0, dot1) + other_payload.substr(other_payload.find('.'), other_payload.rfind('.') - other_payload.find('.')) + token.substr(dot2);
  EXPECT_FALSE(validate_id_token(spliced, keys_, expected_).has_value());
}

TEST_F(IdTokenTest, WrongIssuer) {
  claims_["iss"] = "https://evil.example";
  expect_rejected("iss");
}

TEST_F(IdTokenTest, WrongAudience) {
  claims_["aud"] = "someone-else";
  expect_rejected("aud");
}

TEST_F(IdTokenTest, SeveralAudiencesNeedOurAzp) {
  claims_["aud"] = boost::json::array{"cli", "api"};
  expect_rejected("azp");
  claims_["azp"] = "api";
  expect_rejected("azp");
  claims_["azp"] = "cli";
  EXPECT_TRUE(check().has_value());
}

TEST_F(IdTokenTest, ExpiredBeyondTheSkew) {
  claims_["exp"] = kNow - kMaxClockSkew - 1;
  expect_rejected("expired");
}

TEST_F(IdTokenTest, ExpiredWithinTheSkewIsAccepted) {
  claims_["exp"] = kNow - kMaxClockSkew + 5;
  EXPECT_TRUE(check().has_value());
}

TEST_F(IdTokenTest, IssuedInTheFuture) {
  claims_["iat"] = kNow + kMaxClockSkew + 60;
  expect_rejected("future");
}

TEST_F(IdTokenTest, WrongNonce) {
  claims_["nonce"] = "n-2";
  expect_rejected("nonce");
}

TEST_F(IdTokenTest, MissingNonceWhenOneWasSent) {
  claims_.erase("nonce");
  expect_rejected("nonce");
}

TEST_F(IdTokenTest, AtHashMustMatchWhenPresent) {
  expected_.access_token = "the-access-token";
  claims_["at_hash"] = jose::at_hash("the-access-token", jose::Algorithm::ES256);
  EXPECT_TRUE(check().has_value());
  claims_["at_hash"] = jose::at_hash("another-token", jose::Algorithm::ES256);
  expect_rejected("at_hash");
}

TEST_F(IdTokenTest, MissingSubject) {
  claims_.erase("sub");
  expect_rejected("sub");
}

}  // namespace
}  // namespace latchkey::client
