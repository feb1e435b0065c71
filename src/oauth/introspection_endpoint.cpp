// Token introspection (RFC 7662), for authenticated confidential clients (resource servers).
#include <boost/json/object.hpp>

#include "oauth/endpoints.h"
#include "oauth/own_tokens.h"
#include "oauth/wire.h"
#include "util/strings.h"

namespace latchkey::oauth {

Response handle_introspection(Context& ctx, const Request& req) {
  auto request = read_client_request(ctx, req);
  if (!request) return std::move(request.error());
  // RFC 7662 §2.1: the endpoint MUST require some form of authorization; a public client proves
  // nothing, so it may not probe tokens.
  if (request->client.client.is_public)
    return token_error_response(error(ErrorCode::invalid_client, "introspection needs a confidential client"));
  auto token = request->form.get_or("token");
  if (token.empty()) return token_error_response(error(ErrorCode::invalid_request, "token is required"));

  boost::json::object body;
  body["active"] = false;  // RFC 7662 §2.2: expired, revoked, unknown or foreign → just inactive
  if (auto at = decode_own_access_token(ctx, token); at && is_access_token_active(ctx, *at)) {
    body = at->claims;  // iss, sub, aud, exp, iat, nbf, jti, client_id, scope, auth_time
    body["active"] = true;
    body["token_type"] = "Bearer";
    if (auto user = ctx.store.find_user(at->sub); user && at->sub != at->client_id) body["username"] = user->username;
  } else if (auto rt = find_active_refresh_token(ctx, token)) {
    body["active"] = true;
    body["token_type"] = "refresh_token";
    body["client_id"] = rt->grant.client_id;
    body["sub"] = rt->grant.user_id;
    body["scope"] = util::join(rt->grant.scopes);
    body["iat"] = rt->token.created_at;
    body["exp"] = rt->token.expires_at;
    body["iss"] = ctx.config.issuer;
  }
  return json_response(200, body);
}

}  // namespace latchkey::oauth
