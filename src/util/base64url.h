#pragma once
// Base64url without padding (RFC 4648 §5), as JOSE and PKCE use it (RFC 7515 §2, RFC 7636 §3).
#include <optional>
#include <string>
#include <string_view>

namespace latchkey::util {

std::string base64url_encode(std::string_view bytes);
// Strict: rejects padding, whitespace and characters outside the url-safe alphabet,
// and non-zero trailing bits, so one token has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view text);

// Standard base64 with padding (RFC 4648 §4), for HTTP Basic credentials.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace latchkey::util
