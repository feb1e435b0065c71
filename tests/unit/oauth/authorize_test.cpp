// Authorization endpoint rules: RFC 6749 §3.1, §4.1.1, §4.1.2.1; RFC 7636 §4.3; OIDC Core §3.1.2.
#include "harness.h"

namespace latchkey::test {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

class AuthorizeTest : public ProviderTest {
 protected:
  Params without(Params p, const std::string& name) {
    std::erase_if(p, [&](const auto& kv) { return kv.first == name; });
    return p;
  }
  Params with(Params p, const std::string& name, const std::string& value) {
    p = without(std::move(p), name);
    p.emplace_back(name, value);
    return p;
  }
  // The error redirected back to the client; fails the test if there was no redirect there.
  Url error_redirect(const Params& p, const std::string& expected_base = "https://app.example.com/cb") {
    auto r = get("/authorize", form(p));
    EXPECT_EQ(r.status, 303) << r.body;
    auto u = parse_location(location(r));
    EXPECT_EQ(u.path, expected_base);
    EXPECT_EQ(u.query.get_or("iss"), config.issuer);  // RFC 9207
    return u;
  }
  void expect_error_page(const Params& p, int status = 400) {
    auto r = get("/authorize", form(p));
    EXPECT_EQ(r.status, status);
    EXPECT_FALSE(r.header("Location").has_value()) << "must never redirect: " << location(r);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "text/html; charset=utf-8");
  }
};

TEST_F(AuthorizeTest, FirstVisitParksTheRequestAndSendsTheBrowserToLogIn) {
  auto r = get("/authorize", form(authorize_params()));
  ASSERT_EQ(r.status, 303);
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
  EXPECT_TRUE(cookies.contains("__Host-latchkey_browser"));
}

TEST_F(AuthorizeTest, UnknownClientGetsAnErrorPageNotARedirect) {
  expect_error_page(with(authorize_params(), "client_id", "nobody"));
}

TEST_F(AuthorizeTest, MissingClientIdGetsAnErrorPage) { expect_error_page(without(authorize_params(), "client_id")); }

TEST_F(AuthorizeTest, MismatchedRedirectUriGetsAnErrorPageNotARedirect) {
  expect_error_page(with(authorize_params(), "redirect_uri", "https://evil.example.com/cb"));
  expect_error_page(with(authorize_params(), "redirect_uri", "https://app.example.com/cb/../x"));
  expect_error_page(with(authorize_params(), "redirect_uri", "https://app.example.com/cb?x=1"));
  expect_error_page(with(authorize_params(), "redirect_uri", "https://APP.example.com/cb"));  // exact match only
}

TEST_F(AuthorizeTest, DuplicatedClientIdOrRedirectUriGetsAnErrorPage) {
  auto p = authorize_params();
  p.emplace_back("client_id", "web");
  expect_error_page(p);
  p = authorize_params();
  p.emplace_back("redirect_uri", "https://app.example.com/cb");
  expect_error_page(p);
}

TEST_F(AuthorizeTest, MissingRedirectUriUsesTheOnlyRegisteredOne) {
  auto r = get("/authorize", form(without(authorize_params(), "redirect_uri")));
  EXPECT_EQ(r.status, 303);
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
}

TEST_F(AuthorizeTest, MissingRedirectUriIsAnErrorWhenSeveralAreRegistered) {
  add_client("multi", false, {"https://a.example.com/cb", "https://b.example.com/cb"});
  expect_error_page(without(with(authorize_params(), "client_id", "multi"), "redirect_uri"));
}

TEST_F(AuthorizeTest, LoopbackRedirectUriMatchesAnyPort) {
  auto p = authorize_params("cli");
  for (const char* uri : {"http://127.0.0.1:51000/callback", "http://127.0.0.1:8/callback", "http://127.0.0.1/callback"}) {
    auto r = get("/authorize", form(with(p, "redirect_uri", uri)));
    EXPECT_EQ(r.status, 303) << uri;
    EXPECT_TRUE(location(r).starts_with("/interaction/")) << uri;
  }
  expect_error_page(with(p, "redirect_uri", "http://127.0.0.1:51000/other"));
  expect_error_page(with(p, "redirect_uri", "http://localhost:51000/callback"));  // other host than registered
  expect_error_page(with(p, "redirect_uri", "https://127.0.0.1:51000/callback"));
}

