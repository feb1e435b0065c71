#pragma once
// A provider wired to an in-memory store, a fake clock and deterministic randomness, plus the
// small steps of a browser (cookies, forms) so each protocol rule is one short test.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>

#include "jose/jws.h"
#include "oauth/provider.h"
#include "store/memory/memory_store.h"
#include "util/base64url.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/password.h"
#include "util/random.h"

namespace latchkey::test {

// Unique, repeatable bytes: SHA-256 of a counter.
class CountingRandom final : public util::Random {
 public:
  void fill(void* out, std::size_t size) override {
    auto* p = static_cast<unsigned char*>(out);
    while (size > 0) {
      auto block = util::sha256("latchkey-test-" + std::to_string(counter_++));
      std::size_t n = std::min(size, block.size());
      std::copy_n(block.begin(), n, p);
      p += n;
      size -= n;
    }
  }

 private:
  std::uint64_t counter_ = 0;
};

inline const std::string kVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";  // RFC 7636 appendix B
inline const std::string kChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
inline const std::string kSecret = "s3cret-of-at-least-thirty-two-characters!";

struct Url {
  std::string path;
  util::Params query;
};

inline Url parse_location(std::string_view location) {
  Url u;
  auto q = location.find('?');
  u.path = std::string(location.substr(0, q));
  if (q != std::string_view::npos) u.query = *util::parse_form(location.substr(q + 1));
  return u;
}

class ProviderTest : public ::testing::Test {
 protected:
  util::FakeClock clock;
  CountingRandom random;
  store::memory::MemoryStore store;
  std::string kek = std::string(32, 'k');
  oauth::KeyRing keys{store, kek};
  oauth::ProviderConfig config;
  std::unique_ptr<oauth::Provider> provider;
  std::map<std::string, std::string> cookies;  // the "browser"

  void SetUp() override {
    config.issuer = "https://id.example.com";
    config.password_cost = util::PasswordCost{1, 8192};  // libsodium minimums: fast tests
    keys.ensure_signing_key(jose::Algorithm::ES256, random, clock);
    keys.reload();
    add_client("web", false, {"https://app.example.com/cb"});
    add_client("cli", true, {"http://127.0.0.1/callback"});
    add_user("alice", "correct horse");
    make_provider();
  }

  void make_provider() { provider = std::make_unique<oauth::Provider>(config, store, keys, clock, random); }

  store::Client add_client(const std::string& id, bool is_public, std::vector<std::string> redirect_uris,
                           std::vector<std::string> grant_types = {"authorization_code", "refresh_token"}) {
    store::Client c;
    c.id = id;
    c.name = "App " + id;
    c.is_public = is_public;
    if (!is_public) c.secret_hash = util::hash_client_secret(kSecret, "salt-" + id);
    c.redirect_uris = std::move(redirect_uris);
    c.scopes = {"openid", "profile", "email", "offline_access", "read"};
    c.grant_types = std::move(grant_types);
    c.audiences = {"https://api.example.com"};
    store.put_client(c);
    return c;
  }

  void add_user(const std::string& username, const std::string& password) {
    store::User u;
    u.id = "sub-" + username;
    u.username = username;
    u.password_hash = util::hash_password(password, config.password_cost);
    u.email = username + "@example.com";
    u.name = "Alice Example";
    store.put_user(u);
  }

  // --- HTTP-ish helpers -----------------------------------------------------------------
  std::string cookie_header() const {
    std::string h;
    for (const auto& [k, v] : cookies) h += (h.empty() ? "" : "; ") + k + "=" + v;
    return h;
  }

  oauth::Response send(oauth::Request req) {
    if (!cookies.empty()) req.headers.emplace_back("cookie", cookie_header());
    auto r = provider->handle(req);
    for (const auto& [k, v] : r.headers) {
      if (k != "Set-Cookie") continue;
      auto eq = v.find('='), semi = v.find(';');
      std::string name = v.substr(0, eq), value = v.substr(eq + 1, semi - eq - 1);
      if (v.find("Max-Age=0") != std::string::npos) cookies.erase(name);
      else cookies[name] = value;
    }
    return r;
  }

  oauth::Response get(const std::string& path, const std::string& query = {}) {
    return send(oauth::Request{"GET", path, query, {}, {}, "127.0.0.1"});
  }

