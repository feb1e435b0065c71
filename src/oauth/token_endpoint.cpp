// Token endpoint (RFC 6749 §3.2, §5): form parsing, client authentication, then the grant's handler.
#include <array>
#include <utility>

#include "oauth/audit.h"
#include "oauth/endpoints.h"
#include "oauth/grants.h"
#include "oauth/throttle.h"
#include "oauth/wire.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

constexpr std::array<std::pair<std::string_view, GrantHandler>, 4> kGrants{{
    {"authorization_code", grant_authorization_code},
    {"refresh_token", grant_refresh_token},
    {"client_credentials", grant_client_credentials},
    {kDeviceCodeGrantType, grant_device_code},
}};

GrantHandler find_grant(std::string_view type) {
  for (const auto& [name, handler] : kGrants)
    if (name == type) return handler;
  return nullptr;
}

}  // namespace

std::expected<util::Params, OAuthError> read_form_body(const Request& req) {
  auto type = req.header("content-type");
  // Media type match ignoring case and parameters such as charset.
  std::string media = type ? util::to_lower(util::trim(type->substr(0, type->find(';')))) : std::string();
  if (media != "application/x-www-form-urlencoded")
    return std::unexpected(error(ErrorCode::invalid_request, "Content-Type must be application/x-www-form-urlencoded"));
  auto params = util::parse_form(req.body);
  if (!params) return std::unexpected(error(ErrorCode::invalid_request, "malformed form body: " + params.error()));
  return std::move(*params);
}

std::expected<ClientRequest, Response> read_client_request(Context& ctx, const Request& req) {
  if (req.method != "POST") {
    // RFC 6749 §3.2: "The client MUST use the HTTP POST method".
    Response r = token_error_response(error(ErrorCode::invalid_request, "this endpoint accepts only POST", 405));
    r.set_header("Allow", "POST");
    return std::unexpected(std::move(r));
  }
  // RFC 6749 §2.3.1: client credentials "MUST NOT be included in the request URI"; we refuse any
  // parameter there, so secrets in URLs (and so in logs) fail loudly.
  if (!req.query.empty())
    return std::unexpected(token_error_response(error(ErrorCode::invalid_request, "send parameters in the body, not the URL")));
  auto form = read_form_body(req);
  if (!form) return std::unexpected(token_error_response(form.error()));
  // RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
  for (const auto& [name, value] : form->entries())
    if (name != "resource" && form->count(name) > 1)
      return std::unexpected(
          token_error_response(error(ErrorCode::invalid_request, "parameter '" + name + "' is included more than once")));
  // Failed client authentication is throttled per claimed client_id and per address (issue 7 §4):
  // a client secret must not be guessable at network speed.
  const ThrottleKey client_key = throttle_key("client", claimed_client_id(req, *form), ctx.config.client_auth_throttle);
  const ThrottleKey address_key = throttle_key("client-addr", req.remote_address, ctx.config.address_throttle);
  if (auto wait = throttle_wait(ctx, client_key, address_key); wait > 0) {
    // RFC 6585 §4: 429 Too Many Requests with Retry-After; the error stays RFC 6749 §5.2 JSON.
    Response r = token_error_response(
        error(ErrorCode::invalid_client, "too many failed attempts; retry after " + std::to_string(wait) + " s", 429));
    r.set_header("Retry-After", std::to_string(wait));
    audit("client_auth_throttled", {{"client_id", claimed_client_id(req, *form)},
                                    {"address", req.remote_address},
                                    {"retry_after", std::to_string(wait)}});
    return std::unexpected(std::move(r));
  }
  auto client = authenticate_client(req, *form, ctx.store);
  if (!client) {
    if (client.error().error.code == ErrorCode::invalid_client) {
      auto locked_for = throttle_failure(ctx, {&client_key, &address_key});
      audit("client_auth_failed", {{"client_id", claimed_client_id(req, *form)},
                                   {"address", req.remote_address},
                                   {"endpoint", req.path},
                                   {"locked_for", locked_for > 0 ? std::to_string(locked_for) : std::string()}});
    }
    return std::unexpected(token_error_response(client.error().error, client.error().basic_auth_used));
  }
  // The client's count is forgotten on success; the address's decays with its window.
  throttle_clear(ctx, client_key);
  return ClientRequest{std::move(*form), std::move(*client)};
}

Response handle_token(Context& ctx, const Request& req) {
  auto request = read_client_request(ctx, req);
  if (!request) return std::move(request.error());
  const util::Params& form = request->form;
  const AuthenticatedClient& client = request->client;

  auto grant_type = form.get_or("grant_type");
  if (grant_type.empty()) return token_error_response(error(ErrorCode::invalid_request, "grant_type is required"));
  GrantHandler handler = find_grant(grant_type);
  if (!handler)
    return token_error_response(
        error(ErrorCode::unsupported_grant_type, "grant_type '" + grant_type + "' is not supported"));
  if (!util::contains(client.client.grant_types, grant_type))
    return token_error_response(
        error(ErrorCode::unauthorized_client, "this client may not use grant_type " + grant_type));

  auto result = handler(ctx, form, client);
  if (!result) return token_error_response(result.error());
  return json_response(200, *result);
}

}  // namespace latchkey::oauth
