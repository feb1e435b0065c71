// Token endpoint: RFC 6749 §2.3, §3.2, §4.1.3-4.1.4, §5; RFC 7636 §4.5-4.6; RFC 9068; OIDC Core §3.1.3.
#include "harness.h"

namespace latchkey::test {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

class TokenTest : public ProviderTest {
 protected:
  Params code_params(const std::string& code) {
    return {{"grant_type", "authorization_code"},
            {"code", code},
            {"redirect_uri", "https://app.example.com/cb"},
            {"code_verifier", kVerifier}};
  }
  oauth::Response with_basic(const Params& p, const std::string& id = "web", const std::string& secret = kSecret) {
    return token(p, {{"authorization", basic(id, secret)}});
  }
  void expect_error(const oauth::Response& r, const std::string& code, int status = 400) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(error_of(r), code) << r.body;
    EXPECT_EQ(r.header("Cache-Control").value_or(""), "no-store");
  }
};

TEST_F(TokenTest, CodeExchangeIssuesVerifiableTokens) {
  auto p = authorize_params("web", "openid profile email");
  auto code = obtain_code(p);
  auto r = exchange(code);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Cache-Control").value_or(""), "no-store");
  EXPECT_EQ(r.header("Pragma").value_or(""), "no-cache");
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  auto body = json(r);
  EXPECT_EQ(body.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(body.at("expires_in").as_int64(), config.access_token_ttl);
  EXPECT_EQ(body.at("scope").as_string(), "openid profile email");
  EXPECT_FALSE(body.contains("refresh_token"));  // no offline_access asked

  boost::json::object header;
  auto at = verified_claims(std::string(body.at("access_token").as_string()), &header);
  EXPECT_EQ(header.at("typ").as_string(), "at+jwt");  // RFC 9068 §2.1
  EXPECT_EQ(header.at("alg").as_string(), "ES256");
  EXPECT_EQ(header.at("kid").as_string(), keys.snapshot()->active->kid);
  EXPECT_EQ(at.at("iss").as_string(), config.issuer);
  EXPECT_EQ(at.at("sub").as_string(), "sub-alice");
  EXPECT_EQ(at.at("aud").as_string(), config.issuer);  // the default audience
  EXPECT_EQ(at.at("client_id").as_string(), "web");
  EXPECT_EQ(at.at("scope").as_string(), "openid profile email");
  EXPECT_EQ(at.at("iat").as_int64(), clock.now());
  EXPECT_EQ(at.at("exp").as_int64(), clock.now() + config.access_token_ttl);
  EXPECT_TRUE(at.contains("jti"));
  EXPECT_TRUE(at.contains("auth_time"));

  auto id = verified_claims(std::string(body.at("id_token").as_string()), &header);
  EXPECT_EQ(header.at("typ").as_string(), "JWT");
  EXPECT_EQ(id.at("iss").as_string(), config.issuer);
  EXPECT_EQ(id.at("aud").as_string(), "web");
  EXPECT_EQ(id.at("azp").as_string(), "web");
  EXPECT_EQ(id.at("sub").as_string(), "sub-alice");
  EXPECT_EQ(id.at("nonce").as_string(), "n-456");
  EXPECT_EQ(id.at("auth_time").as_int64(), at.at("auth_time").as_int64());
  EXPECT_EQ(id.at("at_hash").as_string(), jose::at_hash(std::string(body.at("access_token").as_string()),
                                                       jose::Algorithm::ES256));
  EXPECT_EQ(id.at("email").as_string(), "alice@example.com");
  EXPECT_EQ(id.at("preferred_username").as_string(), "alice");
}

TEST_F(TokenTest, RequestedAudienceIsTheAccessTokensAud) {
  auto p = authorize_params();
  p.emplace_back("audience", "https://api.example.com");
  auto body = json(exchange(obtain_code(p)));
  auto at = verified_claims(std::string(body.at("access_token").as_string()));
  EXPECT_EQ(at.at("aud").as_string(), "https://api.example.com");
}

TEST_F(TokenTest, NoIdTokenWithoutOpenid) {
  auto body = json(exchange(obtain_code(authorize_params("web", "read"))));
  EXPECT_FALSE(body.contains("id_token"));
  EXPECT_TRUE(body.contains("access_token"));
}

TEST_F(TokenTest, OfflineAccessBringsAHashedRefreshToken) {
  auto body = json(exchange(obtain_code(authorize_params("web", "openid offline_access"))));
  ASSERT_TRUE(body.contains("refresh_token"));
  std::string rt(body.at("refresh_token").as_string());
  EXPECT_GE(rt.size(), 43u);
  EXPECT_FALSE(store.find_refresh_token(rt).has_value());
  EXPECT_TRUE(store.find_refresh_token(util::secret_hash(rt)).has_value());
}

TEST_F(TokenTest, NoRefreshTokenForAClientThatMayNotRefresh) {
  add_client("norefresh", false, {"https://n.example.com/cb"}, {"authorization_code"});
  auto p = authorize_params("web", "openid offline_access");
  for (auto& [k, v] : p) {
    if (k == "client_id") v = "norefresh";
    if (k == "redirect_uri") v = "https://n.example.com/cb";
  }
  auto code = obtain_code(p);
  auto cp = code_params(code);
  cp[2].second = "https://n.example.com/cb";
  auto body = json(with_basic(cp, "norefresh"));
  EXPECT_TRUE(body.contains("access_token"));
  EXPECT_FALSE(body.contains("refresh_token"));
}

TEST_F(TokenTest, PublicClientExchangesWithPkceAndNoSecret) {
  auto code = obtain_code(authorize_params("cli"));
  auto r = token({{"grant_type", "authorization_code"},
                  {"code", code},
                  {"redirect_uri", "http://127.0.0.1:51000/callback"},
                  {"client_id", "cli"},
                  {"code_verifier", kVerifier}});
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(TokenTest, WrongOrMissingCodeVerifierIsInvalidGrant) {
  auto code = obtain_code(authorize_params());
  auto p = code_params(code);
  p[3].second = std::string(43, 'a');
  expect_error(with_basic(p), "invalid_grant");
  auto code2 = obtain_code(authorize_params());
  auto p2 = code_params(code2);
  p2.pop_back();
  expect_error(with_basic(p2), "invalid_grant");
}

TEST_F(TokenTest, VerifierWithoutChallengeIsAPkceDowngrade) {
  auto a = authorize_params();
  std::erase_if(a, [](auto& kv) { return kv.first.starts_with("code_challenge"); });
  expect_error(with_basic(code_params(obtain_code(a))), "invalid_grant");
}

TEST_F(TokenTest, ExpiredCodeIsInvalidGrant) {
  auto code = obtain_code(authorize_params());
  clock.advance(config.code_ttl);
  expect_error(exchange(code), "invalid_grant");
}

TEST_F(TokenTest, CodeStillWorksJustBeforeExpiry) {
  auto code = obtain_code(authorize_params());
  clock.advance(config.code_ttl - 1);
  EXPECT_EQ(exchange(code).status, 200);
}

TEST_F(TokenTest, ReusedCodeFailsAndRevokesWhatItIssued) {
  auto code = obtain_code(authorize_params("web", "openid offline_access"));
  auto first = json(exchange(code));
  std::string rt(first.at("refresh_token").as_string());
  std::string access_token(first.at("access_token").as_string());
  auto introspect = [&] {
    auto r = post_form("/introspect", form({{"token", access_token}}), {{"authorization", basic("web", kSecret)}});
    return json(r).at("active").as_bool();
  };
  ASSERT_TRUE(introspect());

  expect_error(exchange(code), "invalid_grant");
  auto refresh = store.find_refresh_token(util::secret_hash(rt));
  ASSERT_TRUE(refresh);
  EXPECT_NE(store.find_grant(refresh->grant_id)->revoked_at, 0);
  // The access token is stateless: its grant's revocation is what ends it.
  EXPECT_FALSE(introspect());
}

TEST_F(TokenTest, UnknownCodeIsInvalidGrant) { expect_error(exchange("not-a-code"), "invalid_grant"); }

TEST_F(TokenTest, CodeOfAnotherClientIsInvalidGrant) {
  add_client("other", false, {"https://app.example.com/cb"});
  auto code = obtain_code(authorize_params());
  expect_error(exchange(code, "other"), "invalid_grant");
}

TEST_F(TokenTest, RedirectUriMustMatchTheAuthorizationRequest) {
  auto code = obtain_code(authorize_params());
  auto p = code_params(code);
  p[2].second = "https://app.example.com/other";
  expect_error(with_basic(p), "invalid_grant");
  auto code2 = obtain_code(authorize_params());
  auto p2 = code_params(code2);
  p2.erase(p2.begin() + 2);
  expect_error(with_basic(p2), "invalid_grant");
}

TEST_F(TokenTest, ClientAuthenticationFailures) {
  auto code = obtain_code(authorize_params());
  auto p = code_params(code);
  // Wrong secret over Basic: 401 with WWW-Authenticate (RFC 6749 §5.2).
  auto r = with_basic(p, "web", "wrong-secret");
  expect_error(r, "invalid_client", 401);
  EXPECT_TRUE(r.header("WWW-Authenticate").value_or("").starts_with("Basic"));
  // Unknown client.
  expect_error(with_basic(p, "ghost", kSecret), "invalid_client", 401);
  // Wrong secret in the body: 401 without a Basic challenge.
  auto post = p;
  post.emplace_back("client_id", "web");
  post.emplace_back("client_secret", "wrong");
  r = token(post);
  expect_error(r, "invalid_client", 401);
  EXPECT_FALSE(r.header("WWW-Authenticate").has_value());
  // Confidential client without authentication.
  auto none = p;
  none.emplace_back("client_id", "web");
  expect_error(token(none), "invalid_client", 401);
  // No client at all.
  expect_error(token(p), "invalid_client", 401);
  // Public client presenting a secret.
  auto pub = p;
  pub.emplace_back("client_id", "cli");
  pub.emplace_back("client_secret", "x");
  expect_error(token(pub), "invalid_client", 401);
  // Malformed Basic header.
  expect_error(token(p, {{"authorization", "Basic !!!"}}), "invalid_client", 401);
  expect_error(token(p, {{"authorization", "Basic " + util::base64_encode("no-colon")}}), "invalid_client", 401);
  // Basic client_id differs from body client_id.
  auto mismatch = p;
  mismatch.emplace_back("client_id", "cli");
  expect_error(with_basic(mismatch), "invalid_client", 401);
  // The code survived all of that: it was never consumed by a failed authentication.
  EXPECT_EQ(with_basic(p).status, 200);
}

TEST_F(TokenTest, ClientSecretPostWorks) {
  auto p = code_params(obtain_code(authorize_params()));
  p.emplace_back("client_id", "web");
  p.emplace_back("client_secret", kSecret);
  EXPECT_EQ(token(p).status, 200);
}

TEST_F(TokenTest, BasicCredentialsAreFormUrlDecoded) {
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before Base64.
  add_client("a:b c", false, {"https://app.example.com/cb"});
  auto p = authorize_params();
  p[1].second = "a:b c";
  auto code = obtain_code(p);
  EXPECT_EQ(with_basic(code_params(code), "a:b c", kSecret).status, 200);
}

TEST_F(TokenTest, TwoAuthenticationMethodsAtOnceIsInvalidRequest) {
  auto p = code_params(obtain_code(authorize_params()));
  p.emplace_back("client_secret", kSecret);
  expect_error(with_basic(p), "invalid_request");
}

TEST_F(TokenTest, RequestShapeErrors) {
  expect_error(get("/token"), "invalid_request", 405);
  auto json_body = send(oauth::Request{"POST", "/token", {}, {{"content-type", "application/json"}}, "{}", "1"});
  expect_error(json_body, "invalid_request");
  auto with_query = send(oauth::Request{"POST", "/token", "client_secret=x",
                                        {{"content-type", "application/x-www-form-urlencoded"}}, "", "1"});
  expect_error(with_query, "invalid_request");
  expect_error(post_form("/token", "grant_type=authorization_code&grant_type=authorization_code"), "invalid_request");
  expect_error(post_form("/token", "grant_type=%ZZ"), "invalid_request");
  expect_error(with_basic({{"code", "x"}}), "invalid_request");                        // no grant_type
  expect_error(with_basic({{"grant_type", "password"}}), "unsupported_grant_type");   // not supported
  expect_error(with_basic({{"grant_type", "authorization_code"}}), "invalid_request");  // no code
}

TEST_F(TokenTest, ContentTypeWithCharsetIsAccepted) {
  auto p = code_params(obtain_code(authorize_params()));
  auto r = send(oauth::Request{"POST", "/token", {}, {{"content-type", "Application/x-www-form-urlencoded; charset=UTF-8"},
                                                      {"authorization", basic("web", kSecret)}},
                               form(p), "1"});
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(TokenTest, ClientNotAllowedTheGrantIsUnauthorized) {
  add_client("codeonly", false, {"https://c.example.com/cb"}, {"refresh_token"});
  expect_error(with_basic({{"grant_type", "authorization_code"}, {"code", "x"}}, "codeonly"), "unauthorized_client");
}

TEST_F(TokenTest, RsaSigningIsSelectable) {
  store::memory::MemoryStore rsa_store;
  oauth::KeyRing rsa_keys(rsa_store, kek);
  rsa_keys.ensure_signing_key(jose::Algorithm::RS256, random, clock);
  rsa_keys.reload();
  EXPECT_EQ(rsa_keys.snapshot()->active->alg, jose::Algorithm::RS256);
}

TEST_F(TokenTest, UnexpectedFailuresBecomeServerErrorWithoutDetail) {
  // A key ring with no keys makes signing throw: the caller sees server_error only.
  store::memory::MemoryStore empty_store;
  oauth::KeyRing empty_keys(empty_store, kek);
  auto code = obtain_code(authorize_params());
  oauth::Provider broken(config, store, empty_keys, clock, random);
  auto r = broken.handle(oauth::Request{"POST", "/token", {}, {{"content-type", "application/x-www-form-urlencoded"},
                                                              {"authorization", basic("web", kSecret)}},
                                       form(code_params(code)), "1"});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(error_of(r), "server_error");
  EXPECT_EQ(r.body.find("signing"), std::string::npos);
}

// A database that went away mid-request (issue 6: PostgreSQL restarted under load).
class UnreachableStore : public store::memory::MemoryStore {
 public:
  std::optional<store::Client> find_client(const std::string&) override {
    throw store::StoreUnavailable("connection refused");
  }
};

TEST_F(TokenTest, AnUnreachableDatabaseIs503WithRetryAfterNot500) {
  UnreachableStore down;
  oauth::Provider provider(config, down, keys, clock, random);
  auto r = provider.handle(oauth::Request{"POST", "/token", {}, {{"content-type", "application/x-www-form-urlencoded"},
                                                                {"authorization", basic("web", kSecret)}},
                                          "grant_type=client_credentials", "1"});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error_of(r), "temporarily_unavailable");
  ASSERT_TRUE(r.header("Retry-After"));
  EXPECT_EQ(*r.header("Retry-After"), "2");
  EXPECT_EQ(r.body.find("connection refused"), std::string::npos);

  auto page = provider.handle(oauth::Request{"GET", "/authorize", "client_id=web", {}, "", "1"});
  EXPECT_EQ(page.status, 503);
  EXPECT_TRUE(page.header("Retry-After"));
}

}  // namespace
}  // namespace latchkey::test
