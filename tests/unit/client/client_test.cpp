#include "client/client.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <thread>

#include "fakes.h"
#include "jose/jws.h"
#include "util/form.h"

namespace latchkey::client {
namespace {

const std::string kIss = "https://idp.example";

class ClientFlow : public ::testing::Test {
 protected:
  ClientFlow() : store_(tmp_.path()), key_(jose::SigningKeyPair::generate(jose::Algorithm::ES256)) {
    profile_.issuer = kIss;
    profile_.client_id = "cli";
    profile_.scope = "openid offline_access";
    http_.on("GET", kIss + "/.well-known/openid-configuration", 200,
             R"({"issuer":")" + kIss + R"(","authorization_endpoint":")" + kIss + R"(/authorize","token_endpoint":")" +
                 kIss + R"(/token","jwks_uri":")" + kIss + R"(/jwks","device_authorization_endpoint":")" + kIss +
                 R"(/device","revocation_endpoint":")" + kIss + R"(/revoke"})");
    http_.on("GET", kIss + "/jwks",
             200, boost::json::serialize(boost::json::object{{"keys", boost::json::array{key_.public_jwk("k")}}}));
  }

  Client client() {
    return Client({http_, store_, clock_, random_, messages_, [this](std::chrono::seconds s) { clock_.advance(s.count()); }});
  }

  std::string id_token(const std::string& sub, const std::string& nonce = "") {
    boost::json::object c{{"iss", kIss}, {"sub", sub}, {"aud", "cli"}, {"exp", clock_.now() + 300}, {"iat", clock_.now()}};
    if (!nonce.empty()) c["nonce"] = nonce;
    return jose::sign_jwt(key_, "k", "", c);
  }

  StoredTokens saved(std::string refresh, util::Timestamp expires_at) {
    StoredTokens t;
    t.access_token = "old-access";
    t.refresh_token = std::move(refresh);
    t.expires_at = expires_at;
    t.subject = "alice";
    return t;
  }

  testing::TempDir tmp_;
  TokenStore store_;
  testing::FakeHttp http_;
  util::FakeClock clock_;
  testing::CountingRandom random_;
  std::ostringstream messages_;
  jose::SigningKeyPair key_;
  Profile profile_;
};

TEST_F(ClientFlow, DeviceLoginValidatesTheIdTokenAndStoresTokens) {
  http_.on("POST", kIss + "/device", 200,
           R"({"device_code":"DC","user_code":"WDJB-MJHT","verification_uri":"https://idp.example/device",)"
           R"("verification_uri_complete":"https://idp.example/device?user_code=WDJB-MJHT","expires_in":600,"interval":1})");
  http_.on("POST", kIss + "/token", 400, R"({"error":"authorization_pending"})");
  http_.on("POST", kIss + "/token", 200,
           R"({"access_token":"A1","token_type":"Bearer","expires_in":3600,"refresh_token":"R1","id_token":")" +
               id_token("alice") + R"("})");
  LoginOptions options;
  options.device = true;
  auto tokens = client().login(profile_, options);
  ASSERT_TRUE(tokens.has_value()) << tokens.error().message();
  EXPECT_EQ(tokens->subject, "alice");
  EXPECT_NE(messages_.str().find("WDJB-MJHT"), std::string::npos);
  EXPECT_NE(messages_.str().find("https://idp.example/device?user_code=WDJB-MJHT"), std::string::npos);
  auto stored = store_.load_tokens("default");
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->refresh_token, "R1");
  EXPECT_EQ((*stored)->expires_at, clock_.now() + 3600);  // the clock stands still after the last poll
}

TEST_F(ClientFlow, IdTokenForAnotherClientFailsTheLogin) {
  http_.on("POST", kIss + "/device", 200,
           R"({"device_code":"DC","user_code":"U","verification_uri":"https://idp.example/d","expires_in":600})");
  boost::json::object c{{"iss", kIss}, {"sub", "alice"}, {"aud", "other"}, {"exp", clock_.now() + 300}, {"iat", clock_.now()}};
  http_.on("POST", kIss + "/token", 200,
           R"({"access_token":"A1","token_type":"Bearer","id_token":")" + jose::sign_jwt(key_, "k", "", c) + R"("})");
  LoginOptions options;
  options.device = true;
  auto tokens = client().login(profile_, options);
  ASSERT_FALSE(tokens.has_value());
  EXPECT_NE(tokens.error().what.find("aud"), std::string::npos);
  EXPECT_FALSE(store_.load_tokens("default")->has_value()) << "nothing stored after a failed validation";
}

TEST_F(ClientFlow, ValidTokenIsReturnedWithoutARefresh) {
  ASSERT_TRUE(store_.save_tokens("default", saved("R0", clock_.now() + 3600)).has_value());
  auto t = client().valid_tokens(profile_, 60);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->access_token, "old-access");
  EXPECT_EQ(http_.count("POST", kIss + "/token"), 0u);
}

