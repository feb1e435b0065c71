// Token lifecycle: refresh rotation (RFC 6749 §6, RFC 9700 §4.14), client_credentials (§4.4),
// device flow (RFC 8628), revocation (RFC 7009), introspection (RFC 7662), userinfo (OIDC §5.3,
// RFC 6750), RP-initiated logout, key rotation.
#include "harness.h"
#include "oauth/own_tokens.h"

namespace latchkey::test {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

class LifecycleTest : public ProviderTest {
 protected:
  void SetUp() override {
    ProviderTest::SetUp();
    add_client("api", false, {"https://api.example.com/unused"}, {"client_credentials"});
    add_client("tv", true, {"https://tv.example.com/unused"},
               {"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"});
  }

  boost::json::object login_tokens(const std::string& scope = "openid profile email offline_access") {
    auto r = exchange(obtain_code(authorize_params("web", scope)));
    EXPECT_EQ(r.status, 200) << r.body;
    return json(r);
  }
  oauth::Response refresh(const std::string& rt, const std::string& client = "web", Params extra = {}) {
    Params p{{"grant_type", "refresh_token"}, {"refresh_token", rt}};
    for (auto& e : extra) p.push_back(e);
    return token(p, {{"authorization", basic(client, kSecret)}});
  }
  oauth::Response client_post(const std::string& path, const Params& p, const std::string& client = "web") {
    auto saved = cookies;
    cookies.clear();
    auto r = post_form(path, form(p), {{"authorization", basic(client, kSecret)}});
    cookies = saved;
    return r;
  }
  bool introspect_active(const std::string& token) {
    auto r = client_post("/introspect", {{"token", token}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json(r).at("active").as_bool();
  }
  oauth::Response userinfo(const std::string& at) {
    return send(oauth::Request{"GET", "/userinfo", {}, {{"authorization", "Bearer " + at}}, {}, "1"});
  }
  static std::string str(const boost::json::object& o, const char* k) { return std::string(o.at(k).as_string()); }
};

// --- refresh_token ------------------------------------------------------------------------

TEST_F(LifecycleTest, RefreshRotatesTheToken) {
  auto first = login_tokens();
  auto r = refresh(str(first, "refresh_token"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto second = json(r);
  EXPECT_NE(str(second, "refresh_token"), str(first, "refresh_token"));
  EXPECT_NE(str(second, "access_token"), str(first, "access_token"));
  EXPECT_EQ(refresh(str(second, "refresh_token")).status, 200);
}

TEST_F(LifecycleTest, ReusingARotatedTokenRevokesTheWholeGrant) {
  auto first = login_tokens();
  auto second = json(refresh(str(first, "refresh_token")));
  EXPECT_TRUE(introspect_active(str(second, "access_token")));
  auto reuse = refresh(str(first, "refresh_token"));
  EXPECT_EQ(reuse.status, 400);
  EXPECT_EQ(error_of(reuse), "invalid_grant");
  // The legitimate holder's newer tokens die too: the grant is revoked.
  EXPECT_EQ(error_of(refresh(str(second, "refresh_token"))), "invalid_grant");
  EXPECT_FALSE(introspect_active(str(second, "access_token")));
  EXPECT_FALSE(introspect_active(str(first, "access_token")));
}

TEST_F(LifecycleTest, RefreshMayNarrowButNeverWidenScope) {
  auto first = login_tokens("openid profile offline_access");
  auto narrowed = refresh(str(first, "refresh_token"), "web", {{"scope", "openid"}});
  ASSERT_EQ(narrowed.status, 200);
  EXPECT_EQ(json(narrowed).at("scope").as_string(), "openid");
  auto wider = refresh(str(json(narrowed), "refresh_token"), "web", {{"scope", "openid email"}});
  EXPECT_EQ(error_of(wider), "invalid_scope");
}

TEST_F(LifecycleTest, OnlyTheClientOfTheGrantMayRefresh) {
  add_client("web2", false, {"https://app.example.com/cb"});
  auto first = login_tokens();
  EXPECT_EQ(error_of(refresh(str(first, "refresh_token"), "web2")), "invalid_grant");
  EXPECT_EQ(refresh(str(first, "refresh_token")).status, 200);  // untouched by the attempt
}

TEST_F(LifecycleTest, IdleAndAbsoluteLifetimes) {
  auto first = login_tokens();
  clock.advance(config.refresh_token_idle_ttl);
  EXPECT_EQ(error_of(refresh(str(first, "refresh_token"))), "invalid_grant");
}

TEST_F(LifecycleTest, AbsoluteLifetimeCapsRotation) {
  config.refresh_token_ttl = 100;
  config.refresh_token_idle_ttl = 80;
  make_provider();
  auto t = login_tokens();
  clock.advance(60);
  auto r = refresh(str(t, "refresh_token"));
  ASSERT_EQ(r.status, 200);
  clock.advance(50);  // within the idle window of the new token, past the grant's end
  EXPECT_EQ(error_of(refresh(str(json(r), "refresh_token"))), "invalid_grant");
}

TEST_F(LifecycleTest, RefreshedIdTokenKeepsAuthTimeAndHasNoNonce) {
  auto first = login_tokens();
  clock.advance(30);
  auto second = json(refresh(str(first, "refresh_token")));
  auto id1 = verified_claims(str(first, "id_token"));
  auto id2 = verified_claims(str(second, "id_token"));
  EXPECT_EQ(id2.at("auth_time"), id1.at("auth_time"));
  EXPECT_FALSE(id2.contains("nonce"));
  EXPECT_EQ(id2.at("iat").as_int64(), clock.now());
}

TEST_F(LifecycleTest, RefreshErrors) {
  EXPECT_EQ(error_of(refresh("")), "invalid_request");
  EXPECT_EQ(error_of(refresh("unknown")), "invalid_grant");
  EXPECT_EQ(error_of(refresh(std::string(2000, 'x'))), "invalid_grant");
}

// --- client_credentials -------------------------------------------------------------------

TEST_F(LifecycleTest, ClientCredentialsForConfidentialClients) {
  auto r = client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "read"}, {"audience", "https://api.example.com"}},
                       "api");
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = json(r);
  EXPECT_FALSE(body.contains("refresh_token"));
  EXPECT_FALSE(body.contains("id_token"));
  auto at = verified_claims(str(body, "access_token"));
  EXPECT_EQ(at.at("sub").as_string(), "api");
  EXPECT_EQ(at.at("aud").as_string(), "https://api.example.com");
  EXPECT_EQ(at.at("scope").as_string(), "read");
  EXPECT_TRUE(introspect_active(str(body, "access_token")));
}

TEST_F(LifecycleTest, ClientCredentialsRules) {
  EXPECT_EQ(error_of(client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "openid"}}, "api")),
            "invalid_scope");
  EXPECT_EQ(error_of(client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "admin"}}, "api")),
            "invalid_scope");
  EXPECT_EQ(error_of(client_post("/token", {{"grant_type", "client_credentials"}, {"resource", "https://x.example"}}, "api")),
            "invalid_target");
  add_client("pubcc", true, {"https://p.example.com/cb"}, {"client_credentials"});
  auto r = token({{"grant_type", "client_credentials"}, {"client_id", "pubcc"}});
  EXPECT_EQ(error_of(r), "unauthorized_client");
  EXPECT_EQ(error_of(client_post("/token", {{"grant_type", "client_credentials"}})), "unauthorized_client");  // web may not
}

