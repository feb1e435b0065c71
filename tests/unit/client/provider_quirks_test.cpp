// What other providers do differently (found running against node's oidc-provider, tests/interop):
//  - no expires_in: `auth token` refreshes by the access token's JWT exp, else after an assumed
//    lifetime counted from when the token was obtained;
//  - offline_access only with prompt=consent (OIDC Core §11): `--prompt` is sent and remembered.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "client/client.h"
#include "fakes.h"
#include "jose/jws.h"
#include "util/base64url.h"

namespace latchkey::client {
namespace {

const std::string kIss = "https://idp.example";

std::string unsigned_jwt(const boost::json::object& claims) {
  return util::base64url_encode(R"({"alg":"ES256","typ":"at+jwt"})") + "." +
         util::base64url_encode(boost::json::serialize(claims)) + ".c2ln";
}

TEST(JwtExpiry, ReadsExpFromAJwtAccessToken) {
  EXPECT_EQ(jwt_expiry(unsigned_jwt({{"sub", "alice"}, {"exp", 1900000000}})), 1900000000);
}

TEST(JwtExpiry, NothingForOpaqueOrMalformedTokens) {
  EXPECT_FALSE(jwt_expiry("2YotnFZFEjr1zCsicMWpAA").has_value());
  EXPECT_FALSE(jwt_expiry("a.b").has_value());
  EXPECT_FALSE(jwt_expiry("a.b.c.d.e").has_value());  // JWE: exp is encrypted
  EXPECT_FALSE(jwt_expiry("eyJhbGciOiJub25lIn0.!!!.x").has_value());
  EXPECT_FALSE(jwt_expiry(util::base64url_encode("{}") + "." + util::base64url_encode("[1]") + ".x").has_value());
  EXPECT_FALSE(jwt_expiry(unsigned_jwt({{"sub", "alice"}})).has_value());
  EXPECT_FALSE(jwt_expiry(unsigned_jwt({{"exp", "soon"}})).has_value());
}

StoredTokens tokens(std::string access, util::Timestamp expires_at, util::Timestamp obtained_at, std::string refresh) {
  StoredTokens t;
  t.access_token = std::move(access);
  t.expires_at = expires_at;
  t.obtained_at = obtained_at;
  t.refresh_token = std::move(refresh);
  return t;
}

TEST(NeedsRefresh, ByExpiresAt) {
  EXPECT_FALSE(needs_refresh(tokens("A", 1000 + 61, 900, "R"), 1000, 60));
  EXPECT_TRUE(needs_refresh(tokens("A", 1000 + 60, 900, "R"), 1000, 60));
  EXPECT_TRUE(needs_refresh(tokens("", 1000 + 3600, 900, "R"), 1000, 60));
}

TEST(NeedsRefresh, ByTheJwtExpWhenExpiresAtIsUnknown) {
  auto jwt = [](util::Timestamp exp) { return unsigned_jwt({{"exp", exp}}); };
  EXPECT_FALSE(needs_refresh(tokens(jwt(1000 + 3000), 0, 0, "R"), 1000, 60));
  EXPECT_TRUE(needs_refresh(tokens(jwt(1000 + 30), 0, 999, "R"), 1000, 60));
}

TEST(NeedsRefresh, UnknownLifetimeCountsFromObtainedAt) {
  util::Timestamp obtained = 1000;
  EXPECT_FALSE(needs_refresh(tokens("opaque", 0, obtained, "R"), obtained + 100, 60));
  EXPECT_TRUE(needs_refresh(tokens("opaque", 0, obtained, "R"), obtained + kAssumedAccessTokenLifetime - 60, 60));
  EXPECT_TRUE(needs_refresh(tokens("opaque", 0, obtained, "R"), obtained + 10, 100000));  // --min-valid forces it
  EXPECT_TRUE(needs_refresh(tokens("opaque", 0, 0, "R"), obtained, 60));  // never knew when: refresh
}

TEST(NeedsRefresh, UnknownLifetimeWithoutARefreshTokenIsHandedOut) {
  EXPECT_FALSE(needs_refresh(tokens("opaque", 0, 1000, ""), 1000 + 86400, 60));
}

class ExpiryFlow : public ::testing::Test {
 protected:
  ExpiryFlow() : store_(tmp_.path()) {
    profile_.issuer = kIss;
    profile_.client_id = "cli";
    profile_.scope = "offline_access";
    http_.on("GET", kIss + "/.well-known/openid-configuration", 200,
             R"({"issuer":")" + kIss + R"(","token_endpoint":")" + kIss + R"(/token","device_authorization_endpoint":")" +
                 kIss + R"(/device"})");
    http_.on("POST", kIss + "/device", 200,
             R"({"device_code":"DC","user_code":"U","verification_uri":"https://idp.example/d","expires_in":600,"interval":1})");
  }

