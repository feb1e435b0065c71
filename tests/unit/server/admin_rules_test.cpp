#include "server/admin_rules.h"

#include <gtest/gtest.h>

namespace latchkey::server {
namespace {

TEST(RedirectUriRuleTest, Accepted) {
  for (const char* uri : {"https://app.example/cb", "https://app.example:8443/cb?x=1", "http://127.0.0.1/callback",
                          "http://127.0.0.1:9000/callback", "http://[::1]/callback", "http://localhost:3000/cb",
                          "com.example.app:/oauth2redirect", "com.example.app:/cb"})
    EXPECT_FALSE(check_redirect_uri(uri)) << uri;
}

TEST(RedirectUriRuleTest, Refused) {
  struct Case {
    const char* uri;
    const char* reason;
  };
  const Case cases[] = {
      {"https://app.example/cb#frag", "fragment"},          // RFC 6749 §3.1.2
      {"/relative/cb", "not an absolute URI"},
      {"app.example/cb", "not an absolute URI"},
      {"http://app.example/cb", "not loopback"},            // RFC 8252 §7.3 only for loopback
      {"http://192.168.1.2/cb", "not loopback"},
      {"javascript:alert(1)", "reverse-domain"},
      {"data:text/html,hi", "reverse-domain"},
      {"myapp:/cb", "reverse-domain"},                      // RFC 8252 §7.1 wants a domain name
      {"", "not an absolute URI"},
  };
  for (const auto& c : cases) {
    auto problem = check_redirect_uri(c.uri);
    ASSERT_TRUE(problem) << c.uri;
    EXPECT_NE(problem->what.find(c.reason), std::string::npos) << c.uri << ": " << problem->what;
    EXPECT_FALSE(problem->what_to_do.empty());
  }
}

TEST(ClientSecretRuleTest, MinimumLengthSaysWhy) {
  EXPECT_FALSE(check_client_secret(std::string(32, 'x')));
  auto problem = check_client_secret(std::string(31, 'x'));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->what.find("at least 32"), std::string::npos) << problem->what;
  EXPECT_NE(problem->what.find("SHA-256"), std::string::npos) << problem->what;
  EXPECT_TRUE(check_client_secret(""));
}

TEST(ClientIdRuleTest, PrintableAscii) {
  EXPECT_FALSE(check_client_id("latchkey-cli"));
  EXPECT_FALSE(check_client_id("urn:example:client/1"));
  EXPECT_TRUE(check_client_id(""));
  EXPECT_TRUE(check_client_id("has space"));
  EXPECT_TRUE(check_client_id("tab\there"));
  EXPECT_TRUE(check_client_id("caf\xc3\xa9"));
  EXPECT_TRUE(check_client_id(std::string(256, 'a')));
}

TEST(ScopeRuleTest, Rfc6749Characters) {
  EXPECT_FALSE(check_scopes(kDefaultClientScopes));
  EXPECT_FALSE(check_scopes({"read:all", "https://api.example/x"}));
  EXPECT_TRUE(check_scopes({}));
  EXPECT_TRUE(check_scopes({"say\"hi"}));
  EXPECT_TRUE(check_scopes({"back\\slash"}));
}

TEST(GrantTypeRuleTest, KnownOnly) {
  EXPECT_FALSE(check_grant_type("authorization_code"));
  EXPECT_FALSE(check_grant_type("refresh_token"));
  EXPECT_TRUE(check_grant_type("implicit"));
  EXPECT_TRUE(check_grant_type("password"));
}

TEST(UserRuleTest, UsernameAndPassword) {
  EXPECT_FALSE(check_username("alice"));
  EXPECT_FALSE(check_username("alice@example.com"));
  EXPECT_TRUE(check_username(""));
  EXPECT_TRUE(check_username("al ice"));
  EXPECT_TRUE(check_username("bad\xff"));
  EXPECT_FALSE(check_password("correct horse"));
  EXPECT_TRUE(check_password("short"));
}

}  // namespace
}  // namespace latchkey::server
