// RFC 6750 pieces that need no state: the Authorization header, the WWW-Authenticate value, and
// Cache-Control max-age for the key set.
#include <cctype>
#include <charconv>

#include "resource/validator.h"

namespace latchkey::resource {

namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view s) {
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/')) break;
  }
  if (i == 0) return false;
  for (; i < s.size(); ++i)
    if (s[i] != '=') return false;
  return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_request: return "invalid_request";
    case ErrorCode::invalid_token: return "invalid_token";
    case ErrorCode::insufficient_scope: return "insufficient_scope";
    case ErrorCode::missing_token:
    case ErrorCode::unavailable: break;
  }
  return "";
}

std::expected<std::string_view, ErrorCode> extract_bearer_token(std::string_view authorization) {
  // A field value has no leading or trailing whitespace (RFC 9110 §5.5); a parser may leave it.
  while (!authorization.empty() && is_ows(authorization.front())) authorization.remove_prefix(1);
  while (!authorization.empty() && is_ows(authorization.back())) authorization.remove_suffix(1);
  if (authorization.empty()) return std::unexpected(ErrorCode::missing_token);

  std::size_t end = 0;
  while (end < authorization.size() && !is_ows(authorization[end])) ++end;
  // auth-scheme is case-insensitive (RFC 9110 §11.1).
  if (!equals_ignore_case(authorization.substr(0, end), "Bearer")) {
    // RFC 6750 §3.1: a request without Bearer credentials (another scheme) gets no error code.
    return std::unexpected(ErrorCode::missing_token);
  }
  if (end == authorization.size()) return std::unexpected(ErrorCode::invalid_request);  // "Bearer" alone
  // credentials = "Bearer" 1*SP b64token: spaces only, no tab.
  std::size_t start = end;
  while (start < authorization.size() && authorization[start] == ' ') ++start;
  if (start == end) return std::unexpected(ErrorCode::invalid_request);
  std::string_view token = authorization.substr(start);
  if (!is_b64token(token)) return std::unexpected(ErrorCode::invalid_request);  // inner space, bad chars
  return token;
}

std::optional<util::Timestamp> cache_control_max_age(std::string_view value) {
  std::optional<util::Timestamp> max_age;
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view directive = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    while (!directive.empty() && is_ows(directive.front())) directive.remove_prefix(1);
    while (!directive.empty() && is_ows(directive.back())) directive.remove_suffix(1);
    auto eq = directive.find('=');
    std::string_view name = directive.substr(0, eq);
    if (equals_ignore_case(name, "no-store") || equals_ignore_case(name, "no-cache")) return 0;
    if (!equals_ignore_case(name, "max-age") || eq == std::string_view::npos) continue;
    std::string_view number = directive.substr(eq + 1);
    if (number.size() >= 2 && number.front() == '"' && number.back() == '"') number = number.substr(1, number.size() - 2);
    util::Timestamp seconds = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), seconds);
    if (ec == std::errc::result_out_of_range) seconds = 2147483648;  // RFC 9111 §1.2.2: a huge value
    else if (ec != std::errc() || ptr != number.data() + number.size() || seconds < 0) continue;
    if (!max_age) max_age = seconds;  // the first one wins
  }
  return max_age;
}

}  // namespace latchkey::resource
