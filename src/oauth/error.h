#pragma once
// The one error type of the protocol core. Its codes are the registered ones of RFC 6749 §4.1.2.1
// and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8628 §3.5, RFC 8707 §2 and OIDC Core §3.1.2.6.
// to_wire.cpp is the one place that turns it into bytes (JSON, redirect or page).
#include <string>
#include <string_view>

namespace latchkey::oauth {

enum class ErrorCode {
  invalid_request,
  invalid_client,
  invalid_grant,
  unauthorized_client,
  unsupported_grant_type,
  invalid_scope,
  invalid_target,
  access_denied,
  unsupported_response_type,
  server_error,
  temporarily_unavailable,
  login_required,
  consent_required,
  interaction_required,
  invalid_token,
  insufficient_scope,
  unsupported_token_type,
  authorization_pending,
  slow_down,
  expired_token,
};

std::string_view error_code_name(ErrorCode code);

struct OAuthError {
  ErrorCode code;
  std::string description;  // safe to show the caller: never internal detail
  int status = 0;           // 0 = the code's default status (see status())

  int http_status() const;
};

inline OAuthError error(ErrorCode code, std::string description, int status = 0) {
  return OAuthError{code, std::move(description), status};
}

}  // namespace latchkey::oauth
