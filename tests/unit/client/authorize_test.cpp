#include "client/authorize.h"

#include <gtest/gtest.h>

#include "fakes.h"
#include "util/form.h"

namespace latchkey::client {
namespace {

TEST(Pkce, S256MatchesRfc7636AppendixB) {
  EXPECT_EQ(Pkce::s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(Pkce, GeneratedVerifierIs43UnreservedCharactersAndFresh) {
  testing::CountingRandom random;
  Pkce a = Pkce::generate(random), b = Pkce::generate(random);
  EXPECT_EQ(a.verifier.size(), 43u);  // RFC 7636 §4.1: 43..128
  EXPECT_EQ(a.verifier.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"),
            std::string::npos);
  EXPECT_NE(a.verifier, b.verifier);
  EXPECT_EQ(a.challenge, Pkce::s256(a.verifier));
}

AuthorizationRequest sample() {
  AuthorizationRequest r;
  r.authorization_endpoint = "https://idp.example/authorize";
  r.client_id = "cli app";
  r.redirect_uri = "http://127.0.0.1:4711/callback";
  r.scope = "openid offline_access";
  r.state = "st&te";
  r.nonce = "n0nce";
  r.code_challenge = "chal";
  return r;
}

util::Params query_of(const std::string& url) {
  auto q = url.find('?');
  auto parsed = util::parse_form(url.substr(q + 1));
  EXPECT_TRUE(parsed.has_value());
  return *parsed;
}

TEST(AuthorizationUrl, CarriesEveryParameterEncoded) {
  std::string url = build_authorization_url(sample());
  EXPECT_TRUE(url.starts_with("https://idp.example/authorize?"));
  auto q = query_of(url);
  EXPECT_EQ(q.get_or("response_type"), "code");
  EXPECT_EQ(q.get_or("client_id"), "cli app");
  EXPECT_EQ(q.get_or("redirect_uri"), "http://127.0.0.1:4711/callback");
  EXPECT_EQ(q.get_or("scope"), "openid offline_access");
  EXPECT_EQ(q.get_or("state"), "st&te");
  EXPECT_EQ(q.get_or("nonce"), "n0nce");
  EXPECT_EQ(q.get_or("code_challenge"), "chal");
  EXPECT_EQ(q.get_or("code_challenge_method"), "S256");
  EXPECT_FALSE(q.has("audience"));
  EXPECT_EQ(q.first_duplicate(), std::nullopt);
}

TEST(AuthorizationUrl, KeepsAnExistingQueryAndDropsAFragment) {
  auto r = sample();
  r.authorization_endpoint = "https://idp.example/oauth2/v2.0/authorize?p=b2c_1_signin#frag";
  r.audience = "api://x";
  std::string url = build_authorization_url(r);
  EXPECT_TRUE(url.starts_with("https://idp.example/oauth2/v2.0/authorize?p=b2c_1_signin&response_type=code"));
  EXPECT_EQ(url.find('#'), std::string::npos);
  EXPECT_EQ(query_of(url).get_or("audience"), "api://x");
}

TEST(AuthorizationUrl, NoNonceWhenNotAsked) {
  auto r = sample();
  r.nonce.clear();
  EXPECT_FALSE(query_of(build_authorization_url(r)).has("nonce"));
}

const CallbackExpectation kExpect{"the-state", "https://idp.example", false};

TEST(Callback, ReturnsTheCode) {
  auto code = parse_callback("code=abc&state=the-state&iss=https%3A%2F%2Fidp.example", kExpect);
  ASSERT_TRUE(code.has_value()) << code.error().message();
  EXPECT_EQ(*code, "abc");
}

TEST(Callback, ErrorRedirectEndsWithTheProvidersMessage) {
  auto r = parse_callback("error=access_denied&error_description=User+said+no&state=the-state", kExpect);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::refused);
  EXPECT_NE(r.error().what.find("access_denied"), std::string::npos);
  EXPECT_NE(r.error().what.find("User said no"), std::string::npos);
  EXPECT_FALSE(r.error().todo.empty());
}

TEST(Callback, MissingCodeIsRefused) {
  auto r = parse_callback("state=the-state", kExpect);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("neither a code"), std::string::npos);
}

TEST(Callback, WrongStateIsRefusedEvenOnErrors) {
  auto wrong = parse_callback("code=abc&state=other", kExpect);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().what.find("state"), std::string::npos);
  auto missing = parse_callback("code=abc", kExpect);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().what.find("no state"), std::string::npos);
  // An error response with a foreign state must not be trusted either (it could be injected).
  auto error = parse_callback("error=access_denied&state=other", kExpect);
  ASSERT_FALSE(error.has_value());
  EXPECT_NE(error.error().what.find("state"), std::string::npos);
}

TEST(Callback, WrongIssuerIsAMixUp) {
  auto r = parse_callback("code=abc&state=the-state&iss=https%3A%2F%2Fevil.example", kExpect);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("RFC 9207"), std::string::npos);
}

TEST(Callback, MissingIssuerRefusedOnlyWhenTheProviderAnnouncesIt) {
  EXPECT_TRUE(parse_callback("code=abc&state=the-state", kExpect).has_value());
  auto strict = kExpect;
  strict.iss_required = true;
  auto r = parse_callback("code=abc&state=the-state", strict);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("no iss"), std::string::npos);
}

TEST(Callback, RepeatedParameterIsRefused) {
  EXPECT_FALSE(parse_callback("code=a&code=b&state=the-state", kExpect).has_value());
}

}  // namespace
}  // namespace latchkey::client
