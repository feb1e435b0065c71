// Audit log (issue 7 §7): the JSON line format, and a full flow whose log holds every security
// event and no secret (codes, tokens, passwords, client secrets, session ids).
#include <gmock/gmock.h>

#include <mutex>
#include <set>
#include <vector>

#include "harness.h"
#include "oauth/audit.h"

namespace latchkey::test {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

std::mutex g_lines_mutex;
std::vector<std::string> g_lines;

void capture(std::string_view /*level*/, std::string_view message) {
  std::lock_guard lock(g_lines_mutex);
  g_lines.emplace_back(message);
}

TEST(AuditLine, IsOneJsonObjectMarkedAuditWithTheEventAndNonEmptyFields) {
  auto line = oauth::audit_line("login_failed", {{"client_id", "web"}, {"user_id", ""}, {"address", "192.0.2.1"}});
  auto o = boost::json::parse(line).as_object();
  EXPECT_EQ(o.at("audit"), true);
  EXPECT_EQ(o.at("event"), "login_failed");
  EXPECT_EQ(o.at("client_id"), "web");
  EXPECT_EQ(o.at("address"), "192.0.2.1");
  EXPECT_FALSE(o.contains("user_id"));
}

TEST(AuditLine, HostileValuesCannotBreakTheLineOrForgeFields) {
  auto line = oauth::audit_line("client_auth_failed", {{"client_id", "x\",\"event\":\"login_succeeded\"}\n{\"audit"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto o = boost::json::parse(line).as_object();
  EXPECT_EQ(o.at("event"), "client_auth_failed");
  EXPECT_EQ(o.size(), 3u);
}

TEST(AuditLine, LongValuesAreCapped) {
  std::string huge(10000, 'a');
  auto o = boost::json::parse(oauth::audit_line("e", {{"client_id", huge}})).as_object();
  EXPECT_EQ(o.at("client_id").as_string().size(), 256u);
}

class AuditFlowTest : public ProviderTest {
 protected:
  void SetUp() override {
    ProviderTest::SetUp();
    {
      std::lock_guard lock(g_lines_mutex);
      g_lines.clear();
    }
    oauth::set_log_sink(&capture);
  }
  void TearDown() override { oauth::set_log_sink(nullptr); }

  oauth::Response client_post(const std::string& path, const Params& p, const std::string& secret = kSecret) {
    auto saved = cookies;
    cookies.clear();
    auto r = post_form(path, form(p), {{"authorization", basic("web", secret)}});
    cookies = saved;
    return r;
  }
  // Every audit event of the captured log, in order.
  static std::vector<boost::json::object> audit_events() {
    std::lock_guard lock(g_lines_mutex);
    std::vector<boost::json::object> out;
    for (const auto& line : g_lines) {
      if (!line.starts_with("{\"audit\":true")) continue;
      out.push_back(boost::json::parse(line).as_object());
    }
    return out;
  }
  static std::set<std::string> event_names() {
    std::set<std::string> names;
    for (const auto& e : audit_events()) names.emplace(e.at("event").as_string());
    return names;
  }
};

TEST_F(AuditFlowTest, AFullFlowLogsEverySecurityEventAndNoSecret) {
  std::vector<std::string> secrets{"correct horse", "wrong-password-42", kSecret, "wrong-client-secret", kVerifier};

  // A failed login, then login + consent + code.
  auto r = get("/authorize", form(authorize_params()));
  auto interaction = location(r);
  auto page = get(interaction);
  post_form(interaction + "/login",
            form({{"csrf", hidden_field(page.body, "csrf")}, {"username", "alice"}, {"password", "wrong-password-42"}}));
  std::string code1 = obtain_code(authorize_params("web", "openid offline_access"));
  secrets.push_back(code1);
  for (const auto& [name, value] : cookies) secrets.push_back(value);  // session and browser ids

  auto tokens1 = json(exchange(code1));
  for (const char* t : {"access_token", "refresh_token", "id_token"}) secrets.emplace_back(tokens1.at(t).as_string());
  const std::string rt1(tokens1.at("refresh_token").as_string());

  // Refresh, then the rotated-away token again: reuse.
  auto refreshed = client_post("/token", {{"grant_type", "refresh_token"}, {"refresh_token", rt1}});
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  for (const char* t : {"access_token", "refresh_token"}) secrets.emplace_back(json(refreshed).at(t).as_string());
  EXPECT_EQ(client_post("/token", {{"grant_type", "refresh_token"}, {"refresh_token", rt1}}).status, 400);

  // A second code: its tokens revoked, then the code used again.
  std::string code2 = obtain_code(authorize_params("web", "openid offline_access"));
  secrets.push_back(code2);
  auto tokens2 = json(exchange(code2));
  const std::string at2(tokens2.at("access_token").as_string()), rt2(tokens2.at("refresh_token").as_string());
  secrets.push_back(at2);
  secrets.push_back(rt2);
  EXPECT_EQ(client_post("/revoke", {{"token", at2}}).status, 200);
  EXPECT_EQ(client_post("/revoke", {{"token", rt2}}).status, 200);
  EXPECT_EQ(exchange(code2).status, 400);

  // A denied consent (another client, no consent yet) and a failed client authentication.
  r = get("/authorize", form(authorize_params("cli")));
  page = get(location(r));
  r = post_form(form_action(page.body), form({{"csrf", hidden_field(page.body, "csrf")}, {"decision", "deny"}}));
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(client_post("/token", {{"grant_type", "refresh_token"}, {"refresh_token", "x"}}, "wrong-client-secret").status,
            401);

  EXPECT_THAT(event_names(), ::testing::IsSupersetOf({"login_failed", "login_succeeded", "consent_granted",
                                                      "consent_denied", "refresh_token_reuse", "token_revoked",
                                                      "code_reuse", "client_auth_failed"}));
  for (const auto& e : audit_events()) {
    const std::string name(e.at("event").as_string());
    if (name == "login_failed" || name == "login_succeeded") {
      EXPECT_EQ(e.at("user_id"), "sub-alice");
    }
    if (name == "login_succeeded" || name == "consent_granted") {
      EXPECT_EQ(e.at("client_id"), "web");
    }
    if (name == "consent_denied") {
      EXPECT_EQ(e.at("client_id"), "cli");
    }
  }

  std::lock_guard lock(g_lines_mutex);
  ASSERT_FALSE(g_lines.empty());
  for (const auto& line : g_lines)
    for (const auto& secret : secrets) {
      ASSERT_FALSE(secret.empty());
      EXPECT_EQ(line.find(secret), std::string::npos) << "secret in log line: " << line;
    }
}

TEST_F(AuditFlowTest, ThrottlingIsAudited) {
  auto r = get("/authorize", form(authorize_params()));
  auto interaction = location(r);
  for (int i = 0; i < 6; ++i) {
    auto page = get(interaction);
    post_form(interaction + "/login",
              form({{"csrf", hidden_field(page.body, "csrf")}, {"username", "nobody"}, {"password", "guess"}}));
  }
  auto events = audit_events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().at("event"), "login_throttled");
  EXPECT_EQ(events.back().at("retry_after"), "2");
  EXPECT_EQ(events[events.size() - 2].at("locked_for"), "2");
  EXPECT_FALSE(events[events.size() - 2].contains("user_id"));  // nobody: no id, and no name either
  for (const auto& e : events) EXPECT_EQ(boost::json::serialize(e).find("nobody"), std::string::npos);
}

}  // namespace
}  // namespace latchkey::test
