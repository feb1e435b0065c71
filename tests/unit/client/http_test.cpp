#include "client/http.h"

#include <gtest/gtest.h>

namespace latchkey::client {
namespace {

TEST(Redaction, FormBodiesLoseEverySecret) {
  auto req = form_post("https://idp.example/token", {{"grant_type", "authorization_code"},
                                                     {"code", "SECRET1"},
                                                     {"code_verifier", "SECRET2"},
                                                     {"client_secret", "SECRET3"},
                                                     {"refresh_token", "SECRET4"}});
  req.headers.emplace_back("Authorization", "Basic SECRET5");
  std::string text = describe_request(req);
  for (auto s : {"SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5"}) EXPECT_EQ(text.find(s), std::string::npos) << s;
  EXPECT_NE(text.find("grant_type=authorization_code"), std::string::npos);
  EXPECT_NE(text.find("Authorization: Basic [redacted]"), std::string::npos);
}

TEST(Redaction, JsonBodiesLoseTokensButKeepTheRest) {
  HttpResponse res{200, {{"content-type", "application/json"}},
                   R"({"access_token":"SECRET1","id_token":"SECRET2","refresh_token":"SECRET3","device_code":"SECRET4","expires_in":60,"user_code":"ABCD"})"};
  std::string text = describe_response(res);
  for (auto s : {"SECRET1", "SECRET2", "SECRET3", "SECRET4"}) EXPECT_EQ(text.find(s), std::string::npos) << s;
  EXPECT_NE(text.find("\"expires_in\":60"), std::string::npos);
  EXPECT_NE(text.find("ABCD"), std::string::npos);
}

TEST(Redaction, UnknownBodiesAreNotShown) {
  EXPECT_EQ(redact_body("\x01\x02 binary %zz"), "[13 bytes not shown]");
}

}  // namespace
}  // namespace latchkey::client
