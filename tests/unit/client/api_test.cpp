// `latchkey api` in the library: the Bearer header, one refresh-and-retry on invalid_token, and
// where the token may not go.
#include "client/api.h"

#include <gtest/gtest.h>

#include <sstream>

#include "fakes.h"

namespace latchkey::client {
namespace {

const std::string kIss = "https://idp.example";
const std::string kApi = "https://api.example/things";

class ApiCall : public ::testing::Test {
 protected:
  ApiCall() : store_(tmp_.path()) {
    profile_.issuer = kIss;
    profile_.client_id = "cli";
    http_.on("GET", kIss + "/.well-known/openid-configuration", 200,
             R"({"issuer":")" + kIss + R"(","authorization_endpoint":")" + kIss + R"(/authorize","token_endpoint":")" +
                 kIss + R"(/token"})");
    StoredTokens t;
    t.access_token = "A1";
    t.refresh_token = "R1";
    t.expires_at = clock_.now() + 3600;
    EXPECT_TRUE(store_.save_tokens("default", t).has_value());
  }
  Client client() { return Client({http_, store_, clock_, random_, messages_}); }
  static std::string auth_of(const HttpRequest& r) {
    for (const auto& [k, v] : r.headers)
      if (k == "Authorization") return v;
    return {};
  }

  testing::TempDir tmp_;
  TokenStore store_;
  testing::FakeHttp http_;
  util::FakeClock clock_;
  testing::CountingRandom random_;
  std::ostringstream messages_;
  Profile profile_;
};

TEST_F(ApiCall, SendsTheAccessTokenAsBearer) {
  http_.on("POST", kApi, 201, R"({"id":1})");
  auto c = client();
  auto r = call_api(c, http_, profile_, {"POST", kApi, {{"X-Trace", "1"}}, "a=1"});
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->response.status, 201);
  EXPECT_FALSE(r->refreshed);
  const auto& sent = http_.requests.back();
  EXPECT_EQ(auth_of(sent), "Bearer A1");
  EXPECT_EQ(sent.body, "a=1");
  EXPECT_EQ(http_.count("POST", kIss + "/token"), 0u);
}

TEST_F(ApiCall, RefreshesOnceAndRetriesOnInvalidToken) {
  http_.handle("GET", kApi, [](const HttpRequest& req) {
    bool fresh = auth_of(req) == "Bearer A2";
    return HttpResponse{fresh ? 200L : 401L,
                        {{"www-authenticate", fresh ? "" : R"(Bearer realm="api", error="invalid_token", error_description="revoked")"}},
                        fresh ? "ok" : ""};
  });
  http_.on("POST", kIss + "/token", 200, R"({"access_token":"A2","token_type":"Bearer","expires_in":3600,"refresh_token":"R2"})");
  auto c = client();
  auto r = call_api(c, http_, profile_, {"GET", kApi, {}, ""});
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(r->refreshed);
  EXPECT_EQ(r->response.status, 200);
  EXPECT_EQ(http_.count("GET", kApi), 2u);
  EXPECT_EQ(http_.count("POST", kIss + "/token"), 1u);
}

TEST_F(ApiCall, NoRetryOnInsufficientScopeOrOtherStatuses) {
  http_.on("GET", kApi, 403, "{}");
  auto c = client();
  auto r = call_api(c, http_, profile_, {"GET", kApi, {}, ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->response.status, 403);
  EXPECT_EQ(http_.count("GET", kApi), 1u);
  EXPECT_EQ(http_.count("POST", kIss + "/token"), 0u);
}

TEST_F(ApiCall, AFailedRefreshReturnsTheFirstAnswerAndSaysWhy) {
  http_.handle("GET", kApi, [](const HttpRequest&) {
    return HttpResponse{401, {{"www-authenticate", R"(Bearer error="invalid_token")"}}, ""};
  });
  http_.on("POST", kIss + "/token", 400, R"({"error":"invalid_grant"})");
  auto c = client();
  auto r = call_api(c, http_, profile_, {"GET", kApi, {}, ""});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->response.status, 401);
  EXPECT_FALSE(r->refresh_problem.empty());
}

TEST_F(ApiCall, TheTokenGoesOnlyToHttpsOrLoopback) {
  auto c = client();
  auto plain = call_api(c, http_, profile_, {"GET", "http://api.example/things", {}, ""});
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().kind, ErrorKind::usage);
  auto own_auth = call_api(c, http_, profile_, {"GET", kApi, {{"authorization", "Basic x"}}, ""});
  ASSERT_FALSE(own_auth.has_value());
  EXPECT_EQ(own_auth.error().kind, ErrorKind::usage);
  EXPECT_TRUE(http_.requests.empty());
  http_.on("GET", "http://127.0.0.1:8081/api/me", 200, "{}");
  EXPECT_TRUE(call_api(c, http_, profile_, {"GET", "http://127.0.0.1:8081/api/me", {}, ""}).has_value());
}

TEST(BearerError, ReadsTheErrorAttribute) {
  EXPECT_EQ(bearer_error(R"(Bearer realm="x", error="invalid_token", error_description="a error="b")"), "invalid_token");
  EXPECT_EQ(bearer_error(R"(Bearer error_description="error=\"x", error="insufficient_scope")"), "insufficient_scope");
  EXPECT_EQ(bearer_error("Bearer"), "");
  EXPECT_EQ(bearer_error(R"(Basic error="invalid_token")"), "");
}

}  // namespace
}  // namespace latchkey::client
