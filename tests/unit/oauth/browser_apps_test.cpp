// Browser apps and permissions (issue 10): CORS for registered web origins, and roles/groups in
// tokens (RFC 9068 §2.2.3.1) only for clients allowed them and scopes that ask.
#include <gmock/gmock.h>

#include "harness.h"
#include "oauth/cors.h"

namespace latchkey::test {
namespace {

using ::testing::HasSubstr;
using Params = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kSpaOrigin = "http://127.0.0.1:8000";
constexpr const char* kOtherAppOrigin = "https://other-app.example";
constexpr const char* kEvilOrigin = "https://evil.example";

class BrowserAppsTest : public ProviderTest {
 protected:
  void SetUp() override {
    ProviderTest::SetUp();
    // The SPA: public, its origin registered, allowed roles and groups.
    add_spa_client("spa", {kSpaOrigin}, {"roles", "groups"});
    // Another browser app with another origin, allowed nothing extra.
    add_spa_client("other", {kOtherAppOrigin}, {});
    store.add_user_role("sub-alice", "admin");
    store.add_user_group("sub-alice", "engineering");
  }

  void add_spa_client(const std::string& id, std::vector<std::string> origins, std::vector<std::string> claims) {
    store::Client c;
    c.id = id;
    c.name = "SPA " + id;
    c.is_public = true;
    c.redirect_uris = {"http://127.0.0.1/callback"};
    c.scopes = {"openid", "profile", "offline_access"};
    for (const auto& claim : claims) c.scopes.push_back(claim);
    c.grant_types = {"authorization_code", "refresh_token"};
    c.web_origins = std::move(origins);
    c.allowed_claims = std::move(claims);
    store.put_client(c);
  }

  // A code for a public client (loopback redirect of the harness) exchanged at /token.
  oauth::Response public_login(const std::string& client, const std::string& scope,
                               std::vector<oauth::Header> headers = {}) {
    auto code = obtain_code(authorize_params(client, scope));
    EXPECT_FALSE(code.empty());
    return token({{"grant_type", "authorization_code"},
                  {"code", code},
                  {"redirect_uri", "http://127.0.0.1:51000/callback"},
                  {"code_verifier", kVerifier},
                  {"client_id", client}},
                 std::move(headers));
  }

  oauth::Response preflight(const std::string& path, const std::string& origin, const std::string& method = "POST",
                            const std::string& headers = "content-type") {
    return provider->handle(oauth::Request{"OPTIONS",
                                           path,
                                           {},
                                           {{"origin", origin},
                                            {"access-control-request-method", method},
                                            {"access-control-request-headers", headers}},
                                           {},
                                           "127.0.0.1"});
  }

  oauth::Response userinfo(const std::string& at, const std::string& origin) {
    std::vector<oauth::Header> h{{"authorization", "Bearer " + at}};
    if (!origin.empty()) h.emplace_back("origin", origin);
    return provider->handle(oauth::Request{"GET", "/userinfo", {}, std::move(h), {}, "127.0.0.1"});
  }

  static std::string header(const oauth::Response& r, const char* name) {
    return std::string(r.header(name).value_or("(none)"));
  }
  static bool allows_credentials(const oauth::Response& r) {
    return r.header("Access-Control-Allow-Credentials").has_value();
  }
  static std::string str(const boost::json::object& o, const char* k) { return std::string(o.at(k).as_string()); }
  static std::string claims_json(const boost::json::object& o, const char* k) {
    return o.contains(k) ? boost::json::serialize(o.at(k)) : "(absent)";
  }
};

// --- CORS ---------------------------------------------------------------------------------

TEST_F(BrowserAppsTest, PreflightFromARegisteredOriginIsAllowedWithoutCredentials) {
  for (const char* path : {"/token", "/revoke"}) {
    auto r = preflight(path, kSpaOrigin);
    EXPECT_EQ(r.status, 204) << path;
    EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), kSpaOrigin) << path;
    EXPECT_EQ(header(r, "Access-Control-Allow-Methods"), "POST") << path;
    EXPECT_THAT(header(r, "Access-Control-Allow-Headers"), HasSubstr("Content-Type"));
    EXPECT_EQ(header(r, "Access-Control-Max-Age"), "600");
    EXPECT_EQ(header(r, "Vary"), "Origin");
    EXPECT_FALSE(allows_credentials(r)) << path;
  }
  auto r = preflight("/userinfo", kSpaOrigin, "GET", "authorization");
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), kSpaOrigin);
  EXPECT_EQ(header(r, "Access-Control-Allow-Methods"), "GET, POST");
  EXPECT_THAT(header(r, "Access-Control-Allow-Headers"), HasSubstr("Authorization"));
  EXPECT_FALSE(allows_credentials(r));
}

