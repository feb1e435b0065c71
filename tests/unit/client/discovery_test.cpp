#include "client/discovery.h"

#include <gtest/gtest.h>

#include "fakes.h"

namespace latchkey::client {
namespace {

std::string metadata_for(const std::string& iss) {
  return R"({"issuer":")" + iss + R"(","authorization_endpoint":")" + iss + R"(/authorize","token_endpoint":")" + iss +
         R"(/token","jwks_uri":")" + iss + R"(/jwks","authorization_response_iss_parameter_supported":true,)" +
         R"("token_endpoint_auth_methods_supported":["client_secret_post"]})";
}

TEST(Discovery, WellKnownUrls) {
  EXPECT_EQ(oidc_discovery_url("https://idp.example/"), "https://idp.example/.well-known/openid-configuration");
  EXPECT_EQ(oidc_discovery_url("https://idp.example/tenant"), "https://idp.example/tenant/.well-known/openid-configuration");
  // RFC 8414 §3.1: inserted between host and path.
  EXPECT_EQ(oauth_discovery_url("https://idp.example/tenant"),
            "https://idp.example/.well-known/oauth-authorization-server/tenant");
  EXPECT_EQ(oauth_discovery_url("https://idp.example"), "https://idp.example/.well-known/oauth-authorization-server");
}

TEST(Discovery, ParsesMetadata) {
  auto m = parse_metadata(metadata_for("https://idp.example"), "https://idp.example");
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_EQ(m->token_endpoint, "https://idp.example/token");
  EXPECT_TRUE(m->authorization_response_iss_parameter_supported);
  EXPECT_EQ(m->token_endpoint_auth_methods_supported, std::vector<std::string>{"client_secret_post"});
}

TEST(Discovery, IssuerMustMatchExactly) {
  auto m = parse_metadata(metadata_for("https://idp.example/"), "https://idp.example");
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().todo.find("--issuer https://idp.example/"), std::string::npos);
}

TEST(Discovery, PlainHttpOnlyOnLoopback) {
  EXPECT_TRUE(is_secure_or_loopback_url("http://127.0.0.1:8080"));
  EXPECT_TRUE(is_secure_or_loopback_url("http://[::1]:8080/x"));
  EXPECT_TRUE(is_secure_or_loopback_url("http://localhost"));
  EXPECT_FALSE(is_secure_or_loopback_url("http://idp.example"));
  EXPECT_FALSE(is_secure_or_loopback_url("http://127.0.0.1.evil.example"));
  EXPECT_FALSE(is_secure_or_loopback_url("https://user@idp.example"));
  EXPECT_FALSE(parse_metadata(metadata_for("http://idp.example"), "http://idp.example").has_value());
}

TEST(Discovery, FallsBackToRfc8414AndCaches) {
  testing::TempDir tmp;
  testing::FakeHttp http;
  util::FakeClock clock;
  const std::string iss = "https://idp.example/tenant";
  http.on("GET", "https://idp.example/tenant/.well-known/openid-configuration", 404, "");
  http.on("GET", "https://idp.example/.well-known/oauth-authorization-server/tenant", 200, metadata_for(iss));
  Discovery discovery(http, tmp.path() / "cache", clock);
  auto first = discovery.fetch(iss);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_EQ(http.requests.size(), 2u);
  auto second = discovery.fetch(iss);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(http.requests.size(), 2u) << "the cached document is reused";
  EXPECT_EQ(second->token_endpoint, iss + "/token");
  clock.advance(3601);
  ASSERT_TRUE(discovery.fetch(iss).has_value());
  EXPECT_EQ(http.requests.size(), 4u) << "an old cache entry is refetched";
}

TEST(Discovery, NotFoundAnywhereNamesTheUrl) {
  testing::FakeHttp http;
  util::FakeClock clock;
  http.on("GET", "https://idp.example/.well-known/openid-configuration", 404, "");
  http.on("GET", "https://idp.example/.well-known/oauth-authorization-server", 404, "");
  Discovery discovery(http, {}, clock);
  auto r = discovery.fetch("https://idp.example");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("oauth-authorization-server"), std::string::npos);
}

}  // namespace
}  // namespace latchkey::client
