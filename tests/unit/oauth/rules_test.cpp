// Small protocol rules: PKCE (RFC 7636), redirect URI matching (RFC 8252 §7.3), scope syntax.
#include <gtest/gtest.h>

#include "oauth/authorization_request.h"
#include "oauth/scopes.h"
#include "oauth/pkce.h"
#include "oauth/redirect_uri.h"

namespace latchkey::oauth {
namespace {

TEST(Pkce, Rfc7636AppendixBVector) {
  EXPECT_TRUE(verify_code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                                   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256"));
  EXPECT_FALSE(verify_code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
                                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256"));
}

TEST(Pkce, VerifierSyntax) {
  EXPECT_FALSE(is_valid_code_verifier(std::string(42, 'a')));
  EXPECT_TRUE(is_valid_code_verifier(std::string(43, 'a')));
  EXPECT_TRUE(is_valid_code_verifier(std::string(128, '~')));
  EXPECT_FALSE(is_valid_code_verifier(std::string(129, 'a')));
  EXPECT_FALSE(is_valid_code_verifier(std::string(42, 'a') + "+"));
  EXPECT_FALSE(verify_code_verifier("short", "short", "plain"));
}

TEST(Pkce, ChallengeSyntax) {
  EXPECT_TRUE(is_valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256"));
  EXPECT_FALSE(is_valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", "S256"));
  EXPECT_FALSE(is_valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=", "S256"));
  EXPECT_FALSE(is_valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S384"));
}

TEST(RedirectUri, ExactMatchOutsideLoopback) {
  EXPECT_TRUE(redirect_uri_matches("https://a.example/cb", "https://a.example/cb"));
  EXPECT_FALSE(redirect_uri_matches("https://a.example/cb", "https://a.example/cb/"));
  EXPECT_FALSE(redirect_uri_matches("https://a.example/cb", "https://a.example:443/cb"));
  EXPECT_FALSE(redirect_uri_matches("https://a.example/cb", "https://a.example/CB"));
  EXPECT_FALSE(redirect_uri_matches("https://a.example/cb", "https://a.example/cb#x"));
  EXPECT_FALSE(redirect_uri_matches("com.example.app:/cb", "com.example.app:/cb2"));
  EXPECT_TRUE(redirect_uri_matches("com.example.app:/cb", "com.example.app:/cb"));
}

TEST(RedirectUri, LoopbackAnyPort) {
  EXPECT_TRUE(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:49152/cb"));
  EXPECT_TRUE(redirect_uri_matches("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb"));
  EXPECT_TRUE(redirect_uri_matches("http://[::1]/cb", "http://[::1]:49152/cb"));
  EXPECT_TRUE(redirect_uri_matches("http://localhost/cb", "http://localhost:3000/cb"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:49152/cb2"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.2:49152/cb"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb", "http://[::1]:49152/cb"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb", "http://user@127.0.0.1:1/cb"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:1/cb#frag"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb?a=1", "http://127.0.0.1:1/cb?a=2"));
  EXPECT_FALSE(redirect_uri_matches("https://example.com/cb", "https://example.com:8443/cb"));
  EXPECT_FALSE(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:/cb"));
}

TEST(Scope, TokenSyntax) {
  EXPECT_TRUE(is_valid_scope_token("openid"));
  EXPECT_TRUE(is_valid_scope_token("https://api.example.com/read"));
  EXPECT_FALSE(is_valid_scope_token(""));
  EXPECT_FALSE(is_valid_scope_token("a\"b"));
  EXPECT_FALSE(is_valid_scope_token("a\\b"));
  EXPECT_FALSE(is_valid_scope_token("caf\xc3\xa9"));
}

TEST(AuthorizationRequest, JsonRoundTrip) {
  AuthorizationRequest r;
  r.client_id = "c";
  r.redirect_uri = "https://x/cb";
  r.redirect_uri_in_request = false;
  r.scopes = {"openid", "email"};
  r.audiences = {"https://api"};
  r.state = "s";
  r.nonce = "n";
  r.code_challenge = "ch";
  r.code_challenge_method = "S256";
  r.prompt = {"login"};
  r.max_age = 30;
  auto back = AuthorizationRequest::from_json(r.to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json(), r.to_json());
  EXPECT_FALSE(AuthorizationRequest::from_json("not json"));
  EXPECT_FALSE(AuthorizationRequest::from_json("{}"));
}

}  // namespace
}  // namespace latchkey::oauth
