// Brute-force throttling (issue 7 §4): logins per account and per address with a growing lock,
// the same answer for unknown users, client authentication at the token endpoint, device user-code
// entry (RFC 8628 §5.1), and the lock shared by two providers on one store.
#include "harness.h"

namespace latchkey::test {
namespace {

constexpr std::string_view kTooMany = "Too many attempts, try again in ";

class ThrottleTest : public ProviderTest {
 protected:
  std::string address = "192.0.2.10";

  oauth::Response send_from(std::string method, const std::string& path, std::string body = {},
                            std::vector<oauth::Header> headers = {}) {
    if (method == "POST") headers.emplace_back("content-type", "application/x-www-form-urlencoded");
    return send(oauth::Request{std::move(method), path, {}, std::move(headers), std::move(body), address});
  }
  std::string start() {
    auto r = get("/authorize", form(authorize_params()));
    EXPECT_EQ(r.status, 303);
    return location(r);
  }
  oauth::Response login(const std::string& interaction, const std::string& user, const std::string& password) {
    auto page = send_from("GET", interaction);
    return send_from("POST", interaction + "/login",
                     form({{"csrf", hidden_field(page.body, "csrf")}, {"username", user}, {"password", password}}));
  }
  static bool has_session_cookie(const oauth::Response& r) {
    for (const auto& [k, v] : r.headers)
      if (k == "Set-Cookie" && v.starts_with("__Host-latchkey_session=")) return true;
    return false;
  }
  static bool says_too_many(const oauth::Response& r, int seconds) {
    return r.body.find(std::string(kTooMany) + std::to_string(seconds) + " seconds.") != std::string::npos;
  }
  oauth::Response client_auth(const std::string& secret) {
    auto saved = cookies;
    cookies.clear();
    auto r = send_from("POST", "/token", form({{"grant_type", "authorization_code"}, {"code", "no-such-code"},
                                                {"redirect_uri", "https://app.example.com/cb"},
                                                {"code_verifier", kVerifier}}),
                       {{"authorization", basic("web", secret)}});
    cookies = saved;
    return r;
  }
};

TEST_F(ThrottleTest, FiveWrongPasswordsLockTheAccountEvenAgainstTheRightPassword) {
  auto interaction = start();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(login(interaction, "alice", "wrong").status, 401) << i;
  auto r = login(interaction, "alice", "correct horse");
  EXPECT_EQ(r.status, 429);
  EXPECT_TRUE(says_too_many(r, 2)) << r.body;
  EXPECT_EQ(r.header("Retry-After").value_or(""), "2");
  EXPECT_FALSE(has_session_cookie(r));
  EXPECT_NE(r.body.find("name=\"password\""), std::string::npos);  // the login form again

  clock.advance(2);  // the lock has passed
  r = login(interaction, "alice", "correct horse");
  EXPECT_EQ(r.status, 303);
  EXPECT_TRUE(has_session_cookie(r));
}

TEST_F(ThrottleTest, EachFurtherFailureDoublesTheLockUpToTheCap) {
  config.login_account_throttle.max_lock = 8;
  make_provider();
  auto interaction = start();
  for (int i = 0; i < 5; ++i) login(interaction, "alice", "wrong");
  const int expected[] = {4, 8, 8};
  for (int lock : expected) {
    clock.advance(lock);  // more than enough to pass the previous lock
    EXPECT_EQ(login(interaction, "alice", "wrong").status, 401);
    auto r = login(interaction, "alice", "correct horse");
    EXPECT_EQ(r.status, 429);
    EXPECT_TRUE(says_too_many(r, lock)) << r.body;
  }
}

TEST_F(ThrottleTest, AnUnknownUserIsLockedJustLikeAKnownOne) {
  auto interaction = start();
  for (int i = 0; i < 5; ++i) {
    auto known = login(interaction, "alice", "wrong");
    auto unknown = login(interaction, "mallory", "wrong");
    EXPECT_EQ(known.status, unknown.status);
  }
  auto known = login(interaction, "alice", "wrong");
  auto unknown = login(interaction, "mallory", "wrong");
  EXPECT_EQ(known.status, 429);
  EXPECT_EQ(unknown.status, 429);
  EXPECT_TRUE(says_too_many(known, 2));
  EXPECT_TRUE(says_too_many(unknown, 2));
  EXPECT_EQ(known.header("Retry-After"), unknown.header("Retry-After"));
}

TEST_F(ThrottleTest, ASuccessfulLoginForgetsTheAccountsFailures) {
  auto interaction = start();
  for (int i = 0; i < 4; ++i) login(interaction, "alice", "wrong");
  EXPECT_EQ(login(interaction, "alice", "correct horse").status, 303);
  cookies.clear();  // another browser, so the login form is shown again
  auto again = start();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(login(again, "alice", "wrong").status, 401) << i;
}

TEST_F(ThrottleTest, QuietWindowForgetsFailures) {
  config.login_account_throttle.window = 60;  // shorter than an interaction lives
  make_provider();
  auto interaction = start();
  for (int i = 0; i < 4; ++i) login(interaction, "alice", "wrong");
  clock.advance(config.login_account_throttle.window);
  EXPECT_EQ(login(interaction, "alice", "wrong").status, 401);  // counts as the first again
  EXPECT_EQ(login(interaction, "alice", "correct horse").status, 303);
}

TEST_F(ThrottleTest, TheAccountLockHoldsFromAnotherAddress) {
  auto interaction = start();
  for (int i = 0; i < 5; ++i) login(interaction, "alice", "wrong");
  address = "198.51.100.7";
  EXPECT_EQ(login(interaction, "alice", "correct horse").status, 429);
}

TEST_F(ThrottleTest, ManyFailuresFromOneAddressLockItForEveryAccount) {
  auto interaction = start();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(login(interaction, "user" + std::to_string(i), "wrong").status, 401) << i;
  EXPECT_EQ(login(interaction, "alice", "correct horse").status, 429);
  address = "198.51.100.7";  // another address is not affected
  EXPECT_EQ(login(interaction, "alice", "correct horse").status, 303);
}

TEST_F(ThrottleTest, TwoProvidersOnOneStoreShareTheLock) {
  auto interaction = start();
  for (int i = 0; i < 5; ++i) login(interaction, "alice", "wrong");
  // A second instance (same store, its own provider state) sees the lock.
  provider = std::make_unique<oauth::Provider>(config, store, keys, clock, random);
  EXPECT_EQ(login(interaction, "alice", "correct horse").status, 429);
}

TEST_F(ThrottleTest, FailedClientAuthenticationIsThrottledWith429AndRetryAfter) {
  for (int i = 0; i < 10; ++i) EXPECT_EQ(client_auth("wrong-secret").status, 401) << i;
  auto r = client_auth(kSecret);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(error_of(r), "invalid_client");
  EXPECT_EQ(std::string(json(r).at("error_description").as_string()), "too many failed attempts; retry after 2 s");
  EXPECT_EQ(r.header("Retry-After").value_or(""), "2");

  clock.advance(2);
  r = client_auth(kSecret);  // authenticated: the code is what is wrong now
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "invalid_grant");
}

TEST_F(ThrottleTest, ClientAuthenticationSuccessForgetsTheClientsFailures) {
  for (int i = 0; i < 9; ++i) client_auth("wrong-secret");
  EXPECT_EQ(error_of(client_auth(kSecret)), "invalid_grant");
  address = "198.51.100.7";  // a fresh address, so only the client's own count matters
  for (int i = 0; i < 9; ++i) EXPECT_EQ(client_auth("wrong-secret").status, 401) << i;
}

TEST_F(ThrottleTest, UnknownClientIdsAreThrottledToo) {
  auto attempt = [&] {
    return send_from("POST", "/token", form({{"grant_type", "client_credentials"}}),
                     {{"authorization", basic("ghost", "guess")}});
  };
  for (int i = 0; i < 10; ++i) EXPECT_EQ(attempt().status, 401) << i;
  EXPECT_EQ(attempt().status, 429);
}

TEST_F(ThrottleTest, WrongDeviceUserCodesAreThrottledPerBrowser) {
  add_client("tv", true, {"https://tv.example.com/unused"}, {"urn:ietf:params:oauth:grant-type:device_code"});
  auto saved = cookies;
  cookies.clear();
  auto d = send_from("POST", "/device_authorization", form({{"client_id", "tv"}, {"scope", "openid"}}));
  cookies = saved;
  ASSERT_EQ(d.status, 200) << d.body;
  std::string user_code(json(d).at("user_code").as_string());

  auto enter = [&](const std::string& code) {
    auto page = send_from("GET", "/device");
    return send_from("POST", "/device", form({{"csrf", hidden_field(page.body, "csrf")}, {"user_code", code}}));
  };
  for (int i = 0; i < 5; ++i) EXPECT_EQ(enter("BCDF-GHJK").status, 400) << i;
  auto r = enter(user_code);  // the right code, refused during the lock
  EXPECT_EQ(r.status, 429);
  EXPECT_TRUE(says_too_many(r, 2)) << r.body;
  EXPECT_EQ(r.header("Retry-After").value_or(""), "2");
  clock.advance(2);
  r = enter(user_code);
  EXPECT_EQ(r.status, 303);
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
}

}  // namespace
}  // namespace latchkey::test
