#include "server/admin_rules.h"

#include <algorithm>
#include <array>

#include <boost/url/parse.hpp>

#include "oauth/cors.h"
#include "oauth/redirect_uri.h"
#include "oauth/scopes.h"
#include "util/strings.h"

namespace latchkey::server {

namespace {
// The rejected value, escaped: these rules refuse control characters, so it may hold some.
std::string quoted(std::string_view s) { return "\"" + util::escape_controls(s) + "\""; }
}  // namespace

std::optional<Problem> check_client_id(std::string_view id) {
  if (id.empty()) return Problem{"the client id is empty", "pass --client-id with a name such as my-app"};
  if (id.size() > 255) return Problem{"the client id is longer than 255 characters", "choose a shorter --client-id"};
  bool visible = std::all_of(id.begin(), id.end(), [](unsigned char c) { return c >= 0x21 && c <= 0x7e; });
  if (!visible)
    return Problem{"the client id " + quoted(id) + " has spaces, control or non-ASCII characters",
                   "use printable ASCII such as my-app"};
  return std::nullopt;
}

std::optional<Problem> check_redirect_uri(std::string_view uri) {
  const std::string todo = "use https://HOST/PATH, http://127.0.0.1/PATH (loopback) or com.example.app:/PATH";
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) return Problem{"redirect URI " + quoted(uri) + " is not an absolute URI (RFC 6749 §3.1.2)", todo};
  // RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
  if (parsed->has_fragment()) return Problem{"redirect URI " + quoted(uri) + " has a fragment (RFC 6749 §3.1.2)", todo};
  std::string scheme = util::to_lower(parsed->scheme());
  if (scheme == "https") {
    if (parsed->encoded_host().empty()) return Problem{"redirect URI " + quoted(uri) + " names no host", todo};
    return std::nullopt;
  }
  if (scheme == "http") {
    // RFC 8252 §7.3: native apps may use http on the loopback interface; the protocol core
    // applies the same loopback rule when it matches (any port).
    if (oauth::is_loopback_http_uri(uri)) return std::nullopt;
    return Problem{"redirect URI " + quoted(uri) + " uses http on a host that is not loopback",
                   "use https, or http://127.0.0.1 / http://[::1] for a native app (RFC 8252 §7.3)"};
  }
  // RFC 8252 §7.1: private-use URI schemes, named after a domain the app controls, reversed.
  // Requiring the dot also keeps javascript:, data:, file: and friends out.
  if (scheme.find('.') != std::string::npos) return std::nullopt;
  return Problem{"redirect URI " + quoted(uri) + " has scheme " + quoted(scheme) +
                     ", which is neither http(s) nor a reverse-domain private-use scheme (RFC 8252 §7.1)",
                 todo};
}

std::optional<Problem> check_client_secret(std::string_view secret) {
  if (secret.size() < kMinClientSecretLength)
    return Problem{"the client secret on stdin has " + std::to_string(secret.size()) + " characters; at least " +
                       std::to_string(kMinClientSecretLength) +
                       " are required, because client secrets are stored as a fast salted SHA-256 that only a "
                       "long random secret makes safe against offline guessing",
                   "leave out --secret-stdin to get a generated 256-bit secret, or pipe a longer random one"};
  return std::nullopt;
}

std::optional<Problem> check_scopes(const std::vector<std::string>& scopes) {
  if (scopes.empty()) return Problem{"the scope list is empty", "pass --scope \"openid profile\" or leave it out"};
  for (const auto& s : scopes) {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    bool ok = !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
      return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
    });
    if (!ok)
      return Problem{"scope " + quoted(s) + " has characters RFC 6749 §3.3 does not allow",
                     "use printable ASCII without spaces, quotes or backslashes"};
  }
  return std::nullopt;
}

std::optional<Problem> check_grant_type(std::string_view grant_type) {
  static constexpr std::array<std::string_view, 4> known = {
      "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"};
  if (std::find(known.begin(), known.end(), grant_type) != known.end()) return std::nullopt;
  return Problem{"unknown grant type " + quoted(grant_type),
                 "use authorization_code, refresh_token, client_credentials or "
                 "urn:ietf:params:oauth:grant-type:device_code"};
}

std::optional<Problem> check_username(std::string_view username) {
  if (username.empty() || username.size() > 255)
    return Problem{"the username must have 1 to 255 characters", "pass --username with a name such as alice"};
  if (!util::is_valid_utf8(username)) return Problem{"the username is not valid UTF-8", "fix --username"};
  bool printable = std::all_of(username.begin(), username.end(),
                               [](unsigned char c) { return c >= 0x21 && c != 0x7f; });
  if (!printable)
    return Problem{"the username " + quoted(username) + " has spaces or control characters",
                   "use a name without spaces, such as alice or alice@example.com"};
  return std::nullopt;
}

std::optional<Problem> check_password(std::string_view password) {
  if (password.size() < kMinPasswordLength)
    return Problem{"the password on stdin has fewer than " + std::to_string(kMinPasswordLength) + " characters",
                   "pipe a longer password to --password-stdin"};
  if (!util::is_valid_utf8(password)) return Problem{"the password on stdin is not valid UTF-8", "pipe UTF-8 text"};
  return std::nullopt;
}

std::expected<std::string, Problem> normalize_web_origin_flag(std::string_view origin) {
  auto normalized = oauth::normalize_web_origin(origin);
  if (!normalized)
    return std::unexpected(Problem{normalized.error(),
                                   "pass the origin the browser shows for the app's page, e.g. --web-origin "
                                   "https://app.example.com"});
  return *normalized;
}

std::optional<Problem> check_allowed_claim(std::string_view claim) {
  for (auto known : oauth::kClaimScopes)
    if (claim == known) return std::nullopt;
  return Problem{"unknown claim " + quoted(claim) + " for --allow-claim", "use --allow-claim roles or --allow-claim groups"};
}

std::expected<std::vector<std::string>, Problem> scopes_with_claims(std::vector<std::string> scopes,
                                                                    const std::vector<std::string>& allowed_claims) {
  for (auto claim : oauth::kClaimScopes) {
    bool allowed = util::contains(allowed_claims, claim);
    bool listed = util::contains(scopes, claim);
    if (listed && !allowed)
      return std::unexpected(Problem{"scope " + quoted(claim) + " is listed but the client is not allowed the " +
                                         std::string(claim) + " claim",
                                     "add --allow-claim " + std::string(claim) + ", or drop it from --scope"});
    if (allowed && !listed) scopes.emplace_back(claim);
  }
  return scopes;
}

std::optional<Problem> check_role_or_group(std::string_view kind, std::string_view name) {
  const std::string flag = "--" + std::string(kind);
  if (name.empty() || name.size() > 255)
    return Problem{"the " + std::string(kind) + " name must have 1 to 255 characters", "pass " + flag + " NAME"};
  if (!util::is_valid_utf8(name)) return Problem{"the " + std::string(kind) + " name is not valid UTF-8", "fix " + flag};
  bool control = std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (control || name.front() == ' ' || name.back() == ' ')
    return Problem{"the " + std::string(kind) + " name " + quoted(name) +
                       " has control characters or leading/trailing spaces",
                   "use a plain name such as admin or /engineering/backend"};
  return std::nullopt;
}

}  // namespace latchkey::server