  oauth::Response post_form(const std::string& path, const std::string& body,
                            std::vector<oauth::Header> headers = {}) {
    headers.emplace_back("content-type", "application/x-www-form-urlencoded");
    return send(oauth::Request{"POST", path, {}, std::move(headers), body, "127.0.0.1"});
  }

  static std::string form(const std::vector<std::pair<std::string, std::string>>& params) {
    return util::encode_form(params);
  }

  std::vector<std::pair<std::string, std::string>> authorize_params(const std::string& client = "web",
                                                                    const std::string& scope = "openid profile") {
    std::string redirect = client == "web" ? "https://app.example.com/cb" : "http://127.0.0.1:51000/callback";
    return {{"response_type", "code"}, {"client_id", client},         {"redirect_uri", redirect},
            {"scope", scope},          {"state", "st-123"},           {"nonce", "n-456"},
            {"code_challenge", kChallenge}, {"code_challenge_method", "S256"}};
  }

  static std::string location(const oauth::Response& r) { return std::string(r.header("Location").value_or("")); }

  // Extracts value="..." of the hidden input `name` from a page.
  static std::string hidden_field(const std::string& html, const std::string& name) {
    auto pos = html.find("name=\"" + name + "\" value=\"");
    if (pos == std::string::npos) return {};
    pos += name.size() + 15;
    return html.substr(pos, html.find('"', pos) - pos);
  }

  static std::string form_action(const std::string& html) {
    auto pos = html.find("action=\"");
    if (pos == std::string::npos) return {};
    pos += 8;
    return html.substr(pos, html.find('"', pos) - pos);
  }

  // Runs authorize -> login -> consent(allow) and returns the final redirect.
  oauth::Response authorize_and_allow(const std::vector<std::pair<std::string, std::string>>& params,
                                      const std::string& password = "correct horse") {
    auto r = get("/authorize", form(params));
    if (r.status != 303 || !location(r).starts_with("/interaction/")) return r;
    std::string interaction = location(r);
    r = get(interaction);
    if (r.body.find("name=\"password\"") != std::string::npos) {
      r = post_form(form_action(r.body),
                    form({{"csrf", hidden_field(r.body, "csrf")}, {"username", "alice"}, {"password", password}}));
      if (r.status != 303 || location(r) != interaction) return r;
      r = get(interaction);
    }
    if (r.body.find("name=\"decision\"") == std::string::npos) return r;
    return post_form(form_action(r.body), form({{"csrf", hidden_field(r.body, "csrf")}, {"decision", "allow"}}));
  }

  std::string obtain_code(const std::vector<std::pair<std::string, std::string>>& params) {
    auto r = authorize_and_allow(params);
    EXPECT_EQ(r.status, 303);
    auto u = parse_location(location(r));
    return u.query.get_or("code");
  }

  static std::string basic(const std::string& id, const std::string& secret) {
    return "Basic " + util::base64_encode(util::url_encode(id) + ":" + util::url_encode(secret));
  }

  oauth::Response token(const std::vector<std::pair<std::string, std::string>>& params,
                        std::vector<oauth::Header> headers = {}) {
    auto saved = cookies;  // the token endpoint is called by the client, not the browser
    cookies.clear();
    auto r = post_form("/token", form(params), std::move(headers));
    cookies = saved;
    return r;
  }

  oauth::Response exchange(const std::string& code, const std::string& client = "web") {
    std::vector<std::pair<std::string, std::string>> p{{"grant_type", "authorization_code"},
                                                       {"code", code},
                                                       {"redirect_uri", "https://app.example.com/cb"},
                                                       {"code_verifier", kVerifier}};
    return token(p, {{"authorization", basic(client, kSecret)}});
  }

  static boost::json::object json(const oauth::Response& r) { return boost::json::parse(r.body).as_object(); }
  static std::string error_of(const oauth::Response& r) {
    auto o = json(r);
    return o.contains("error") ? std::string(o.at("error").as_string()) : std::string();
  }

  boost::json::object verified_claims(const std::string& jwt, boost::json::object* header = nullptr) {
    const jose::Algorithm algs[] = {jose::Algorithm::ES256, jose::Algorithm::RS256};
    auto v = jose::verify_jwt(jwt, keys.snapshot()->public_keys, algs);
    EXPECT_TRUE(v.has_value()) << (v ? "" : v.error());
    if (!v) return {};
    if (header) *header = v->header;
    return v->claims;
  }
};

}  // namespace latchkey::test
