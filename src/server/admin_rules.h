#pragma once
// What the admin commands accept for clients and users, as pure functions (unit-tested).
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latchkey::server {

struct Problem {
  std::string what;
  std::string what_to_do;
};

// A client secret given on stdin is stored as a salted SHA-256 (util::hash_client_secret),
// which is only safe for high-entropy secrets; 32 characters is the floor we accept.
inline constexpr std::size_t kMinClientSecretLength = 32;
inline constexpr std::size_t kMinPasswordLength = 8;  // NIST SP 800-63B §5.1.1.2

inline const std::vector<std::string> kDefaultClientScopes = {"openid", "profile", "email", "offline_access"};
inline const std::vector<std::string> kDefaultGrantTypes = {"authorization_code", "refresh_token"};

// Visible ASCII (RFC 6749 Appendix A.1 VSCHAR without space), 1..255 characters.
std::optional<Problem> check_client_id(std::string_view id);
// RFC 6749 §3.1.2: absolute, no fragment. https, or http on a loopback IP (RFC 8252 §7.3), or a
// private-use scheme in reverse-domain form such as com.example.app:/cb (RFC 8252 §7.1).
std::optional<Problem> check_redirect_uri(std::string_view uri);
std::optional<Problem> check_client_secret(std::string_view secret);
// RFC 6749 §3.3 scope-token characters.
std::optional<Problem> check_scopes(const std::vector<std::string>& scopes);
std::optional<Problem> check_grant_type(std::string_view grant_type);
std::optional<Problem> check_username(std::string_view username);

// --web-origin: a browser origin for CORS, normalized to what browsers send in Origin
// (oauth::normalize_web_origin: scheme://host[:port], https or loopback http, no path).
std::expected<std::string, Problem> normalize_web_origin_flag(std::string_view origin);
// --allow-claim: a claim a client may receive beyond the OIDC ones: roles or groups.
std::optional<Problem> check_allowed_claim(std::string_view claim);
// The scopes a new client may ask for, given its claim allowances: each allowed claim makes its
// scope (same name) requestable; a claim scope without the allowance is refused, so that
// `--scope "openid roles"` alone never sends roles anywhere.
std::expected<std::vector<std::string>, Problem> scopes_with_claims(std::vector<std::string> scopes,
                                                                    const std::vector<std::string>& allowed_claims);
// A role or group name (`kind` is "role" or "group"): 1..255 bytes of UTF-8, no control
// characters, no leading or trailing space.
std::optional<Problem> check_role_or_group(std::string_view kind, std::string_view name);
std::optional<Problem> check_password(std::string_view password);

}  // namespace latchkey::server
