// UserInfo (OIDC Core §5.3) with bearer tokens per RFC 6750.
#include <boost/json/object.hpp>

#include "oauth/endpoints.h"
#include "oauth/own_tokens.h"
#include "oauth/token_issuer.h"
#include "oauth/wire.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

// RFC 6750 §3: the error goes in the WWW-Authenticate challenge and the JSON body alike.
// (A request with no token at all gets a challenge without an error code, §3.1; see below.)
Response bearer_error(ErrorCode code, const std::string& description) {
  Response r = token_error_response(error(code, description));
  std::string challenge = "Bearer realm=\"latchkey\", error=\"" + std::string(error_code_name(code)) +
                          "\", error_description=\"" + description + "\"";
  if (code == ErrorCode::insufficient_scope) challenge += ", scope=\"openid\"";
  r.set_header("WWW-Authenticate", challenge);
  return r;
}

bool is_form_content_type(const Request& req) {
  auto type = req.header("content-type");
  return type && util::to_lower(util::trim(type->substr(0, type->find(';')))) == "application/x-www-form-urlencoded";
}

}  // namespace

Response handle_userinfo(Context& ctx, const Request& req) {
  if (req.method != "GET" && req.method != "POST") {
    Response r = bearer_error(ErrorCode::invalid_request, "use GET or POST");
    r.status = 405;
    r.set_header("Allow", "GET, POST");
    return r;
  }
  std::optional<std::string> token;
  if (req.header_count("authorization") > 1)
    return bearer_error(ErrorCode::invalid_request, "more than one Authorization header");
  if (auto header = req.header("authorization")) {
    // RFC 6750 §2.1: "Bearer" 1*SP b64token; the scheme is case-insensitive.
    if (header->size() < 8 || util::to_lower(header->substr(0, 7)) != "bearer ")
      return bearer_error(ErrorCode::invalid_request, "use the Bearer authorization scheme");
    token = util::trim(header->substr(7));
  }
  if (req.method == "POST" && req.header("content-type")) {
    auto form = read_form_body(req);
    // A form body that does not parse is a malformed request (RFC 6750 §3.1 invalid_request), not
    // a missing token; other media types carry no token (RFC 6750 §2.2 names only the form).
    if (!form && is_form_content_type(req)) return bearer_error(ErrorCode::invalid_request, "the form body is malformed");
    if (form && form->has("access_token")) {
      // RFC 6750 §2: clients "MUST NOT use more than one method to transmit the token".
      if (token || form->count("access_token") > 1)
        return bearer_error(ErrorCode::invalid_request, "send the access token one way only");
      token = form->get_or("access_token");  // RFC 6750 §2.2
    }
  }
  if (!token || token->empty()) {
    Response r = token_error_response(error(ErrorCode::invalid_token, "an access token is required"));
    r.set_header("WWW-Authenticate", "Bearer realm=\"latchkey\"");
    return r;
  }
  auto at = decode_own_access_token(ctx, *token);
  if (!at || !is_access_token_active(ctx, *at))
    return bearer_error(ErrorCode::invalid_token, "the access token is invalid, expired or revoked");
  auto scopes = util::split_spaces(at->scope);
  if (!util::contains(scopes, "openid"))
    return bearer_error(ErrorCode::insufficient_scope, "the access token lacks the openid scope");
  auto user = ctx.store.find_user(at->sub);
  if (!user) return bearer_error(ErrorCode::invalid_token, "the user no longer exists");

  boost::json::object claims;
  claims["sub"] = user->id;
  if (util::contains(scopes, "profile")) {
    claims["preferred_username"] = user->username;
    if (!user->name.empty()) claims["name"] = user->name;
  }
  if (util::contains(scopes, "email") && !user->email.empty()) claims["email"] = user->email;
  // Roles and groups as the client is allowed them today (an allowance taken back applies at once).
  if (auto client = ctx.store.find_client(at->client_id)) add_permission_claims(claims, *client, *user, scopes);
  return json_response(200, claims);
}

}  // namespace latchkey::oauth
