#pragma once
// Parsing and validation of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3,
// OIDC Core §3.1.2.1, RFC 8707 §2), in the order the RFCs demand: client and redirect_uri first,
// because until both are known to be good no error may be redirected anywhere (RFC 6749 §4.1.2.1).
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "oauth/config.h"
#include "oauth/error.h"
#include "store/store.h"
#include "util/form.h"

namespace latchkey::oauth {

struct AuthorizationRequest {
  std::string client_id;
  std::string redirect_uri;  // the one to answer to (sent or, when omitted, the single registered one)
  bool redirect_uri_in_request = true;
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;  // from `audience` (seed 000) or `resource` (RFC 8707)
  std::string state;
  std::string nonce;
  std::string code_challenge;
  std::string code_challenge_method;
  std::vector<std::string> prompt;  // none | login | consent | select_account
  std::optional<std::int64_t> max_age;
  // prompt=login: the hash of the session that existed when the request arrived. That session
  // does not count as a login for this request, even if made in the same second.
  std::string stale_session;
  // Set when the request is a device authorization being approved on the device page (RFC 8628
  // §3.3): finishing approves that device code instead of redirecting with a code.
  std::string device_user_code_hash;

  bool is_device() const { return !device_user_code_hash.empty(); }

  bool has_prompt(std::string_view p) const;
  std::string to_json() const;
  static std::optional<AuthorizationRequest> from_json(std::string_view text);
};

struct AuthorizeFailure {
  OAuthError error;
  // Empty when the client or redirect_uri are not valid: then the user sees an error page and
  // nothing is redirected (no open redirector). Otherwise where the error is sent, with state.
  std::string redirect_uri;
  std::string state;
};

struct ValidatedAuthorization {
  AuthorizationRequest request;
  store::Client client;
};

std::expected<ValidatedAuthorization, AuthorizeFailure> validate_authorization_request(
    const util::Params& params, store::ClientStore& clients, const ProviderConfig& config);

}  // namespace latchkey::oauth
