#pragma once
// The front-channel half of the authorization code flow: PKCE (RFC 7636), the authorization
// request URL (RFC 6749 §4.1.1), and checking the redirect that comes back (§4.1.2, RFC 9207).
#include <string>
#include <string_view>

#include "client/error.h"
#include "util/random.h"

namespace latchkey::client {

struct Pkce {
  std::string verifier;   // 43 characters of base64url (32 random bytes), RFC 7636 §4.1
  std::string challenge;  // BASE64URL(SHA256(verifier)), §4.2 S256

  static Pkce generate(util::Random& random);
  static std::string s256(std::string_view verifier);
};

struct AuthorizationRequest {
  std::string authorization_endpoint;
  std::string client_id;
  std::string redirect_uri;
  std::string scope;
  std::string state;
  std::string nonce;  // sent when non-empty (OIDC Core §3.1.2.1; we send it whenever openid is asked)
  std::string code_challenge;
  std::string audience;  // sent as `audience` when non-empty
  std::string prompt;    // sent as `prompt` when non-empty (OIDC Core §3.1.2.1)
};

// The endpoint may already carry a query (OIDC Core §3.1.2.1 allows it): parameters are appended.
std::string build_authorization_url(const AuthorizationRequest& request);

struct CallbackExpectation {
  std::string state;
  std::string issuer;
  bool iss_required = false;  // the metadata says authorization_response_iss_parameter_supported
};

// Checks the query of the redirect and returns the authorization code. In order:
//  - state must be present and equal (RFC 6749 §10.12), also on error responses;
//  - iss, when present, must equal the issuer; it must be present when the provider says it sends
//    it (RFC 9207 §2.4) — this defeats mix-up attacks;
//  - an `error` ends the login with the provider's code and description;
//  - otherwise exactly one non-empty `code`.
Result<std::string> parse_callback(std::string_view query, const CallbackExpectation& expected);

}  // namespace latchkey::client