TEST_F(AuthorizeTest, MissingResponseTypeIsInvalidRequestWithStateAndIss) {
  auto u = error_redirect(without(authorize_params(), "response_type"));
  EXPECT_EQ(u.query.get_or("error"), "invalid_request");
  EXPECT_EQ(u.query.get_or("state"), "st-123");
  EXPECT_FALSE(u.query.get_or("error_description").empty());
}

TEST_F(AuthorizeTest, OtherResponseTypesAreUnsupported) {
  for (const char* rt : {"token", "id_token", "code id_token", "none"})
    EXPECT_EQ(error_redirect(with(authorize_params(), "response_type", rt)).query.get_or("error"),
              "unsupported_response_type")
        << rt;
}

TEST_F(AuthorizeTest, ClientWithoutTheCodeGrantIsUnauthorized) {
  add_client("m2m", false, {"https://m2m.example.com/cb"}, {"client_credentials"});
  auto u = error_redirect(with(with(authorize_params(), "client_id", "m2m"), "redirect_uri", "https://m2m.example.com/cb"),
                          "https://m2m.example.com/cb");
  EXPECT_EQ(u.query.get_or("error"), "unauthorized_client");
}

TEST_F(AuthorizeTest, ScopeMustBePresentAndAllowed) {
  EXPECT_EQ(error_redirect(without(authorize_params(), "scope")).query.get_or("error"), "invalid_scope");
  EXPECT_EQ(error_redirect(with(authorize_params(), "scope", "openid admin")).query.get_or("error"), "invalid_scope");
  EXPECT_EQ(error_redirect(with(authorize_params(), "scope", "openid \"x\"")).query.get_or("error"), "invalid_scope");
}

TEST_F(AuthorizeTest, AudienceAndResourceMustBeAllowedForTheClient) {
  EXPECT_EQ(error_redirect(with(authorize_params(), "audience", "https://other.example.com")).query.get_or("error"),
            "invalid_target");
  EXPECT_EQ(error_redirect(with(authorize_params(), "resource", "https://other.example.com")).query.get_or("error"),
            "invalid_target");
  EXPECT_EQ(error_redirect(with(authorize_params(), "resource", "not a uri")).query.get_or("error"), "invalid_target");
  EXPECT_EQ(get("/authorize", form(with(authorize_params(), "audience", "https://api.example.com"))).status, 303);
}

TEST_F(AuthorizeTest, PublicClientsMustUsePkce) {
  auto p = without(without(authorize_params("cli"), "code_challenge"), "code_challenge_method");
  auto u = error_redirect(p, "http://127.0.0.1:51000/callback");
  EXPECT_EQ(u.query.get_or("error"), "invalid_request");
  EXPECT_NE(u.query.get_or("error_description").find("PKCE"), std::string::npos);
}

TEST_F(AuthorizeTest, ConfidentialClientsMayOmitPkce) {
  auto r = get("/authorize", form(without(without(authorize_params(), "code_challenge"), "code_challenge_method")));
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
}

TEST_F(AuthorizeTest, PlainPkceIsRefusedUnlessConfigured) {
  auto p = with(with(authorize_params(), "code_challenge_method", "plain"), "code_challenge", kVerifier);
  EXPECT_EQ(error_redirect(p).query.get_or("error"), "invalid_request");
  // RFC 7636 §4.3: no method means plain.
  EXPECT_EQ(error_redirect(without(p, "code_challenge_method")).query.get_or("error"), "invalid_request");
  config.allow_plain_pkce = true;
  make_provider();
  EXPECT_TRUE(location(get("/authorize", form(p))).starts_with("/interaction/"));
}

TEST_F(AuthorizeTest, MalformedCodeChallengeIsRefused) {
  EXPECT_EQ(error_redirect(with(authorize_params(), "code_challenge", "short")).query.get_or("error"), "invalid_request");
  EXPECT_EQ(error_redirect(with(authorize_params(), "code_challenge", std::string(43, '+'))).query.get_or("error"),
            "invalid_request");
  EXPECT_EQ(error_redirect(with(authorize_params(), "code_challenge_method", "S512")).query.get_or("error"),
            "invalid_request");
}

TEST_F(AuthorizeTest, RepeatedParameterIsInvalidRequest) {
  auto p = authorize_params();
  p.emplace_back("scope", "openid");
  auto u = error_redirect(p);
  EXPECT_EQ(u.query.get_or("error"), "invalid_request");
  EXPECT_NE(u.query.get_or("error_description").find("scope"), std::string::npos);
  p = authorize_params();
  p.emplace_back("state", "other");
  EXPECT_EQ(error_redirect(p).query.get_or("error"), "invalid_request");
}