TEST_F(BrowserAppsTest, PreflightFromAnUnregisteredOriginGetsNoCorsHeadersAndALogLine) {
  for (const char* origin : {kEvilOrigin, "null", "http://127.0.0.1:8001", "http://127.0.0.1:8000/",
                             "HTTP://127.0.0.1:8000"}) {
    ::testing::internal::CaptureStderr();
    auto r = preflight("/token", origin);
    std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(r.status, 204) << origin;
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin")) << origin;
    EXPECT_FALSE(r.header("Access-Control-Allow-Methods")) << origin;
    EXPECT_FALSE(allows_credentials(r));
    EXPECT_THAT(log, HasSubstr("CORS: no Access-Control-Allow-Origin for origin '" + std::string(origin) + "'"));
    EXPECT_THAT(log, HasSubstr("no client registered"));
  }
}

TEST_F(BrowserAppsTest, TokenResponseToTheClientsOwnOriginIsReadable) {
  auto r = public_login("spa", "openid", {{"origin", kSpaOrigin}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), kSpaOrigin);
  EXPECT_EQ(header(r, "Vary"), "Origin");
  EXPECT_FALSE(allows_credentials(r));
  // Errors are readable too (the app must see invalid_grant to start over).
  auto again = token({{"grant_type", "authorization_code"}, {"code", "used-or-bogus"},
                      {"redirect_uri", "http://127.0.0.1:51000/callback"}, {"code_verifier", kVerifier},
                      {"client_id", "spa"}},
                     {{"origin", kSpaOrigin}});
  EXPECT_EQ(error_of(again), "invalid_grant");
  EXPECT_EQ(header(again, "Access-Control-Allow-Origin"), kSpaOrigin);
}

TEST_F(BrowserAppsTest, AnOriginOfAnotherClientIsNotEnough) {
  // The origin is registered, but by "other": a token request of "spa" from there is not readable.
  ::testing::internal::CaptureStderr();
  auto r = public_login("spa", "openid", {{"origin", kOtherAppOrigin}});
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(r.status, 200) << r.body;  // the browser, not the server, withholds it
  EXPECT_FALSE(r.header("Access-Control-Allow-Origin"));
  EXPECT_EQ(header(r, "Vary"), "Origin");
  EXPECT_THAT(log, HasSubstr("not among the web origins of client 'spa'"));
}

TEST_F(BrowserAppsTest, AnUnregisteredOriginGetsNoCorsHeadersOnTheActualRequest) {
  ::testing::internal::CaptureStderr();
  auto r = public_login("spa", "openid", {{"origin", kEvilOrigin}});
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(r.header("Access-Control-Allow-Origin"));
  EXPECT_FALSE(allows_credentials(r));
  EXPECT_THAT(log, HasSubstr(kEvilOrigin));
  // A request naming no client at all says so.
  ::testing::internal::CaptureStderr();
  auto anonymous = token({{"grant_type", "refresh_token"}, {"refresh_token", "x"}}, {{"origin", kSpaOrigin}});
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(anonymous.header("Access-Control-Allow-Origin"));
  EXPECT_THAT(log, HasSubstr("names no client"));
}