TEST_F(ClientFlow, ExpiringTokenIsRefreshedAndTheOldRefreshTokenKeptWhenNoneComesBack) {
  ASSERT_TRUE(store_.save_tokens("default", saved("R0", clock_.now() + 30)).has_value());
  http_.on("POST", kIss + "/token", 200, R"({"access_token":"new-access","token_type":"Bearer","expires_in":600})");
  auto t = client().valid_tokens(profile_, 60);
  ASSERT_TRUE(t.has_value()) << t.error().message();
  EXPECT_EQ(t->access_token, "new-access");
  EXPECT_EQ(t->refresh_token, "R0");
  EXPECT_EQ(*util::parse_form(http_.requests.back().body)->get("refresh_token"), "R0");
  EXPECT_EQ((*store_.load_tokens("default"))->access_token, "new-access");
}

TEST_F(ClientFlow, RejectedRefreshTokenAsksForALogin) {
  ASSERT_TRUE(store_.save_tokens("default", saved("R0", clock_.now() - 1)).has_value());
  http_.on("POST", kIss + "/token", 400, R"({"error":"invalid_grant"})");
  auto t = client().valid_tokens(profile_, 60);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().kind, ErrorKind::login_required);
  EXPECT_NE(t.error().todo.find("latchkey auth login"), std::string::npos);
}

TEST_F(ClientFlow, NotLoggedIn) {
  auto t = client().valid_tokens(profile_, 60);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().kind, ErrorKind::login_required);
}

// Two processes (here: threads with their own Client, as each process has its own) race on an
// expiring token whose refresh token rotates. The lock makes the second one re-read the file and
// find a fresh token, so the rotated-away refresh token is never presented again.
TEST_F(ClientFlow, ConcurrentRefreshesUseTheRefreshTokenOnce) {
  ASSERT_TRUE(store_.save_tokens("default", saved("R0", clock_.now() + 10)).has_value());
  std::mutex mutex;
  std::string current_refresh = "R0";
  int generation = 0;
  bool reuse_detected = false;
  http_.handle("POST", kIss + "/token", [&](const HttpRequest& req) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // widen the race window
    std::lock_guard lock(mutex);
    auto presented = util::parse_form(req.body)->get_or("refresh_token");
    if (presented != current_refresh) {
      reuse_detected = true;
      return HttpResponse{400, {}, R"({"error":"invalid_grant"})"};
    }
    ++generation;
    current_refresh = "R" + std::to_string(generation);
    return HttpResponse{200, {},
                        R"({"access_token":"A)" + std::to_string(generation) + R"(","token_type":"Bearer","expires_in":600,"refresh_token":")" +
                            current_refresh + R"("})"};
  });
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      std::ostringstream sink;
      util::FakeClock clock(clock_.now());
      testing::CountingRandom random;
      Client c({http_, store_, clock, random, sink});
      auto t = c.valid_tokens(profile_, 60);
      results[static_cast<std::size_t>(i)] = t ? t->access_token : "error: " + t.error().message();
    });
  for (auto& t : threads) t.join();
  EXPECT_FALSE(reuse_detected);
  EXPECT_EQ(generation, 1);
  for (const auto& r : results) EXPECT_EQ(r, "A1");
  auto stored = store_.load_tokens("default");
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->refresh_token, "R1");
}

TEST_F(ClientFlow, LogoutRevokesTheRefreshTokenThenDeletes) {
  ASSERT_TRUE(store_.save_tokens("default", saved("R0", clock_.now() + 3600)).has_value());
  http_.on("POST", kIss + "/revoke", 200, "");
  auto r = client().logout(profile_);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->revoked);
  auto body = util::parse_form(http_.requests.back().body);
  EXPECT_EQ(body->get_or("token"), "R0");
  EXPECT_EQ(body->get_or("token_type_hint"), "refresh_token");
  EXPECT_FALSE(store_.load_tokens("default")->has_value());
}

TEST_F(ClientFlow, LogoutWithoutRevocationStillDeletesAndSaysWhy) {
  ASSERT_TRUE(store_.save_tokens("default", saved("R0", clock_.now() + 3600)).has_value());
  profile_.issuer = "https://plain.example";
  http_.on("GET", "https://plain.example/.well-known/openid-configuration", 200,
           R"({"issuer":"https://plain.example","authorization_endpoint":"https://plain.example/a","token_endpoint":"https://plain.example/t"})");
  auto r = client().logout(profile_);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->revoked);
  EXPECT_NE(r->revocation_problem.find("no revocation endpoint"), std::string::npos);
  EXPECT_FALSE(store_.load_tokens("default")->has_value());
}

}  // namespace
}  // namespace latchkey::client