// --- device flow --------------------------------------------------------------------------

class DeviceFlowTest : public LifecycleTest {
 protected:
  boost::json::object start(const std::string& scope = "openid offline_access") {
    auto saved = cookies;
    cookies.clear();
    auto d = post_form("/device_authorization", form({{"client_id", "tv"}, {"scope", scope}}));
    cookies = saved;
    EXPECT_EQ(d.status, 200) << d.body;
    return json(d);
  }
  oauth::Response poll(const std::string& device_code) {
    return token({{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"}, {"device_code", device_code},
                  {"client_id", "tv"}});
  }
  // The user's side: device page, code, login, consent.
  oauth::Response approve(const std::string& user_code, const std::string& decision = "allow") {
    auto page = get("/device");
    auto r = post_form("/device", form({{"csrf", hidden_field(page.body, "csrf")}, {"user_code", user_code}}));
    if (r.status != 303) return r;
    std::string interaction = location(r);
    r = get(interaction);
    if (r.body.find("name=\"password\"") != std::string::npos) {
      r = post_form(interaction + "/login",
                    form({{"csrf", hidden_field(r.body, "csrf")}, {"username", "alice"}, {"password", "correct horse"}}));
      r = get(interaction);
    }
    return post_form(interaction + "/consent", form({{"csrf", hidden_field(r.body, "csrf")}, {"decision", decision}}));
  }
};

TEST_F(DeviceFlowTest, AuthorizationResponseHasEverything) {
  auto d = start();
  std::string user_code = str(d, "user_code");
  ASSERT_EQ(user_code.size(), 9u);
  EXPECT_EQ(user_code[4], '-');
  for (char c : user_code)
    if (c != '-') {
      EXPECT_NE(std::string_view("BCDFGHJKLMNPQRSTVWXZ").find(c), std::string_view::npos) << c;
    }
  EXPECT_EQ(str(d, "verification_uri"), config.issuer + "/device");
  EXPECT_EQ(str(d, "verification_uri_complete"), config.issuer + "/device?user_code=" + user_code);
  EXPECT_EQ(d.at("expires_in").as_int64(), config.device_code_ttl);
  EXPECT_EQ(d.at("interval").as_int64(), config.device_poll_interval);
  EXPECT_GE(str(d, "device_code").size(), 43u);
}

TEST_F(DeviceFlowTest, EndToEndWithSlowDown) {
  auto d = start();
  std::string dc = str(d, "device_code");
  EXPECT_EQ(error_of(poll(dc)), "authorization_pending");
  auto fast = poll(dc);  // same second
  EXPECT_EQ(error_of(fast), "slow_down");
  clock.advance(6);  // the interval is now 10 s
  EXPECT_EQ(error_of(poll(dc)), "slow_down");
  clock.advance(15);
  EXPECT_EQ(error_of(poll(dc)), "authorization_pending");

  // lower case and without the dash works too
  std::string typed = str(d, "user_code");
  for (auto& c : typed) c = static_cast<char>(std::tolower(c));
  auto done = approve(typed);
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find("Device connected"), std::string::npos);

