#pragma once
// Client authentication at the token endpoint (RFC 6749 §2.3): client_secret_basic,
// client_secret_post, or none for public clients (which then must use PKCE).
#include <expected>
#include <string>

#include "oauth/error.h"
#include "oauth/message.h"
#include "store/store.h"
#include "util/form.h"

namespace latchkey::oauth {

struct AuthenticatedClient {
  store::Client client;
  std::string method;  // client_secret_basic | client_secret_post | none
};

struct ClientAuthFailure {
  OAuthError error;
  bool basic_auth_used = false;  // then invalid_client carries WWW-Authenticate: Basic
};

// The client a request names, NOT authenticated: the HTTP Basic user name, else the client_id
// field; empty when neither is usable. For decisions that need no proof, such as which client's
// web origins apply to a CORS response.
std::string claimed_client_id(const Request& request, const util::Params& form);

std::expected<AuthenticatedClient, ClientAuthFailure> authenticate_client(const Request& request,
                                                                          const util::Params& form,
                                                                          store::ClientStore& clients);

}  // namespace latchkey::oauth
