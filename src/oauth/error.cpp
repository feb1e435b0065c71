#include "oauth/error.h"

namespace latchkey::oauth {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_request: return "invalid_request";
    case ErrorCode::invalid_client: return "invalid_client";
    case ErrorCode::invalid_grant: return "invalid_grant";
    case ErrorCode::unauthorized_client: return "unauthorized_client";
    case ErrorCode::unsupported_grant_type: return "unsupported_grant_type";
    case ErrorCode::invalid_scope: return "invalid_scope";
    case ErrorCode::invalid_target: return "invalid_target";
    case ErrorCode::access_denied: return "access_denied";
    case ErrorCode::unsupported_response_type: return "unsupported_response_type";
    case ErrorCode::server_error: return "server_error";
    case ErrorCode::temporarily_unavailable: return "temporarily_unavailable";
    case ErrorCode::login_required: return "login_required";
    case ErrorCode::consent_required: return "consent_required";
    case ErrorCode::interaction_required: return "interaction_required";
    case ErrorCode::invalid_token: return "invalid_token";
    case ErrorCode::insufficient_scope: return "insufficient_scope";
    case ErrorCode::unsupported_token_type: return "unsupported_token_type";
    case ErrorCode::authorization_pending: return "authorization_pending";
    case ErrorCode::slow_down: return "slow_down";
    case ErrorCode::expired_token: return "expired_token";
  }
  return "server_error";
}

int OAuthError::http_status() const {
  if (status != 0) return status;
  switch (code) {
    case ErrorCode::invalid_client:  // RFC 6749 §5.2: 401 (the caller adds WWW-Authenticate)
    case ErrorCode::invalid_token:   // RFC 6750 §3.1
      return 401;
    case ErrorCode::insufficient_scope:  // RFC 6750 §3.1
      return 403;
    case ErrorCode::server_error: return 500;
    case ErrorCode::temporarily_unavailable: return 503;
    default: return 400;  // RFC 6749 §5.2: every other token-endpoint error, access_denied included
  }
}

}  // namespace latchkey::oauth
