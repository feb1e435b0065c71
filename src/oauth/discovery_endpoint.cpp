// Discovery (OIDC Discovery 1.0 §3-4, RFC 8414 §2-3) and the JWKS (RFC 7517 §5).
// The metadata lists what this server does, and nothing it does not.
#include <boost/json.hpp>

#include "oauth/endpoints.h"
#include "oauth/wire.h"

namespace latchkey::oauth {
namespace {

boost::json::array strings(std::initializer_list<std::string_view> items) {
  boost::json::array a;
  for (auto s : items) a.emplace_back(s);
  return a;
}

boost::json::object build_metadata(const ProviderConfig& config) {
  const std::string& iss = config.issuer;
  boost::json::object m;
  m["issuer"] = iss;
  m["authorization_endpoint"] = iss + "/authorize";
  m["token_endpoint"] = iss + "/token";
  m["jwks_uri"] = iss + "/jwks";
  m["userinfo_endpoint"] = iss + "/userinfo";
  m["revocation_endpoint"] = iss + "/revoke";
  m["introspection_endpoint"] = iss + "/introspect";
  m["device_authorization_endpoint"] = iss + "/device_authorization";
  m["end_session_endpoint"] = iss + "/logout";
  m["response_types_supported"] = strings({"code"});
  m["response_modes_supported"] = strings({"query"});
  m["grant_types_supported"] = strings({"authorization_code", "refresh_token", "client_credentials",
                                        "urn:ietf:params:oauth:grant-type:device_code"});
  m["subject_types_supported"] = strings({"public"});
  m["id_token_signing_alg_values_supported"] = strings({config.signing_alg});
  m["token_endpoint_auth_methods_supported"] = strings({"client_secret_basic", "client_secret_post", "none"});
  m["revocation_endpoint_auth_methods_supported"] = strings({"client_secret_basic", "client_secret_post", "none"});
  // RFC 7662 §2.1: introspection needs real client authentication; public clients are refused.
  m["introspection_endpoint_auth_methods_supported"] = strings({"client_secret_basic", "client_secret_post"});
  m["code_challenge_methods_supported"] =
      config.allow_plain_pkce ? strings({"S256", "plain"}) : strings({"S256"});
  // roles and groups (RFC 9068 §2.2.3.1) only reach clients an administrator allowed them
  // (client create --allow-claim); the scopes exist for every such client.
  m["scopes_supported"] = strings({"openid", "profile", "email", "offline_access", "roles", "groups"});
  m["claims_supported"] = strings({"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
                                   "name", "preferred_username", "email", "roles", "groups"});
  m["prompt_values_supported"] = strings({"none", "login", "consent", "select_account"});
  m["authorization_response_iss_parameter_supported"] = true;  // RFC 9207 §3
  m["claims_parameter_supported"] = false;
  m["request_parameter_supported"] = false;
  m["request_uri_parameter_supported"] = false;  // OIDC Discovery defaults this to true: say no
  m["require_request_uri_registration"] = false;
  return m;
}

// RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field".
Response get_only(const Request& req) {
  Response r = json_response(
      405, boost::json::object{{"error", "invalid_request"}, {"error_description", req.method + " is not allowed; use GET"}});
  r.set_header("Allow", "GET, HEAD");
  return r;
}

}  // namespace

Response handle_discovery(Context& ctx, const Request& req) {
  if (req.method != "GET" && req.method != "HEAD") return get_only(req);
  Response r = json_response(200, build_metadata(ctx.config), false);
  r.set_header("Cache-Control", "public, max-age=300");
  return r;
}

Response handle_jwks(Context& ctx, const Request& req) {
  if (req.method != "GET" && req.method != "HEAD") return get_only(req);
  auto snap = ctx.keys.snapshot();
  Response r;
  r.set_header("Content-Type", "application/jwk-set+json");
  r.set_header("Cache-Control", "public, max-age=300");
  r.body = snap ? snap->jwks_json : std::string("{\"keys\":[]}");
  return r;
}

}  // namespace latchkey::oauth
