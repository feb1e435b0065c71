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
  // The refused value is quoted escaped: the CLI's error stays one line.
  auto control = check_client_id("ab\ncd");
  ASSERT_TRUE(control);
  EXPECT_NE(control->what.find("\"ab\\ncd\""), std::string::npos) << control->what;
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

TEST(WebOriginRuleTest, NormalizedLikeTheBrowserSendsIt) {
  EXPECT_EQ(normalize_web_origin_flag("https://App.Example:443").value_or(""), "https://app.example");
  EXPECT_EQ(normalize_web_origin_flag("http://127.0.0.1:8000").value_or(""), "http://127.0.0.1:8000");
  auto path = normalize_web_origin_flag("https://app.example/spa");
  ASSERT_FALSE(path);
  EXPECT_NE(path.error().what.find("path"), std::string::npos);
  EXPECT_NE(path.error().what_to_do.find("--web-origin"), std::string::npos);
  EXPECT_FALSE(normalize_web_origin_flag("http://app.example"));  // plain http only on loopback
  EXPECT_FALSE(normalize_web_origin_flag("*"));
}

TEST(AllowedClaimRuleTest, OnlyRolesAndGroups) {
  EXPECT_FALSE(check_allowed_claim("roles"));
  EXPECT_FALSE(check_allowed_claim("groups"));
  for (const char* bad : {"email", "Roles", "entitlements", ""}) {
    auto problem = check_allowed_claim(bad);
    ASSERT_TRUE(problem) << bad;
    EXPECT_NE(problem->what_to_do.find("--allow-claim roles"), std::string::npos);
  }
}

TEST(AllowedClaimRuleTest, TheDefaultScopesCarryNoClaimScopes) {
  for (const auto& s : kDefaultClientScopes) {
    EXPECT_NE(s, "roles");
    EXPECT_NE(s, "groups");
  }
}

TEST(AllowedClaimRuleTest, AnAllowedClaimMakesItsScopeRequestable) {
  auto scopes = scopes_with_claims(kDefaultClientScopes, {"roles"});
  ASSERT_TRUE(scopes);
  auto expected = kDefaultClientScopes;
  expected.push_back("roles");
  EXPECT_EQ(*scopes, expected);
  // Listed and allowed: kept once.
  auto both = scopes_with_claims({"openid", "groups"}, {"groups"});
  ASSERT_TRUE(both);
  EXPECT_EQ(*both, (std::vector<std::string>{"openid", "groups"}));
  EXPECT_EQ(*scopes_with_claims({"openid"}, {}), std::vector<std::string>{"openid"});
}

TEST(AllowedClaimRuleTest, AClaimScopeWithoutTheAllowanceIsRefused) {
  auto refused = scopes_with_claims({"openid", "roles"}, {"groups"});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().what.find("not allowed the roles claim"), std::string::npos);
  EXPECT_NE(refused.error().what_to_do.find("--allow-claim roles"), std::string::npos);
}

TEST(RoleRuleTest, NamesArePlainText) {
  for (const char* ok : {"admin", "/engineering/backend", "team a", "ünïcødé"})
    EXPECT_FALSE(check_role_or_group("role", ok)) << ok;
  for (const char* bad : {"", " admin", "admin ", "line\nbreak", "tab\there", "\xff\xfe"})
    EXPECT_TRUE(check_role_or_group("group", bad)) << bad;
  EXPECT_TRUE(check_role_or_group("role", std::string(256, 'r')));
  EXPECT_NE(check_role_or_group("group", "")->what_to_do.find("--group"), std::string::npos);
}

}  // namespace
}  // namespace latchkey::server