  clock.advance(15);
  auto tokens = poll(dc);
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  EXPECT_TRUE(json(tokens).contains("refresh_token"));
  EXPECT_EQ(verified_claims(str(json(tokens), "access_token")).at("sub").as_string(), "sub-alice");
  clock.advance(15);
  EXPECT_EQ(error_of(poll(dc)), "invalid_grant");  // works once
}

TEST_F(DeviceFlowTest, DenyAndExpiry) {
  auto d = start();
  auto page = approve(str(d, "user_code"), "deny");
  EXPECT_NE(page.body.find("Access denied"), std::string::npos);
  auto denied = poll(str(d, "device_code"));
  EXPECT_EQ(error_of(denied), "access_denied");
  // RFC 8628 §3.5 errors are token endpoint errors: RFC 6749 §5.2 answers them with 400.
  EXPECT_EQ(denied.status, 400);
  auto d2 = start();
  clock.advance(config.device_code_ttl);
  EXPECT_EQ(error_of(poll(str(d2, "device_code"))), "expired_token");
  EXPECT_EQ(approve(str(d2, "user_code")).status, 400);  // the page refuses an expired code
}

TEST_F(DeviceFlowTest, BadCodesAndClients) {
  EXPECT_EQ(approve("BCDF-GHJK").status, 400);
  EXPECT_EQ(approve("nonsense").status, 400);
  auto page = get("/device");
  EXPECT_EQ(post_form("/device", form({{"user_code", "BCDF-GHJK"}})).status, 403);  // no CSRF
  EXPECT_EQ(error_of(poll("unknown")), "invalid_grant");
  auto r = post_form("/device_authorization", form({{"client_id", "cli"}, {"scope", "openid"}}));
  EXPECT_EQ(error_of(r), "unauthorized_client");
  r = post_form("/device_authorization", form({{"client_id", "tv"}}));
  EXPECT_EQ(error_of(r), "invalid_scope");
  // Another client polling this device code learns nothing.
  auto d = start();
  add_client("tv2", true, {"https://tv2.example.com/x"}, {"urn:ietf:params:oauth:grant-type:device_code"});
  auto foreign = token({{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                        {"device_code", str(d, "device_code")}, {"client_id", "tv2"}});
  EXPECT_EQ(error_of(foreign), "invalid_grant");
}

TEST_F(DeviceFlowTest, VerificationUriCompletePrefillsTheCode) {
  auto d = start();
  auto page = get("/device", "user_code=" + str(d, "user_code"));
  EXPECT_NE(page.body.find("value=\"" + str(d, "user_code") + "\""), std::string::npos);
  EXPECT_EQ(page.header("X-Frame-Options").value_or(""), "DENY");
}

// --- revocation ---------------------------------------------------------------------------

TEST_F(LifecycleTest, RevokingARefreshTokenRevokesItsGrant) {
  auto t = login_tokens();
  auto r = client_post("/revoke", {{"token", str(t, "refresh_token")}, {"token_type_hint", "refresh_token"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(error_of(refresh(str(t, "refresh_token"))), "invalid_grant");
  EXPECT_FALSE(introspect_active(str(t, "access_token")));
}

TEST_F(LifecycleTest, RevokingAnAccessTokenDeniesItsJti) {
  auto t = login_tokens();
  ASSERT_EQ(userinfo(str(t, "access_token")).status, 200);
  clock.advance(10);
  EXPECT_EQ(client_post("/revoke", {{"token", str(t, "access_token")}, {"token_type_hint", "bogus_hint"}}).status, 200);
  EXPECT_FALSE(introspect_active(str(t, "access_token")));
  EXPECT_EQ(userinfo(str(t, "access_token")).status, 401);
  // The revocation is the one row written for an access token: jti, grant, client, the token's
  // exp (purge_expired drops it afterwards) and the time.
  auto claims = verified_claims(str(t, "access_token"));
  auto row = store.find_access_token(str(claims, "jti"));
  ASSERT_TRUE(row);
  EXPECT_EQ(row->grant_id, str(claims, "grant_id"));
  EXPECT_EQ(row->client_id, "web");
  EXPECT_EQ(row->expires_at, claims.at("exp").as_int64());
  EXPECT_EQ(row->revoked_at, clock.now());
  // Only that access token: the grant lives on, and so do its other access tokens.
  auto next = refresh(str(t, "refresh_token"));
  ASSERT_EQ(next.status, 200);
  EXPECT_TRUE(introspect_active(str(json(next), "access_token")));
  EXPECT_EQ(userinfo(str(json(next), "access_token")).status, 200);
}

// --- stateless access tokens --------------------------------------------------------------

TEST_F(LifecycleTest, IssuingAccessTokensWritesNoRow) {
  auto t = login_tokens();
  auto claims = verified_claims(str(t, "access_token"));
  EXPECT_FALSE(store.find_access_token(str(claims, "jti")));
  // The token names its grant: the refresh token's.
  auto rt = store.find_refresh_token(util::secret_hash(str(t, "refresh_token")));
  ASSERT_TRUE(rt);
  EXPECT_EQ(str(claims, "grant_id"), rt->grant_id);
  EXPECT_TRUE(introspect_active(str(t, "access_token")));

  auto refreshed = json(refresh(str(t, "refresh_token")));
  auto refreshed_claims = verified_claims(str(refreshed, "access_token"));
  EXPECT_FALSE(store.find_access_token(str(refreshed_claims, "jti")));
  EXPECT_EQ(str(refreshed_claims, "grant_id"), rt->grant_id);

  auto cc = json(client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "read"}}, "api"));
  auto cc_claims = verified_claims(str(cc, "access_token"));
  EXPECT_FALSE(store.find_access_token(str(cc_claims, "jti")));
  EXPECT_FALSE(cc_claims.contains("grant_id"));  // no user, no grant
  EXPECT_TRUE(introspect_active(str(cc, "access_token")));
}

TEST_F(LifecycleTest, RevokingTheGrantEndsItsStatelessAccessTokens) {
  auto t = login_tokens();
  auto second = json(refresh(str(t, "refresh_token")));
  ASSERT_TRUE(introspect_active(str(t, "access_token")));
  ASSERT_EQ(userinfo(str(second, "access_token")).status, 200);
  auto grant_id = str(verified_claims(str(t, "access_token")), "grant_id");

  // RFC 7009 on the refresh token revokes the grant; no access-token row is written.
  EXPECT_EQ(client_post("/revoke", {{"token", str(second, "refresh_token")}}).status, 200);
  EXPECT_NE(store.find_grant(grant_id)->revoked_at, 0);
  for (const auto* tokens : {&t, &second}) {
    auto at = str(*tokens, "access_token");
    EXPECT_FALSE(introspect_active(at));
    EXPECT_EQ(userinfo(at).status, 401);
    EXPECT_FALSE(store.find_access_token(str(verified_claims(at), "jti")));
  }
}

TEST_F(LifecycleTest, ATokenWhoseGrantIsGoneIsInactive) {
  // A grant purged (or lost) while a token naming it is unexpired: the token must not outlive it.
  auto t = json(client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "read"}}, "api"));
  auto claims = verified_claims(str(t, "access_token"));
  claims["grant_id"] = "no-such-grant";
  claims["client_id"] = "web";
  auto token = jose::sign_jwt(keys.snapshot()->active->key, keys.snapshot()->active->kid, "at+jwt", claims);
  EXPECT_FALSE(introspect_active(token));
  claims.erase("grant_id");
  token = jose::sign_jwt(keys.snapshot()->active->key, keys.snapshot()->active->kid, "at+jwt", claims);
  EXPECT_TRUE(introspect_active(token));  // the same token without a grant: a client's own token
}