TEST_F(BrowserAppsTest, ServerToServerAndSameOriginRequestsAreUntouched) {
  ::testing::internal::CaptureStderr();
  auto plain = public_login("spa", "openid");
  auto same_origin = public_login("spa", "openid", {{"origin", "https://id.example.com"}});
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(plain.status, 200);
  EXPECT_FALSE(plain.header("Access-Control-Allow-Origin"));
  EXPECT_EQ(same_origin.status, 200);
  EXPECT_FALSE(same_origin.header("Access-Control-Allow-Origin"));
  EXPECT_EQ(log.find("CORS"), std::string::npos) << log;
}

TEST_F(BrowserAppsTest, RevocationFollowsTheRequestsClient) {
  auto tokens = json(public_login("spa", "openid offline_access"));
  auto revoke = [&](const std::string& origin) {
    return provider->handle(oauth::Request{
        "POST", "/revoke", {},
        {{"origin", origin}, {"content-type", "application/x-www-form-urlencoded"}},
        form({{"token", str(tokens, "access_token")}, {"client_id", "spa"}}), "127.0.0.1"});
  };
  auto ok = revoke(kSpaOrigin);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(header(ok, "Access-Control-Allow-Origin"), kSpaOrigin);
  ::testing::internal::CaptureStderr();
  auto foreign = revoke(kOtherAppOrigin);
  ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(foreign.header("Access-Control-Allow-Origin"));
}

TEST_F(BrowserAppsTest, UserinfoFollowsTheClientOfTheAccessToken) {
  auto spa = json(public_login("spa", "openid profile"));
  auto r = userinfo(str(spa, "access_token"), kSpaOrigin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), kSpaOrigin);
  EXPECT_EQ(header(r, "Access-Control-Expose-Headers"), "WWW-Authenticate");
  EXPECT_FALSE(allows_credentials(r));

  // The token of "spa" presented from the origin of "other" is not readable there.
  ::testing::internal::CaptureStderr();
  auto foreign = userinfo(str(spa, "access_token"), kOtherAppOrigin);
  auto forged = userinfo("not-a-token", kSpaOrigin);
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(foreign.status, 200);
  EXPECT_FALSE(foreign.header("Access-Control-Allow-Origin"));
  EXPECT_EQ(forged.status, 401);
  EXPECT_FALSE(forged.header("Access-Control-Allow-Origin"));
  EXPECT_THAT(log, HasSubstr("no valid access token"));

  // An expired token still names its client: the app may read the 401 and refresh.
  clock.advance(2 * 3600);
  auto expired = userinfo(str(spa, "access_token"), kSpaOrigin);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(header(expired, "Access-Control-Allow-Origin"), kSpaOrigin);
}

TEST_F(BrowserAppsTest, DiscoveryAndJwksAreReadableFromAnyOrigin) {
  for (const char* path : {"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks"}) {
    auto r = provider->handle(oauth::Request{"GET", path, {}, {{"origin", kEvilOrigin}}, {}, "1"});
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), "*") << path;
    EXPECT_FALSE(allows_credentials(r)) << path;
  }
}

TEST_F(BrowserAppsTest, AuthorizeAndTheBrowserPagesAreNeverCors) {
  auto page = provider->handle(
      oauth::Request{"GET", "/authorize", form(authorize_params("spa")), {{"origin", kSpaOrigin}}, {}, "1"});
  EXPECT_EQ(page.status, 303);
  EXPECT_FALSE(page.header("Access-Control-Allow-Origin"));
  for (const char* path : {"/authorize", "/logout", "/introspect", "/device_authorization", "/interaction/x"}) {
    auto r = preflight(path, kSpaOrigin);
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin")) << path;
    EXPECT_FALSE(r.header("Access-Control-Allow-Methods")) << path;
  }
}

