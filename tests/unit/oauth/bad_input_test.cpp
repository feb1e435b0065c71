// Protocol-level defects the bad-input matrix (tests/hardening/test_bad_input.py) found, one rule
// per test: every 405 names the allowed methods, pages answer HEAD, and a malformed userinfo form
// is a malformed request.
#include "harness.h"

namespace latchkey::test {
namespace {

oauth::Request with_method(std::string method, std::string path) {
  return oauth::Request{std::move(method), std::move(path), {}, {}, {}, "127.0.0.1"};
}

std::string allow_of(const oauth::Response& r) { return std::string(r.header("Allow").value_or("")); }

// RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
TEST_F(ProviderTest, EveryMethodNotAllowedNamesTheAllowedMethods) {
  const std::string id(43, 'A');
  struct Expected {
    std::string method, path, allow;
  };
  const std::vector<Expected> cases = {
      {"PUT", "/interaction/" + id, "GET, HEAD"},
      {"GET", "/interaction/" + id + "/login", "POST"},
      {"DELETE", "/interaction/" + id + "/consent", "POST"},
      {"PATCH", "/device", "GET, HEAD, POST"},
      {"PUT", "/logout", "GET, POST"},
      {"POST", "/.well-known/openid-configuration", "GET, HEAD"},
      {"DELETE", "/jwks", "GET, HEAD"},
      {"PUT", "/authorize", "GET, POST"},
      {"GET", "/token", "POST"},
      {"PUT", "/userinfo", "GET, POST"},
  };
  for (const auto& c : cases) {
    auto r = send(with_method(c.method, c.path));
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path;
    EXPECT_EQ(allow_of(r), c.allow) << c.method << " " << c.path;
  }
}

TEST_F(ProviderTest, DiscoveryMethodErrorIsRfc6749Json) {
  auto r = send(with_method("POST", "/jwks"));
  ASSERT_EQ(r.status, 405);
  EXPECT_EQ(json(r).at("error").as_string(), "invalid_request");
}

// RFC 9110 §9.3.2: HEAD is GET without content; the browser pages are GET resources.
TEST_F(ProviderTest, BrowserPagesAnswerHead) {
  auto device = send(with_method("HEAD", "/device"));
  EXPECT_EQ(device.status, 200);
  EXPECT_TRUE(device.body.empty());
  auto interaction = send(with_method("HEAD", "/interaction/" + std::string(43, 'A')));
  EXPECT_EQ(interaction.status, 400);  // unknown interaction: the expired page, not 405
}

// RFC 6750 §3.1: a request that "is otherwise malformed" is invalid_request (400), and the error
// goes into the Bearer challenge too. Before, a broken form body counted as "no token" (401).
TEST_F(ProviderTest, UserinfoMalformedFormBodyIsInvalidRequest) {
  for (std::string body : {"access_token=%G1", "access_token=a%00b", "access_token=%C3%28"}) {
    auto r = post_form("/userinfo", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(json(r).at("error").as_string(), "invalid_request") << body;
    EXPECT_NE(std::string(r.header("WWW-Authenticate").value_or("")).find("error=\"invalid_request\""),
              std::string::npos)
        << body;
  }
  // Another media type carries no token (RFC 6750 §2.2 names only the form): no token, 401.
  auto r = send(oauth::Request{"POST", "/userinfo", {}, {{"content-type", "application/json"}},
                               "{\"access_token\":\"x\"}", "127.0.0.1"});
  EXPECT_EQ(r.status, 401);
}

}  // namespace
}  // namespace latchkey::test