TEST_F(AuthorizeTest, ResourceMayRepeat) {
  add_client("multi-aud", false, {"https://m.example.com/cb"});
  auto c = *store.find_client("multi-aud");
  auto p = with(with(authorize_params(), "client_id", "multi-aud"), "redirect_uri", "https://m.example.com/cb");
  p.emplace_back("resource", "https://api.example.com");
  p.emplace_back("resource", "https://api.example.com");
  EXPECT_TRUE(location(get("/authorize", form(p))).starts_with("/interaction/"));
}

TEST_F(AuthorizeTest, RequestObjectsAndOtherResponseModesAreRefused) {
  EXPECT_EQ(error_redirect(with(authorize_params(), "request", "eyJ...")).query.get_or("error"), "invalid_request");
  EXPECT_EQ(error_redirect(with(authorize_params(), "request_uri", "urn:x")).query.get_or("error"), "invalid_request");
  EXPECT_EQ(error_redirect(with(authorize_params(), "response_mode", "fragment")).query.get_or("error"),
            "invalid_request");
}

TEST_F(AuthorizeTest, PromptNoneWithoutSessionIsLoginRequired) {
  auto u = error_redirect(with(authorize_params(), "prompt", "none"));
  EXPECT_EQ(u.query.get_or("error"), "login_required");
  EXPECT_EQ(u.query.get_or("state"), "st-123");
}

TEST_F(AuthorizeTest, PromptNoneCannotBeCombined) {
  EXPECT_EQ(error_redirect(with(authorize_params(), "prompt", "none login")).query.get_or("error"), "invalid_request");
  EXPECT_EQ(error_redirect(with(authorize_params(), "prompt", "bogus")).query.get_or("error"), "invalid_request");
}

TEST_F(AuthorizeTest, MaxAgeMustBeANonNegativeInteger) {
  EXPECT_EQ(error_redirect(with(authorize_params(), "max_age", "-1")).query.get_or("error"), "invalid_request");
  EXPECT_EQ(error_redirect(with(authorize_params(), "max_age", "10x")).query.get_or("error"), "invalid_request");
}

TEST_F(AuthorizeTest, MalformedQueryGetsAnErrorPage) {
  for (const char* q : {"client_id=web&x=%ZZ", "client_id=%FF%FE", "client_id=web%00"}) {
    auto r = get("/authorize", q);
    EXPECT_EQ(r.status, 400) << q;
    EXPECT_FALSE(r.header("Location").has_value());
  }
}

TEST_F(AuthorizeTest, PostWithAFormWorksAndOtherBodiesDoNot) {
  auto r = post_form("/authorize", form(authorize_params()));
  EXPECT_TRUE(location(r).starts_with("/interaction/"));
  auto bad = send(oauth::Request{"POST", "/authorize", {}, {{"content-type", "application/json"}}, "{}", "127.0.0.1"});
  EXPECT_EQ(bad.status, 400);
  EXPECT_FALSE(bad.header("Location").has_value());
  EXPECT_EQ(get("/authorize").status, 400);
  EXPECT_EQ(send(oauth::Request{"PUT", "/authorize", {}, {}, {}, "127.0.0.1"}).status, 405);
}

TEST_F(AuthorizeTest, StateIsEchoedUnchanged) {
  std::string state = "a b&c=d/é?#";
  auto r = authorize_and_allow(with(authorize_params(), "state", state));
  auto u = parse_location(location(r));
  EXPECT_EQ(u.query.get_or("state"), state);
  EXPECT_FALSE(u.query.get_or("code").empty());
}

TEST_F(AuthorizeTest, ErrorRedirectKeepsTheRegisteredQuery) {
  add_client("q", false, {"https://q.example.com/cb?tenant=7"});
  auto p = with(with(authorize_params(), "client_id", "q"), "redirect_uri", "https://q.example.com/cb?tenant=7");
  auto r = get("/authorize", form(without(p, "response_type")));
  auto u = parse_location(location(r));
  EXPECT_EQ(u.query.get_or("tenant"), "7");
  EXPECT_EQ(u.query.get_or("error"), "invalid_request");
}

}  // namespace
}  // namespace latchkey::test