TEST_F(BrowserAppsTest, WebOriginsAreNormalizedOrRefused) {
  using oauth::normalize_web_origin;
  EXPECT_EQ(normalize_web_origin("https://App.Example.COM").value_or("?"), "https://app.example.com");
  EXPECT_EQ(normalize_web_origin("https://app.example:443").value_or("?"), "https://app.example");
  EXPECT_EQ(normalize_web_origin("https://app.example:8443").value_or("?"), "https://app.example:8443");
  EXPECT_EQ(normalize_web_origin("HTTP://127.0.0.1:8000").value_or("?"), "http://127.0.0.1:8000");
  EXPECT_EQ(normalize_web_origin("http://localhost:80").value_or("?"), "http://localhost");
  EXPECT_EQ(normalize_web_origin("http://[::1]:3000").value_or("?"), "http://[::1]:3000");
  for (const char* bad : {"", "null", "app.example", "https://app.example/", "https://app.example/path",
                          "https://app.example?x=1", "https://app.example#f", "https://user@app.example",
                          "ftp://app.example", "http://app.example", "https://", "https://app.example:",
                          "https://app.example:0", "javascript:alert(1)", "https://%61pp.example"}) {
    EXPECT_FALSE(normalize_web_origin(bad).has_value()) << bad;
  }
  EXPECT_THAT(normalize_web_origin("https://app.example/").error(), HasSubstr("not even a trailing '/'"));
  EXPECT_THAT(normalize_web_origin("http://app.example").error(), HasSubstr("not loopback"));
}

// --- roles and groups ---------------------------------------------------------------------

TEST_F(BrowserAppsTest, AnAllowedClientGetsRolesAndGroupsInTheAccessTokenWhenTheScopeAsks) {
  auto r = public_login("spa", "openid roles groups");
  ASSERT_EQ(r.status, 200) << r.body;
  auto at = verified_claims(str(json(r), "access_token"));
  EXPECT_EQ(claims_json(at, "roles"), R"(["admin"])");
  EXPECT_EQ(claims_json(at, "groups"), R"(["engineering"])");
  EXPECT_EQ(str(at, "scope"), "openid roles groups");

  // One scope, one claim.
  auto only_roles = verified_claims(str(json(public_login("spa", "openid roles")), "access_token"));
  EXPECT_EQ(claims_json(only_roles, "roles"), R"(["admin"])");
  EXPECT_EQ(claims_json(only_roles, "groups"), "(absent)");
  auto none = verified_claims(str(json(public_login("spa", "openid profile")), "access_token"));
  EXPECT_EQ(claims_json(none, "roles"), "(absent)");
  EXPECT_EQ(claims_json(none, "groups"), "(absent)");
}

TEST_F(BrowserAppsTest, AClientThatWasNotAllowedGetsInvalidScopeAndNothingElse) {
  // "other" was allowed no claims and does not list the scopes; "web" neither.
  for (const char* client : {"other", "cli", "web"}) {
    auto r = authorize_and_allow(authorize_params(client, "openid roles"));
    ASSERT_EQ(r.status, 303) << client;
    EXPECT_EQ(parse_location(location(r)).query.get_or("error"), "invalid_scope") << client;
  }
  // Even with the scope among its scopes (a hand-edited registration), no allowance means no roles.
  store::Client sneaky = *store.find_client("other");
  sneaky.id = "sneaky";
  sneaky.scopes.push_back("roles");
  store.put_client(sneaky);
  auto r = authorize_and_allow(authorize_params("sneaky", "openid roles"));
  EXPECT_EQ(parse_location(location(r)).query.get_or("error"), "invalid_scope");
  // And a token of a client without the allowance never carries them.
  auto plain = verified_claims(str(json(public_login("other", "openid profile")), "access_token"));
  EXPECT_EQ(claims_json(plain, "roles"), "(absent)");
}

