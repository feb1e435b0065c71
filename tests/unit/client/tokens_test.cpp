#include "client/tokens.h"

#include <gtest/gtest.h>

#include "fakes.h"
#include "util/base64url.h"
#include "util/form.h"

namespace latchkey::client {
namespace {

ProviderMetadata meta() {
  ProviderMetadata m;
  m.issuer = "https://idp.example";
  m.token_endpoint = "https://idp.example/token";
  m.device_authorization_endpoint = "https://idp.example/device";
  m.revocation_endpoint = "https://idp.example/revoke";
  return m;
}

util::Params body_of(const HttpRequest& r) { return *util::parse_form(r.body); }

TEST(TokenResponse, Success) {
  auto t = parse_token_response({200, {}, R"({"access_token":"a","token_type":"bearer","expires_in":60,"refresh_token":"r"})"}, "x");
  ASSERT_TRUE(t.has_value()) << t.error().message();
  EXPECT_EQ(t->access_token, "a");
  EXPECT_EQ(t->expires_in, 60);
  EXPECT_EQ(t->refresh_token, "r");
}

TEST(TokenResponse, RefusesMissingAccessTokenAndNonBearer) {
  EXPECT_FALSE(parse_token_response({200, {}, R"({"token_type":"Bearer"})"}, "x").has_value());
  EXPECT_FALSE(parse_token_response({200, {}, R"({"access_token":"a","token_type":"mac"})"}, "x").has_value());
  EXPECT_FALSE(parse_token_response({200, {}, "<html>"}, "x").has_value());
}

TEST(TokenResponse, ErrorsMapToKinds) {
  auto grant = parse_token_response({400, {}, R"({"error":"invalid_grant","error_description":"expired"})"}, "refreshing");
  ASSERT_FALSE(grant.has_value());
  EXPECT_EQ(grant.error().kind, ErrorKind::login_required);
  EXPECT_NE(grant.error().what.find("expired"), std::string::npos);
  auto client = parse_token_response({401, {}, R"({"error":"invalid_client"})"}, "x");
  EXPECT_EQ(client.error().kind, ErrorKind::refused);
  auto down = parse_token_response({503, {}, "busy"}, "x");
  EXPECT_EQ(down.error().kind, ErrorKind::network);
}

TEST(ClientAuthentication, PublicClientSendsClientIdOnly) {
  testing::FakeHttp http;
  http.on("POST", "https://idp.example/token", 200, R"({"access_token":"a","token_type":"Bearer"})");
  ASSERT_TRUE(exchange_code(http, meta(), {"cli", ""}, "C", "http://127.0.0.1:1/callback", "V").has_value());
  const auto& req = http.requests.at(0);
  auto body = body_of(req);
  EXPECT_EQ(body.get_or("grant_type"), "authorization_code");
  EXPECT_EQ(body.get_or("client_id"), "cli");
  EXPECT_EQ(body.get_or("code_verifier"), "V");
  EXPECT_EQ(body.get_or("redirect_uri"), "http://127.0.0.1:1/callback");
  for (const auto& [k, v] : req.headers) EXPECT_NE(k, "Authorization");
}

TEST(ClientAuthentication, SecretGoesInBasicWithFormEncoding) {
  testing::FakeHttp http;
  http.on("POST", "https://idp.example/token", 200, R"({"access_token":"a","token_type":"Bearer"})");
  ASSERT_TRUE(refresh_tokens(http, meta(), {"my client", "p@ss:word"}, "R").has_value());
  const auto& req = http.requests.at(0);
  std::string auth;
  for (const auto& [k, v] : req.headers)
    if (k == "Authorization") auth = v;
  // RFC 6749 §2.3.1: form-encode id and secret, then base64 "id:secret".
  EXPECT_EQ(auth, "Basic " + util::base64_encode("my%20client:p%40ss%3Aword"));
  EXPECT_FALSE(body_of(req).has("client_secret"));
  EXPECT_EQ(body_of(req).get_or("refresh_token"), "R");
}

TEST(ClientAuthentication, PostWhenTheProviderOnlyTakesPost) {
  testing::FakeHttp http;
  http.on("POST", "https://idp.example/token", 200, R"({"access_token":"a","token_type":"Bearer"})");
  auto m = meta();
  m.token_endpoint_auth_methods_supported = {"client_secret_post"};
  ASSERT_TRUE(refresh_tokens(http, m, {"cli", "s"}, "R").has_value());
  EXPECT_EQ(body_of(http.requests.at(0)).get_or("client_secret"), "s");
}

TEST(Revocation, OkOnSuccessAndUnsupportedTokenType) {
  testing::FakeHttp http;
  http.on("POST", "https://idp.example/revoke", 200, "");
  EXPECT_TRUE(revoke_token(http, meta(), {"cli", ""}, "R", "refresh_token").has_value());
  auto body = body_of(http.requests.at(0));
  EXPECT_EQ(body.get_or("token"), "R");
  EXPECT_EQ(body.get_or("token_type_hint"), "refresh_token");
  testing::FakeHttp other;
  other.on("POST", "https://idp.example/revoke", 400, R"({"error":"unsupported_token_type"})");
  EXPECT_TRUE(revoke_token(other, meta(), {"cli", ""}, "R", "refresh_token").has_value());
  testing::FakeHttp broken;
  broken.on("POST", "https://idp.example/revoke", 401, R"({"error":"invalid_client"})");
  EXPECT_FALSE(revoke_token(broken, meta(), {"cli", ""}, "R", "refresh_token").has_value());
}

constexpr const char* kDeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";

class DeviceFlow : public ::testing::Test {
 protected:
  DeviceFlow() {
    device_.device_code = "DC";
    device_.user_code = "ABCD-EFGH";
    device_.verification_uri = "https://idp.example/device";
    device_.expires_in = 600;
    device_.interval = 5;
  }
  Result<TokenResponse> poll() {
    return poll_device_token(http_, meta(), {"cli", ""}, device_, clock_, [this](std::chrono::seconds s) {
      sleeps_.push_back(s.count());
      clock_.advance(s.count());
    });
  }
  testing::FakeHttp http_;
  util::FakeClock clock_;
  DeviceAuthorization device_;
  std::vector<long> sleeps_;
};

TEST_F(DeviceFlow, StartParsesTheRfc8628Answer) {
  http_.on("POST", "https://idp.example/device", 200,
           R"({"device_code":"DC","user_code":"ABCD-EFGH","verification_uri":"https://idp.example/device",)"
           R"("verification_uri_complete":"https://idp.example/device?user_code=ABCD-EFGH","expires_in":600})");
  auto d = start_device_authorization(http_, meta(), {"cli", ""}, "openid", "");
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->user_code, "ABCD-EFGH");
  EXPECT_EQ(d->interval, 5) << "RFC 8628 §3.2 default";
  EXPECT_EQ(body_of(http_.requests.at(0)).get_or("scope"), "openid");
  ProviderMetadata none = meta();
  none.device_authorization_endpoint.clear();
  EXPECT_FALSE(start_device_authorization(http_, none, {"cli", ""}, "openid", "").has_value());
}

TEST_F(DeviceFlow, PendingThenSlowDownThenTokens) {
  http_.on("POST", "https://idp.example/token", 400, R"({"error":"authorization_pending"})");
  http_.on("POST", "https://idp.example/token", 400, R"({"error":"slow_down"})");
  http_.on("POST", "https://idp.example/token", 400, R"({"error":"authorization_pending"})");
  http_.on("POST", "https://idp.example/token", 200, R"({"access_token":"a","token_type":"Bearer"})");
  auto t = poll();
  ASSERT_TRUE(t.has_value()) << t.error().message();
  EXPECT_EQ(t->access_token, "a");
  // §3.5: slow_down adds 5 s to this and every later interval.
  EXPECT_EQ(sleeps_, (std::vector<long>{5, 5, 10, 10}));
  EXPECT_EQ(body_of(http_.requests.at(0)).get_or("grant_type"), kDeviceGrant);
  EXPECT_EQ(body_of(http_.requests.at(0)).get_or("device_code"), "DC");
}

TEST_F(DeviceFlow, DeniedIsRefused) {
  http_.on("POST", "https://idp.example/token", 400, R"({"error":"access_denied"})");
  auto t = poll();
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().kind, ErrorKind::refused);
}

TEST_F(DeviceFlow, ExpiredTokenAndLocalExpiryAreTimeouts) {
  http_.on("POST", "https://idp.example/token", 400, R"({"error":"expired_token"})");
  EXPECT_EQ(poll().error().kind, ErrorKind::timeout);
  testing::FakeHttp pending;
  pending.on("POST", "https://idp.example/token", 400, R"({"error":"authorization_pending"})");
  device_.expires_in = 12;
  auto t = poll_device_token(pending, meta(), {"cli", ""}, device_, clock_,
                             [this](std::chrono::seconds s) { clock_.advance(s.count()); });
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().kind, ErrorKind::timeout);
  EXPECT_EQ(pending.requests.size(), 2u);  // at 5 s and 10 s; at 15 s the code has expired
}

}  // namespace
}  // namespace latchkey::client
