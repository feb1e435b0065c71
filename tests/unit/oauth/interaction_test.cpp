// Login and consent: CSRF, browser binding, generic login errors, remembered consent, prompt.
#include "harness.h"

namespace latchkey::test {
namespace {

class InteractionTest : public ProviderTest {
 protected:
  std::string start() {
    auto r = get("/authorize", form(authorize_params()));
    EXPECT_EQ(r.status, 303);
    return location(r);
  }
  oauth::Response login(const std::string& interaction, const std::string& user, const std::string& password) {
    auto page = get(interaction);
    return post_form(interaction + "/login",
                     form({{"csrf", hidden_field(page.body, "csrf")}, {"username", user}, {"password", password}}));
  }
};

TEST_F(InteractionTest, LoginPageHasTheFormFieldsAndSecurityHeaders) {
  auto r = get(start());
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("name=\"username\""), std::string::npos);
  EXPECT_NE(r.body.find("name=\"password\""), std::string::npos);
  EXPECT_FALSE(hidden_field(r.body, "csrf").empty());
  EXPECT_NE(r.body.find("App web"), std::string::npos);
  EXPECT_NE(r.header("Content-Security-Policy").value_or("").find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(r.header("X-Frame-Options").value_or(""), "DENY");
  EXPECT_EQ(r.header("Referrer-Policy").value_or(""), "no-referrer");
  EXPECT_EQ(r.header("Cache-Control").value_or(""), "no-store");
  EXPECT_EQ(r.body.find("<script"), std::string::npos);
}

TEST_F(InteractionTest, WrongPasswordAndUnknownUserSayTheSameThing) {
  auto interaction = start();
  auto wrong_password = login(interaction, "alice", "nope");
  auto unknown_user = login(interaction, "mallory", "nope");
  EXPECT_EQ(wrong_password.status, 401);
  EXPECT_EQ(unknown_user.status, 401);
  EXPECT_NE(wrong_password.body.find("Wrong username or password."), std::string::npos);
  EXPECT_NE(unknown_user.body.find("Wrong username or password."), std::string::npos);
  EXPECT_FALSE(cookies.contains("__Host-latchkey_session"));
}

TEST_F(InteractionTest, LoginWithoutOrWithForgedCsrfIsRefused) {
  auto interaction = start();
  EXPECT_EQ(post_form(interaction + "/login", form({{"username", "alice"}, {"password", "correct horse"}})).status, 403);
  EXPECT_EQ(post_form(interaction + "/login",
                      form({{"csrf", "AAAA"}, {"username", "alice"}, {"password", "correct horse"}}))
                .status,
            403);
  EXPECT_FALSE(cookies.contains("__Host-latchkey_session"));
}

TEST_F(InteractionTest, CsrfTokenOfTheConsentFormDoesNotWorkForLogin) {
  auto interaction = start();
  auto r = login(interaction, "alice", "correct horse");
  auto consent = get(interaction);
  std::string consent_csrf = hidden_field(consent.body, "csrf");
  EXPECT_EQ(post_form(interaction + "/login",
                      form({{"csrf", consent_csrf}, {"username", "alice"}, {"password", "correct horse"}}))
                .status,
            403);
}

TEST_F(InteractionTest, AnotherBrowserCannotUseTheInteraction) {
  auto interaction = start();
  cookies.clear();  // a different browser, without the binding cookie
  EXPECT_EQ(get(interaction).status, 403);
  cookies["__Host-latchkey_browser"] = std::string(43, 'A');
  EXPECT_EQ(get(interaction).status, 403);
}

TEST_F(InteractionTest, UnknownOrExpiredInteractionsAreRefused) {
  EXPECT_EQ(get("/interaction/nope").status, 400);
  EXPECT_EQ(get("/interaction/" + std::string(43, 'A')).status, 400);
  auto interaction = start();
  clock.advance(config.interaction_ttl + 1);
  EXPECT_EQ(get(interaction).status, 400);
}

TEST_F(InteractionTest, LoginSetsAHardenedSessionCookieAndLeadsToConsent) {
  auto interaction = start();
  auto r = login(interaction, "alice", "correct horse");
  ASSERT_EQ(r.status, 303);
  EXPECT_EQ(location(r), interaction);
  std::string set_cookie;
  for (const auto& [k, v] : r.headers)
    if (k == "Set-Cookie" && v.starts_with("__Host-latchkey_session=")) set_cookie = v;
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("SameSite=Lax"), std::string::npos);
  EXPECT_NE(set_cookie.find("Secure"), std::string::npos);
  EXPECT_NE(set_cookie.find("Path=/"), std::string::npos);
  auto consent = get(interaction);
  EXPECT_NE(consent.body.find("name=\"decision\" value=\"allow\""), std::string::npos);
  EXPECT_NE(consent.body.find("name=\"decision\" value=\"deny\""), std::string::npos);
  EXPECT_NE(consent.body.find("See your name and username"), std::string::npos);  // scope in words
}

TEST_F(InteractionTest, SessionCookieIsNotSecureOnAnHttpIssuer) {
  config.issuer = "http://127.0.0.1:8080";
  make_provider();
  auto interaction = start();
  login(interaction, "alice", "correct horse");
  EXPECT_TRUE(cookies.contains("latchkey_session"));
}

TEST_F(InteractionTest, TheStoredSessionIdIsAHash) {
  auto interaction = start();
  login(interaction, "alice", "correct horse");
  std::string id = cookies["__Host-latchkey_session"];
  EXPECT_FALSE(store.find_session(id, clock.now()).has_value());
  EXPECT_TRUE(store.find_session(util::secret_hash(id), clock.now()).has_value());
}

TEST_F(InteractionTest, DenyRedirectsWithAccessDenied) {
  auto interaction = start();
  login(interaction, "alice", "correct horse");
  auto page = get(interaction);
  auto r = post_form(interaction + "/consent", form({{"csrf", hidden_field(page.body, "csrf")}, {"decision", "deny"}}));
  auto u = parse_location(location(r));
  EXPECT_EQ(u.path, "https://app.example.com/cb");
  EXPECT_EQ(u.query.get_or("error"), "access_denied");
  EXPECT_EQ(u.query.get_or("state"), "st-123");
  EXPECT_EQ(u.query.get_or("iss"), config.issuer);
  EXPECT_EQ(get(interaction).status, 400);  // spent
}

TEST_F(InteractionTest, AllowRedirectsWithCodeStateAndIss) {
  auto r = authorize_and_allow(authorize_params());
  ASSERT_EQ(r.status, 303);
  auto u = parse_location(location(r));
  EXPECT_EQ(u.path, "https://app.example.com/cb");
  EXPECT_GE(u.query.get_or("code").size(), 43u);  // 256 bits
  EXPECT_EQ(u.query.get_or("state"), "st-123");
  EXPECT_EQ(u.query.get_or("iss"), config.issuer);
}

TEST_F(InteractionTest, ConsentWithoutCsrfOrDecisionIsRefused) {
  auto interaction = start();
  login(interaction, "alice", "correct horse");
  auto page = get(interaction);
  EXPECT_EQ(post_form(interaction + "/consent", form({{"decision", "allow"}})).status, 403);
  EXPECT_EQ(post_form(interaction + "/consent", form({{"csrf", hidden_field(page.body, "csrf")}, {"decision", "maybe"}}))
                .status,
            400);
}

TEST_F(InteractionTest, ConsentIsRememberedAndAskedAgainForNewScopes) {
  authorize_and_allow(authorize_params());
  // Same scopes: straight back with a code (session + remembered consent).
  auto again = get("/authorize", form(authorize_params()));
  ASSERT_EQ(again.status, 303);
  EXPECT_FALSE(parse_location(location(again)).query.get_or("code").empty());
  // A new scope: consent again.
  auto more = get("/authorize", form(authorize_params("web", "openid profile email")));
  EXPECT_TRUE(location(more).starts_with("/interaction/"));
  EXPECT_NE(get(location(more)).body.find("name=\"decision\""), std::string::npos);
}

TEST_F(InteractionTest, PromptConsentAsksAgain) {
  authorize_and_allow(authorize_params());
  auto p = authorize_params();
  p.emplace_back("prompt", "consent");
  auto r = get("/authorize", form(p));
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
  EXPECT_NE(get(location(r)).body.find("name=\"decision\""), std::string::npos);
}

TEST_F(InteractionTest, PromptLoginAsksForThePasswordAgain) {
  authorize_and_allow(authorize_params());
  auto p = authorize_params();
  p.emplace_back("prompt", "login");
  auto r = get("/authorize", form(p));
  ASSERT_TRUE(location(r).starts_with("/interaction/"));
  std::string interaction = location(r);
  EXPECT_NE(get(interaction).body.find("name=\"password\""), std::string::npos);
  clock.advance(5);
  auto after = login(interaction, "alice", "correct horse");
  EXPECT_FALSE(parse_location(location(after)).query.get_or("code").empty());  // consent remembered
}

TEST_F(InteractionTest, PromptNoneWithSessionButNoConsentIsConsentRequired) {
  auto interaction = start();
  login(interaction, "alice", "correct horse");
  auto p = authorize_params("web", "openid email");
  p.emplace_back("prompt", "none");
  auto u = parse_location(location(get("/authorize", form(p))));
  EXPECT_EQ(u.query.get_or("error"), "consent_required");
}

TEST_F(InteractionTest, PromptNoneWithSessionAndConsentIssuesACode) {
  authorize_and_allow(authorize_params());
  auto p = authorize_params();
  p.emplace_back("prompt", "none");
  EXPECT_FALSE(parse_location(location(get("/authorize", form(p)))).query.get_or("code").empty());
}

TEST_F(InteractionTest, MaxAgeForcesAFreshLogin) {
  authorize_and_allow(authorize_params());
  clock.advance(120);
  auto p = authorize_params();
  p.emplace_back("max_age", "60");
  auto r = get("/authorize", form(p));
  ASSERT_TRUE(location(r).starts_with("/interaction/"));
  EXPECT_NE(get(location(r)).body.find("name=\"password\""), std::string::npos);
}

TEST_F(InteractionTest, ExpiredSessionMeansLoginAgain) {
  authorize_and_allow(authorize_params());
  clock.advance(config.session_ttl + 1);
  EXPECT_TRUE(location(get("/authorize", form(authorize_params()))).starts_with("/interaction/"));
}

TEST_F(InteractionTest, GarbageCookiesAreHarmless) {
  cookies["__Host-latchkey_session"] = "%%%\x01garbage";
  cookies["__Host-latchkey_browser"] = std::string(500, 'x');
  auto r = get("/authorize", form(authorize_params()));
  EXPECT_EQ(r.status, 303);
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
  EXPECT_EQ(get(location(r)).status, 200);
}

TEST_F(InteractionTest, WrongMethodsAndFormsGetErrorPages) {
  auto interaction = start();
  EXPECT_EQ(send(oauth::Request{"POST", interaction, {}, {}, {}, "127.0.0.1"}).status, 405);
  EXPECT_EQ(get(interaction + "/login").status, 405);
  auto r = send(oauth::Request{"POST", interaction + "/login", {}, {{"content-type", "text/plain"}}, "x", "1"});
  EXPECT_EQ(r.status, 400);
  auto page = get(interaction);
  std::string csrf = hidden_field(page.body, "csrf");
  EXPECT_EQ(post_form(interaction + "/login", "csrf=" + csrf + "&username=a&username=b&password=x").status, 400);
  EXPECT_EQ(post_form(interaction + "/login", "csrf=" + csrf + "&username=%FF&password=x").status, 400);
}

}  // namespace
}  // namespace latchkey::test
