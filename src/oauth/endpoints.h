#pragma once
// One handler per endpoint. provider.cpp routes to them; each returns a complete Response.
#include <expected>
#include <string_view>

#include "oauth/client_auth.h"
#include "oauth/context.h"
#include "oauth/error.h"
#include "oauth/message.h"
#include "util/form.h"

namespace latchkey::oauth {

Response handle_authorize(Context& ctx, const Request& req);                                   // authorize_endpoint.cpp
Response handle_interaction_page(Context& ctx, const Request& req, std::string_view id);       // interaction_endpoint.cpp
Response handle_interaction_login(Context& ctx, const Request& req, std::string_view id);      // interaction_endpoint.cpp
Response handle_interaction_consent(Context& ctx, const Request& req, std::string_view id);    // interaction_endpoint.cpp
Response handle_token(Context& ctx, const Request& req);                                       // token_endpoint.cpp
Response handle_discovery(Context& ctx, const Request& req);                                   // discovery_endpoint.cpp
Response handle_jwks(Context& ctx, const Request& req);                                        // discovery_endpoint.cpp
Response handle_device_authorization(Context& ctx, const Request& req);                        // device_endpoint.cpp
Response handle_device_page(Context& ctx, const Request& req);                                 // device_endpoint.cpp
Response handle_revocation(Context& ctx, const Request& req);                                  // revocation_endpoint.cpp
Response handle_introspection(Context& ctx, const Request& req);                               // introspection_endpoint.cpp
Response handle_userinfo(Context& ctx, const Request& req);                                    // userinfo_endpoint.cpp
Response handle_end_session(Context& ctx, const Request& req);                                 // logout_endpoint.cpp

// A POST body as form parameters: Content-Type must be application/x-www-form-urlencoded.
std::expected<util::Params, OAuthError> read_form_body(const Request& req);

// The common start of the client-facing POST endpoints (token, revocation, introspection,
// device authorization): POST only, a form body without repeated parameters (RFC 6749 §3.2;
// `resource` may repeat, RFC 8707), no parameters in the URL, and client authentication
// (RFC 6749 §2.3). The error side is the finished RFC 6749 §5.2 response.
struct ClientRequest {
  util::Params form;
  AuthenticatedClient client;
};
std::expected<ClientRequest, Response> read_client_request(Context& ctx, const Request& req);

}  // namespace latchkey::oauth