  Client client() {
    return Client({http_, store_, clock_, random_, messages_, [this](std::chrono::seconds s) { clock_.advance(s.count()); }});
  }

  Result<StoredTokens> device_login() {
    LoginOptions options;
    options.device = true;
    return client().login(profile_, options);
  }

  testing::TempDir tmp_;
  TokenStore store_;
  testing::FakeHttp http_;
  util::FakeClock clock_;
  testing::CountingRandom random_;
  std::ostringstream messages_;
  Profile profile_;
};

TEST_F(ExpiryFlow, WithoutExpiresInTheJwtExpIsStoredAndDrivesTheRefresh) {
  std::string access = unsigned_jwt({{"sub", "alice"}, {"exp", clock_.now() + 1 + 900}});  // +1: the poll's wait
  http_.on("POST", kIss + "/token", 200,
           R"({"access_token":")" + access + R"(","token_type":"Bearer","refresh_token":"R1"})");
  http_.on("POST", kIss + "/token", 200, R"({"access_token":"A2","token_type":"Bearer","expires_in":600})");  // the refresh
  auto login = device_login();
  ASSERT_TRUE(login.has_value()) << login.error().message();
  EXPECT_EQ(login->expires_at, clock_.now() + 900);

  clock_.advance(800);
  auto early = client().valid_tokens(profile_, 60);
  ASSERT_TRUE(early.has_value()) << early.error().message();
  EXPECT_EQ(early->access_token, access);
  clock_.advance(50);  // 50 s left: within the 60 s margin
  auto late = client().valid_tokens(profile_, 60);
  ASSERT_TRUE(late.has_value()) << late.error().message();
  EXPECT_EQ(late->access_token, "A2");
}

TEST_F(ExpiryFlow, AnOpaqueTokenWithoutExpiresInIsRefreshedAfterTheAssumedLifetime) {
  http_.on("POST", kIss + "/token", 200, R"({"access_token":"opaque-1","token_type":"Bearer","refresh_token":"R1"})");
  http_.on("POST", kIss + "/token", 200, R"({"access_token":"opaque-2","token_type":"Bearer"})");  // the refresh
  auto login = device_login();
  ASSERT_TRUE(login.has_value()) << login.error().message();
  EXPECT_EQ(login->expires_at, 0);

  clock_.advance(kAssumedAccessTokenLifetime - 61);
  EXPECT_EQ(client().valid_tokens(profile_, 60)->access_token, "opaque-1");
  clock_.advance(1);
  EXPECT_EQ(client().valid_tokens(profile_, 60)->access_token, "opaque-2");
  EXPECT_EQ((*store_.load_tokens("default"))->refresh_token, "R1");
}

TEST(Prompt, IsSentOnlyWhenSet) {
  AuthorizationRequest r;
  r.authorization_endpoint = kIss + "/auth";
  r.client_id = "cli";
  r.redirect_uri = "http://127.0.0.1:1234/callback";
  r.state = "s";
  r.code_challenge = "c";
  EXPECT_EQ(build_authorization_url(r).find("prompt="), std::string::npos);
  r.prompt = "login consent";
  EXPECT_NE(build_authorization_url(r).find("&prompt=login%20consent"), std::string::npos) << build_authorization_url(r);
}

TEST(Prompt, IsRememberedInTheProfile) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  Profile p;
  p.name = "work";
  p.issuer = kIss;
  p.client_id = "cli";
  p.prompt = "consent";
  ASSERT_TRUE(store.save_profile(p).has_value());
  auto loaded = store.load_profile("work");
  ASSERT_TRUE(loaded.has_value() && loaded->has_value());
  EXPECT_EQ((*loaded)->prompt, "consent");
}

TEST_F(ExpiryFlow, NoRefreshTokenBecauseOfflineAccessWasDroppedSuggestsPromptConsent) {
  StoredTokens t;
  t.access_token = "A";
  t.expires_at = clock_.now() + 10;
  t.scope = "openid";  // asked for offline_access, was granted less
  ASSERT_TRUE(store_.save_tokens("default", t).has_value());
  auto r = client().valid_tokens(profile_, 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::login_required);
  EXPECT_NE(r.error().todo.find("--prompt consent"), std::string::npos) << r.error().todo;
}

}  // namespace
}  // namespace latchkey::client
