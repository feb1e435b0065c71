// Discovery (OIDC Discovery §3, RFC 8414 §2) and JWKS.
#include "harness.h"

namespace latchkey::test {
namespace {

TEST_F(ProviderTest, DiscoveryIsCompleteAndTruthful) {
  for (const char* path : {"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}) {
    auto r = get(path);
    ASSERT_EQ(r.status, 200) << path;
    auto m = json(r);
    EXPECT_EQ(m.at("issuer").as_string(), config.issuer);
    EXPECT_EQ(m.at("authorization_endpoint").as_string(), config.issuer + "/authorize");
    EXPECT_EQ(m.at("token_endpoint").as_string(), config.issuer + "/token");
    EXPECT_EQ(m.at("jwks_uri").as_string(), config.issuer + "/jwks");
    EXPECT_EQ(boost::json::serialize(m.at("response_types_supported")), R"(["code"])");
    EXPECT_EQ(boost::json::serialize(m.at("code_challenge_methods_supported")), R"(["S256"])");
    EXPECT_EQ(boost::json::serialize(m.at("id_token_signing_alg_values_supported")), R"(["ES256"])");
    EXPECT_EQ(boost::json::serialize(m.at("subject_types_supported")), R"(["public"])");
    EXPECT_TRUE(m.at("authorization_response_iss_parameter_supported").as_bool());
    EXPECT_FALSE(m.at("request_uri_parameter_supported").as_bool());
    // Nothing advertised that is not built.
    EXPECT_FALSE(m.contains("registration_endpoint"));
    EXPECT_FALSE(m.contains("pushed_authorization_request_endpoint"));
  }
}

TEST_F(ProviderTest, JwksPublishesThePublicKeyOnly) {
  auto r = get("/jwks");
  ASSERT_EQ(r.status, 200);
  auto jwks = json(r);
  auto& k = jwks.at("keys").as_array().at(0).as_object();
  EXPECT_EQ(k.at("kid").as_string(), keys.snapshot()->active->kid);
  EXPECT_EQ(k.at("kty").as_string(), "EC");
  EXPECT_FALSE(k.contains("d"));
  EXPECT_TRUE(jose::parse_jwks(r.body).has_value());
}

TEST_F(ProviderTest, UnknownPathsAre404Pages) {
  auto r = get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("X-Frame-Options").value_or(""), "DENY");
}

}  // namespace
}  // namespace latchkey::test
