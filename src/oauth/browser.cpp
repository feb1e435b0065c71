#include "oauth/browser.h"

#include "util/base64url.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::oauth {

std::optional<std::string> find_cookie(const Request& req, std::string_view name) {
  for (const auto& [key, value] : req.headers) {
    if (key != "cookie") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (pair.substr(0, eq) == name) {
        auto v = pair.substr(eq + 1);
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return std::string(v);
      }
    }
  }
  return std::nullopt;
}

std::string session_cookie_name(const ProviderConfig& config) {
  return config.secure_cookies() ? "__Host-latchkey_session" : "latchkey_session";
}

std::string browser_cookie_name(const ProviderConfig& config) {
  return config.secure_cookies() ? "__Host-latchkey_browser" : "latchkey_browser";
}

std::string make_set_cookie(const ProviderConfig& config, std::string_view name, std::string_view value,
                            std::int64_t max_age) {
  std::string c(name);
  c += '=';
  c += value;
  c += "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age);
  if (config.secure_cookies()) c += "; Secure";
  return c;
}

namespace {
// Our cookie values are base64url of 32 bytes; anything else is treated as absent.
bool looks_like_token(std::string_view v) { return v.size() == 43 && util::base64url_decode(v).has_value(); }
}  // namespace

std::string ensure_browser_id(const Context& ctx, const Request& req, Response& response) {
  auto name = browser_cookie_name(ctx.config);
  if (auto existing = find_cookie(req, name); existing && looks_like_token(*existing)) return *existing;
  std::string id = ctx.random.token(32);
  // The browser id outlives sessions; a year is the usual ceiling for such cookies.
  response.add_header("Set-Cookie", make_set_cookie(ctx.config, name, id, 365 * 24 * 3600));
  return id;
}

std::string make_csrf_token(const Context& ctx, std::string_view purpose, std::string_view interaction_id,
                            std::string_view browser_id) {
  std::string input;
  input.append(purpose).append("|").append(interaction_id).append("|").append(browser_id);
  return util::base64url_encode(util::hmac_sha256(ctx.csrf_key, input));
}

bool verify_csrf_token(const Context& ctx, std::string_view token, std::string_view purpose,
                       std::string_view interaction_id, std::string_view browser_id) {
  if (token.empty() || browser_id.empty()) return false;
  return util::constant_time_equal(make_csrf_token(ctx, purpose, interaction_id, browser_id), token);
}

void add_page_security_headers(Response& r) {
  // No form-action directive: Chromium applies it to the redirect that follows a form POST,
  // which would block the redirect back to the client.
  r.set_header("Content-Security-Policy",
               "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
  r.set_header("X-Frame-Options", "DENY");
  r.set_header("Referrer-Policy", "no-referrer");
  r.set_header("Cache-Control", "no-store");
  r.set_header("Pragma", "no-cache");
  r.set_header("X-Content-Type-Options", "nosniff");
}

}  // namespace latchkey::oauth