TEST_F(LifecycleTest, RevokingAClientCredentialsTokenDeniesIt) {
  auto t = json(client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "read"}}, "api"));
  auto other = json(client_post("/token", {{"grant_type", "client_credentials"}, {"scope", "read"}}, "api"));
  EXPECT_EQ(client_post("/revoke", {{"token", str(t, "access_token")}}, "api").status, 200);
  auto row = store.find_access_token(str(verified_claims(str(t, "access_token")), "jti"));
  ASSERT_TRUE(row);
  EXPECT_EQ(row->grant_id, "");
  EXPECT_EQ(row->client_id, "api");
  EXPECT_FALSE(introspect_active(str(t, "access_token")));
  EXPECT_TRUE(introspect_active(str(other, "access_token")));
}

TEST_F(LifecycleTest, RevokingAnExpiredAccessTokenWritesNothing) {
  auto t = login_tokens();
  clock.advance(config.access_token_ttl);
  EXPECT_EQ(client_post("/revoke", {{"token", str(t, "access_token")}}).status, 200);
  EXPECT_FALSE(store.find_access_token(str(verified_claims(str(t, "access_token")), "jti")));
  EXPECT_FALSE(introspect_active(str(t, "access_token")));
}

TEST_F(LifecycleTest, RevocationEdges) {
  EXPECT_EQ(client_post("/revoke", {{"token", "unknown"}}).status, 200);  // RFC 7009 §2.2
  EXPECT_EQ(error_of(client_post("/revoke", {})), "invalid_request");
  auto bad_auth = post_form("/revoke", form({{"token", "x"}}), {{"authorization", basic("web", "wrong")}});
  EXPECT_EQ(bad_auth.status, 401);
  add_client("web2", false, {"https://app.example.com/cb"});
  auto t = login_tokens();
  EXPECT_EQ(error_of(client_post("/revoke", {{"token", str(t, "refresh_token")}}, "web2")), "unauthorized_client");
  EXPECT_EQ(error_of(client_post("/revoke", {{"token", str(t, "access_token")}}, "web2")), "unauthorized_client");
  EXPECT_EQ(refresh(str(t, "refresh_token")).status, 200);
  EXPECT_EQ(get("/revoke").status, 405);
}

