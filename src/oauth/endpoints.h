#pragma once
// One handler per endpoint. provider.cpp routes to them; each returns a complete Response.
#include <expected>
#include <string_view>

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

// A POST body as form parameters: Content-Type must be application/x-www-form-urlencoded.
std::expected<util::Params, OAuthError> read_form_body(const Request& req);

}  // namespace latchkey::oauth