TEST_F(BrowserAppsTest, IdTokenAndUserinfoCarryRolesOnlyWithTheScope) {
  auto with = json(public_login("spa", "openid profile roles groups"));
  auto id = verified_claims(str(with, "id_token"));
  EXPECT_EQ(claims_json(id, "roles"), R"(["admin"])");
  EXPECT_EQ(claims_json(id, "groups"), R"(["engineering"])");
  auto info = json(userinfo(str(with, "access_token"), ""));
  EXPECT_EQ(claims_json(info, "roles"), R"(["admin"])");
  EXPECT_EQ(claims_json(info, "groups"), R"(["engineering"])");

  auto without = json(public_login("spa", "openid profile"));
  EXPECT_EQ(claims_json(verified_claims(str(without, "id_token")), "roles"), "(absent)");
  auto plain_info = json(userinfo(str(without, "access_token"), ""));
  EXPECT_EQ(claims_json(plain_info, "roles"), "(absent)");
  EXPECT_EQ(claims_json(plain_info, "groups"), "(absent)");
}

TEST_F(BrowserAppsTest, ARefreshedAccessTokenCarriesTheUsersCurrentRoles) {
  auto first = json(public_login("spa", "openid roles offline_access"));
  store.add_user_role("sub-alice", "auditor");
  store.remove_user_role("sub-alice", "admin");
  auto r = token({{"grant_type", "refresh_token"}, {"refresh_token", str(first, "refresh_token")},
                  {"client_id", "spa"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(claims_json(verified_claims(str(json(r), "access_token")), "roles"), R"(["auditor"])");
}

TEST_F(BrowserAppsTest, TakingTheAllowanceBackStopsRolesAtTheNextRefreshAndAtUserinfo) {
  auto first = json(public_login("spa", "openid roles offline_access"));
  // The administrator re-registers the client without the allowance (same id, scopes kept).
  store::Client spa = *store.find_client("spa");
  spa.allowed_claims.clear();
  ASSERT_TRUE(store.delete_client("spa"));
  store.put_client(spa);
  auto info = json(userinfo(str(first, "access_token"), ""));
  EXPECT_EQ(claims_json(info, "roles"), "(absent)");
  auto r = token({{"grant_type", "refresh_token"}, {"refresh_token", str(first, "refresh_token")},
                  {"client_id", "spa"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(claims_json(verified_claims(str(json(r), "access_token")), "roles"), "(absent)");
}

TEST_F(BrowserAppsTest, AUserWithoutRolesGetsNoEmptyClaim) {
  store.remove_user_role("sub-alice", "admin");
  auto at = verified_claims(str(json(public_login("spa", "openid roles groups")), "access_token"));
  EXPECT_EQ(claims_json(at, "roles"), "(absent)");
  EXPECT_EQ(claims_json(at, "groups"), R"(["engineering"])");
}

TEST_F(BrowserAppsTest, ConsentNamesTheRolesAndGroupsScopes) {
  auto r = get("/authorize", form(authorize_params("spa", "openid roles groups")));
  ASSERT_EQ(r.status, 303);
  std::string interaction = location(r);
  r = get(interaction);
  r = post_form(form_action(r.body),
                form({{"csrf", hidden_field(r.body, "csrf")}, {"username", "alice"}, {"password", "correct horse"}}));
  r = get(interaction);
  EXPECT_THAT(r.body, HasSubstr("See your roles"));
  EXPECT_THAT(r.body, HasSubstr("See the groups you belong to"));
}

TEST_F(BrowserAppsTest, DiscoveryAdvertisesTheRolesAndGroupsScopesAndClaims) {
  auto m = json(get("/.well-known/openid-configuration"));
  auto has = [&](const char* key, const char* value) {
    for (const auto& v : m.at(key).as_array())
      if (v.as_string() == value) return true;
    return false;
  };
  EXPECT_TRUE(has("scopes_supported", "roles"));
  EXPECT_TRUE(has("scopes_supported", "groups"));
  EXPECT_TRUE(has("claims_supported", "roles"));
  EXPECT_TRUE(has("claims_supported", "groups"));
}

}  // namespace
}  // namespace latchkey::test