// --- introspection ------------------------------------------------------------------------

TEST_F(LifecycleTest, IntrospectionOfActiveTokens) {
  auto t = login_tokens();
  auto r = client_post("/introspect", {{"token", str(t, "access_token")}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Cache-Control").value_or(""), "no-store");
  auto b = json(r);
  EXPECT_TRUE(b.at("active").as_bool());
  EXPECT_EQ(b.at("client_id").as_string(), "web");
  EXPECT_EQ(b.at("sub").as_string(), "sub-alice");
  EXPECT_EQ(b.at("username").as_string(), "alice");
  EXPECT_EQ(b.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(b.at("iss").as_string(), config.issuer);
  EXPECT_TRUE(b.contains("exp") && b.contains("iat") && b.contains("scope") && b.contains("aud"));
  auto rt = json(client_post("/introspect", {{"token", str(t, "refresh_token")}}));
  EXPECT_TRUE(rt.at("active").as_bool());
  EXPECT_EQ(rt.at("token_type").as_string(), "refresh_token");
}

TEST_F(LifecycleTest, IntrospectionSaysInactiveForBadTokens) {
  auto t = login_tokens();
  EXPECT_FALSE(introspect_active("garbage"));
  EXPECT_FALSE(introspect_active(str(t, "id_token")));  // not an access token
  // A token signed by someone else's key with our claims.
  store::memory::MemoryStore other_store;
  oauth::KeyRing other(other_store, kek);
  other.ensure_signing_key(jose::Algorithm::ES256, random, clock);
  other.reload();
  auto claims = verified_claims(str(t, "access_token"));
  auto forged = jose::sign_jwt(other.snapshot()->active->key, keys.snapshot()->active->kid, "at+jwt", claims);
  EXPECT_FALSE(introspect_active(forged));
  clock.advance(config.access_token_ttl);
  EXPECT_FALSE(introspect_active(str(t, "access_token")));  // expired
}

TEST_F(LifecycleTest, IntrospectionNeedsAConfidentialClient) {
  auto r = post_form("/introspect", form({{"token", "x"}, {"client_id", "cli"}}));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(error_of(r), "invalid_client");
  EXPECT_EQ(post_form("/introspect", form({{"token", "x"}})).status, 401);
  EXPECT_EQ(error_of(client_post("/introspect", {})), "invalid_request");
}

// --- userinfo -----------------------------------------------------------------------------

TEST_F(LifecycleTest, UserinfoClaimsFollowTheScope) {
  auto only_openid = json(exchange(obtain_code(authorize_params("web", "openid"))));
  auto r = userinfo(str(only_openid, "access_token"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto c = json(r);
  EXPECT_EQ(c.at("sub").as_string(), "sub-alice");
  EXPECT_FALSE(c.contains("email"));
  EXPECT_FALSE(c.contains("name"));
  auto all = login_tokens("openid profile email");
  c = json(userinfo(str(all, "access_token")));
  EXPECT_EQ(c.at("email").as_string(), "alice@example.com");
  EXPECT_EQ(c.at("name").as_string(), "Alice Example");
  EXPECT_EQ(c.at("preferred_username").as_string(), "alice");
}

TEST_F(LifecycleTest, UserinfoBearerErrors) {
  auto none = get("/userinfo");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("WWW-Authenticate").value_or(""), "Bearer realm=\"latchkey\"");
  auto bad = userinfo("garbage");
  EXPECT_EQ(bad.status, 401);
  EXPECT_NE(bad.header("WWW-Authenticate").value_or("").find("error=\"invalid_token\""), std::string::npos);
  auto no_openid = json(exchange(obtain_code(authorize_params("web", "read"))));
  auto forbidden = userinfo(str(no_openid, "access_token"));
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_NE(forbidden.header("WWW-Authenticate").value_or("").find("insufficient_scope"), std::string::npos);
  auto scheme = send(oauth::Request{"GET", "/userinfo", {}, {{"authorization", "Basic abc"}}, {}, "1"});
  EXPECT_EQ(scheme.status, 400);
}

TEST_F(LifecycleTest, UserinfoAcceptsTheTokenInAPostBodyButNotTwice) {
  auto t = login_tokens("openid");
  auto body = post_form("/userinfo", form({{"access_token", str(t, "access_token")}}));
  EXPECT_EQ(body.status, 200) << body.body;
  auto both = post_form("/userinfo", form({{"access_token", str(t, "access_token")}}),
                        {{"authorization", "Bearer " + str(t, "access_token")}});
  EXPECT_EQ(both.status, 400);
  EXPECT_EQ(error_of(both), "invalid_request");
}

// --- logout -------------------------------------------------------------------------------

TEST_F(LifecycleTest, LogoutWithIdTokenHintEndsTheSessionAndRedirects) {
  auto t = login_tokens();
  auto r = get("/logout", form({{"id_token_hint", str(t, "id_token")},
                                {"post_logout_redirect_uri", "https://app.example.com/cb"},
                                {"state", "bye"}}));
  ASSERT_EQ(r.status, 303) << r.body;
  auto u = parse_location(location(r));
  EXPECT_EQ(u.path, "https://app.example.com/cb");
  EXPECT_EQ(u.query.get_or("state"), "bye");
  EXPECT_FALSE(cookies.contains("__Host-latchkey_session"));
  EXPECT_TRUE(location(get("/authorize", form(authorize_params()))).starts_with("/interaction/"));
}

TEST_F(LifecycleTest, LogoutRefusesUnregisteredRedirects) {
  auto t = login_tokens();
  EXPECT_EQ(get("/logout", form({{"id_token_hint", str(t, "id_token")},
                                 {"post_logout_redirect_uri", "https://evil.example.com/"}}))
                .status,
            400);
  EXPECT_EQ(get("/logout", form({{"post_logout_redirect_uri", "https://app.example.com/cb"}})).status, 400);
  EXPECT_EQ(get("/logout", form({{"id_token_hint", "garbage"}})).status, 400);
  EXPECT_EQ(get("/logout", form({{"id_token_hint", str(t, "id_token")}, {"client_id", "cli"}})).status, 400);
}

TEST_F(LifecycleTest, LogoutWithoutHintAsksFirst) {
  login_tokens();
  auto page = get("/logout");
  ASSERT_EQ(page.status, 200);
  EXPECT_TRUE(cookies.contains("__Host-latchkey_session"));  // nothing happened yet
  EXPECT_EQ(post_form("/logout", form({{"confirm", "yes"}, {"csrf", "forged"}})).status, 200);
  EXPECT_TRUE(cookies.contains("__Host-latchkey_session"));
  auto done = post_form("/logout", form({{"confirm", "yes"}, {"csrf", hidden_field(page.body, "csrf")}}));
  EXPECT_EQ(done.status, 200);
  EXPECT_NE(done.body.find("signed out"), std::string::npos);
  EXPECT_FALSE(cookies.contains("__Host-latchkey_session"));
}

// --- keys and discovery -------------------------------------------------------------------

TEST_F(LifecycleTest, KeyRotationKeepsOldTokensValid) {
  auto t = login_tokens();
  std::string old_kid = keys.snapshot()->active->kid;
  std::string new_kid = keys.rotate(jose::Algorithm::ES256, random, clock);
  keys.reload_if_changed();
  EXPECT_EQ(keys.snapshot()->active->kid, new_kid);
  EXPECT_NE(get("/jwks").body.find(old_kid), std::string::npos);
  EXPECT_TRUE(introspect_active(str(t, "access_token")));  // signed by the old key
  auto t2 = login_tokens();
  boost::json::object header;
  verified_claims(str(t2, "access_token"), &header);
  EXPECT_EQ(header.at("kid").as_string(), new_kid);
  // Prune only after every token the old key signed has expired.
  EXPECT_TRUE(keys.prune(clock, config.id_token_ttl).empty());
  clock.advance(config.id_token_ttl);
  EXPECT_EQ(keys.prune(clock, config.id_token_ttl), std::vector<std::string>{old_kid});
  keys.reload_if_changed();
  EXPECT_EQ(get("/jwks").body.find(old_kid), std::string::npos);
}

TEST_F(LifecycleTest, DiscoveryListsTheLifecycleEndpoints) {
  auto m = json(get("/.well-known/openid-configuration"));
  EXPECT_EQ(str(m, "userinfo_endpoint"), config.issuer + "/userinfo");
  EXPECT_EQ(str(m, "revocation_endpoint"), config.issuer + "/revoke");
  EXPECT_EQ(str(m, "introspection_endpoint"), config.issuer + "/introspect");
  EXPECT_EQ(str(m, "device_authorization_endpoint"), config.issuer + "/device_authorization");
  EXPECT_EQ(str(m, "end_session_endpoint"), config.issuer + "/logout");
  auto grants = boost::json::serialize(m.at("grant_types_supported"));
  for (const char* g : {"refresh_token", "client_credentials", "device_code"})
    EXPECT_NE(grants.find(g), std::string::npos) << g;
}

// --- access tokens issued before they became stateless --------------------------------------

// A database upgraded from the release that stored a row per access token at issuance. Such rows
// (revoked_at 0) can no longer be written through store.h, so this store serves them beside its own.
class StoreWithRowsFromIssuance : public store::memory::MemoryStore {
 public:
  std::map<std::string, store::AccessTokenRecord> issued;
  std::optional<store::AccessTokenRecord> find_access_token(const std::string& jti) override {
    if (auto row = MemoryStore::find_access_token(jti)) return row;
    auto it = issued.find(jti);
    return it == issued.end() ? std::nullopt : std::optional(it->second);
  }
};

class OlderAccessTokenTest : public ::testing::Test {
 protected:
  util::FakeClock clock;
  CountingRandom random;
  StoreWithRowsFromIssuance store;
  oauth::KeyRing keys{store, std::string(32, 'k')};
  oauth::ProviderConfig config;
  oauth::Context ctx{config, store, keys, clock, random, {}};

  void SetUp() override {
    config.issuer = "https://id.example.com";
    keys.ensure_signing_key(jose::Algorithm::ES256, random, clock);
    keys.reload();
    store.put_grant({.id = "g-old", .client_id = "web", .user_id = "sub-alice", .scopes = {"openid"},
                     .audiences = {}, .nonce = {}, .auth_time = clock.now(), .created_at = clock.now(),
                     .expires_at = 0, .revoked_at = 0});
  }
  // A token as the earlier release signed it: no grant_id claim, a row written at issuance.
  oauth::AccessTokenView issue_old_token(const std::string& jti) {
    boost::json::object claims{{"iss", config.issuer}, {"sub", "sub-alice"},  {"aud", config.issuer},
                               {"exp", clock.now() + 300}, {"iat", clock.now()}, {"jti", jti},
                               {"client_id", "web"},      {"scope", "openid"}};
    store.issued[jti] = {.jti = jti, .grant_id = "g-old", .client_id = "web", .expires_at = clock.now() + 300,
                         .revoked_at = 0};
    auto token = jose::sign_jwt(keys.snapshot()->active->key, keys.snapshot()->active->kid, "at+jwt", claims);
    auto view = oauth::decode_own_access_token(ctx, token);
    EXPECT_TRUE(view);
    EXPECT_EQ(view ? view->grant_id : "?", "");
    return view ? *view : oauth::AccessTokenView{};
  }
};

TEST_F(OlderAccessTokenTest, TheRowFromIssuanceNamesTheGrantThatEndsIt) {
  auto token = issue_old_token("jti-old");
  EXPECT_TRUE(oauth::is_access_token_active(ctx, token));
  // revoke_grant does not reach rows this store serves on the side: the grant check must.
  ASSERT_TRUE(store.revoke_grant("g-old", clock.now()));
  EXPECT_EQ(store.find_access_token("jti-old")->revoked_at, 0);
  EXPECT_FALSE(oauth::is_access_token_active(ctx, token));
}

TEST_F(OlderAccessTokenTest, RevokingItKeepsItsGrantAndDeniesIt) {
  auto token = issue_old_token("jti-old");
  store.revoke_access_token(oauth::revoked_access_token_record(token, clock.now()));
  EXPECT_FALSE(oauth::is_access_token_active(ctx, token));
  EXPECT_EQ(store.find_grant("g-old")->revoked_at, 0);
}

}  // namespace
}  // namespace latchkey::test
