#include "oauth/pages.h"

#include "oauth/browser.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

using util::html_escape;

constexpr std::string_view kStylesheet = R"css(
:root { color-scheme: light dark; --accent: #3c5ccf; --muted: #6b7280; --border: #d9dce3; }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f3f4f8; color: #1f2430; }
main { width: 100%; max-width: 400px; margin: 24px; background: #fff; border: 1px solid var(--border);
  border-radius: 12px; padding: 32px; box-shadow: 0 8px 24px rgba(20, 30, 60, .08); }
.brand { font-weight: 700; letter-spacing: .02em; color: var(--accent); margin-bottom: 16px; }
h1 { font-size: 1.35rem; margin: 0 0 8px; }
p { margin: 0 0 16px; }
.muted { color: var(--muted); font-size: .9rem; }
label { display: block; font-weight: 600; font-size: .9rem; margin: 12px 0 4px; }
input[type=text], input[type=password] { width: 100%; padding: 10px 12px; border: 1px solid var(--border);
  border-radius: 8px; font: inherit; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button { font: inherit; font-weight: 600; padding: 10px 16px; border-radius: 8px; border: 1px solid var(--accent);
  cursor: pointer; }
button.primary { background: var(--accent); color: #fff; width: 100%; margin-top: 20px; }
.actions { display: flex; gap: 12px; margin-top: 20px; }
.actions button { flex: 1; }
.actions button.primary { margin-top: 0; }
button.secondary { background: #fff; color: var(--accent); }
.error { background: #fdecec; color: #8a1c1c; border: 1px solid #f5c2c2; border-radius: 8px; padding: 10px 12px;
  margin-bottom: 12px; }
ul.scopes { list-style: none; padding: 0; margin: 0 0 8px; }
ul.scopes li { padding: 10px 0; border-bottom: 1px solid var(--border); }
ul.scopes li:last-child { border-bottom: 0; }
code { font-size: .85rem; }
@media (prefers-color-scheme: dark) {
  body { background: #12141a; color: #e6e8ee; }
  main { background: #1b1e26; border-color: #2c3140; box-shadow: none; }
  input[type=text], input[type=password] { background: #12141a; color: inherit; border-color: #2c3140; }
  button.secondary { background: transparent; }
  .error { background: #3a1717; color: #ffd2d2; border-color: #5c2323; }
}
)css";

std::string layout(std::string_view title, std::string_view body) {
  std::string html;
  html.reserve(1024 + body.size());
  html += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<meta name=\"referrer\" content=\"no-referrer\"><title>";
  html += html_escape(title);
  html += " · Latchkey</title><link rel=\"stylesheet\" href=\"/assets/latchkey.css\"></head><body><main>"
          "<div class=\"brand\">Latchkey</div>";
  html += body;
  html += "</main></body></html>\n";
  return html;
}

Response html_response(int status, std::string html) {
  Response r;
  r.status = status;
  r.set_header("Content-Type", "text/html; charset=utf-8");
  add_page_security_headers(r);
  r.body = std::move(html);
  return r;
}

}  // namespace

std::string describe_scope(std::string_view scope) {
  if (scope == "openid") return "Confirm who you are (your account identifier)";
  if (scope == "profile") return "See your name and username";
  if (scope == "email") return "See your email address";
  if (scope == "offline_access") return "Stay signed in: keep access while you are away (refresh tokens)";
  if (scope == "address") return "See your postal address";
  if (scope == "phone") return "See your phone number";
  if (scope == "roles") return "See your roles (what you may do)";
  if (scope == "groups") return "See the groups you belong to";
  return "Use the permission \"" + std::string(scope) + "\"";
}

Response login_page_response(const LoginPage& page, int status) {
  std::string body;
  body += "<h1>Sign in</h1><p class=\"muted\">to continue to <strong>" + html_escape(page.client_name) +
          "</strong></p>";
  if (!page.error.empty()) body += "<div class=\"error\" role=\"alert\">" + html_escape(page.error) + "</div>";
  body += "<form method=\"post\" action=\"" + html_escape(page.action) + "\">";
  body += "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escape(page.csrf) + "\">";
  body += "<label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" "
          "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus value=\"" +
          html_escape(page.username) + "\">";
  body += "<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" "
          "autocomplete=\"current-password\" required>";
  body += "<button class=\"primary\" type=\"submit\">Sign in</button></form>";
  return html_response(status, layout("Sign in", body));
}

Response consent_page_response(const ConsentPage& page) {
  std::string body;
  body += "<h1>Allow access?</h1><p><strong>" + html_escape(page.client_name) + "</strong>";
  if (page.client_name != page.client_id)
    body += " <span class=\"muted\">(" + html_escape(page.client_id) + ")</span>";
  body += " wants to:</p><ul class=\"scopes\">";
  for (const auto& s : page.scopes)
    body += "<li>" + html_escape(describe_scope(s)) + " <span class=\"muted\"><code>" + html_escape(s) +
            "</code></span></li>";
  for (const auto& a : page.audiences)
    body += "<li>Call the API <code>" + html_escape(a) + "</code> on your behalf</li>";
  body += "</ul><p class=\"muted\">Signed in as " + html_escape(page.user_name) +
          ". Only allow applications you trust.</p>";
  body += "<form method=\"post\" action=\"" + html_escape(page.action) + "\">";
  body += "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escape(page.csrf) + "\">";
  body += "<div class=\"actions\"><button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">Deny"
          "</button><button class=\"primary\" type=\"submit\" name=\"decision\" "
          "value=\"allow\">Allow</button></div></form>";
  return html_response(200, layout("Allow access", body));
}

Response error_page_response(int status, std::string_view title, std::string_view message) {
  std::string body = "<h1>" + html_escape(title) + "</h1><div class=\"error\" role=\"alert\">" +
                     html_escape(message) +
                     "</div><p class=\"muted\">Return to the application and start again. If this keeps "
                     "happening, tell the application's developers.</p>";
  return html_response(status, layout(title, body));
}

Response message_page_response(int status, std::string_view title, std::string_view message) {
  std::string body = "<h1>" + html_escape(title) + "</h1><p>" + html_escape(message) + "</p>";
  return html_response(status, layout(title, body));
}

Response device_page_response(const DevicePage& page, int status) {
  std::string body = "<h1>Connect a device</h1><p class=\"muted\">Enter the code shown on your device.</p>";
  if (!page.error.empty()) body += "<div class=\"error\" role=\"alert\">" + html_escape(page.error) + "</div>";
  body += "<form method=\"post\" action=\"" + html_escape(page.action) + "\">";
  body += "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escape(page.csrf) + "\">";
  body += "<label for=\"user_code\">Code</label><input type=\"text\" id=\"user_code\" name=\"user_code\" "
          "autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" required autofocus "
          "placeholder=\"XXXX-XXXX\" value=\"" + html_escape(page.user_code) + "\">";
  body += "<button class=\"primary\" type=\"submit\">Continue</button></form>";
  return html_response(status, layout("Connect a device", body));
}

Response confirm_page_response(std::string_view title, std::string_view message, std::string_view action,
                               const std::vector<std::pair<std::string, std::string>>& fields,
                               std::string_view button) {
  std::string body = "<h1>" + html_escape(title) + "</h1><p>" + html_escape(message) + "</p>";
  body += "<form method=\"post\" action=\"" + html_escape(action) + "\">";
  for (const auto& [name, value] : fields)
    body += "<input type=\"hidden\" name=\"" + html_escape(name) + "\" value=\"" + html_escape(value) + "\">";
  body += "<button class=\"primary\" type=\"submit\">" + html_escape(button) + "</button></form>";
  return html_response(200, layout(title, body));
}

Response stylesheet_response() {
  Response r;
  r.set_header("Content-Type", "text/css; charset=utf-8");
  r.set_header("Cache-Control", "public, max-age=3600");
  r.set_header("X-Content-Type-Options", "nosniff");
  r.body = std::string(kStylesheet);
  return r;
}

}  // namespace latchkey::oauth
