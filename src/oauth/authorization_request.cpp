#include "oauth/authorization_request.h"

#include <boost/json.hpp>
#include <charconv>

#include "oauth/pkce.h"
#include "oauth/redirect_uri.h"
#include "oauth/scopes.h"
#include "util/strings.h"

namespace latchkey::oauth {

bool AuthorizationRequest::has_prompt(std::string_view p) const { return util::contains(prompt, p); }

namespace {

boost::json::array to_array(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::vector<std::string> from_array(const boost::json::value* v) {
  std::vector<std::string> out;
  if (!v || !v->is_array()) return out;
  for (const auto& item : v->as_array())
    if (item.is_string()) out.emplace_back(item.as_string());
  return out;
}

std::string get_string(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

std::string AuthorizationRequest::to_json() const {
  boost::json::object o;
  o["client_id"] = client_id;
  o["redirect_uri"] = redirect_uri;
  o["redirect_uri_in_request"] = redirect_uri_in_request;
  o["scopes"] = to_array(scopes);
  o["audiences"] = to_array(audiences);
  o["state"] = state;
  o["nonce"] = nonce;
  o["code_challenge"] = code_challenge;
  o["code_challenge_method"] = code_challenge_method;
  o["prompt"] = to_array(prompt);
  if (max_age) o["max_age"] = *max_age;
  if (!stale_session.empty()) o["stale_session"] = stale_session;
  if (!device_user_code_hash.empty()) o["device_user_code_hash"] = device_user_code_hash;
  return boost::json::serialize(o);
}

std::optional<AuthorizationRequest> AuthorizationRequest::from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  AuthorizationRequest r;
  r.client_id = get_string(o, "client_id");
  r.redirect_uri = get_string(o, "redirect_uri");
  auto* in_req = o.if_contains("redirect_uri_in_request");
  r.redirect_uri_in_request = !in_req || !in_req->is_bool() || in_req->as_bool();
  r.scopes = from_array(o.if_contains("scopes"));
  r.audiences = from_array(o.if_contains("audiences"));
  r.state = get_string(o, "state");
  r.nonce = get_string(o, "nonce");
  r.code_challenge = get_string(o, "code_challenge");
  r.code_challenge_method = get_string(o, "code_challenge_method");
  r.prompt = from_array(o.if_contains("prompt"));
  if (auto* m = o.if_contains("max_age"); m && m->is_int64()) r.max_age = m->as_int64();
  r.stale_session = get_string(o, "stale_session");
  r.device_user_code_hash = get_string(o, "device_user_code_hash");
  if (r.client_id.empty() || (r.redirect_uri.empty() && r.device_user_code_hash.empty())) return std::nullopt;
  return r;
}

namespace {

// Parameters that may carry many values: RFC 8707 §2 allows `resource` to repeat.
bool may_repeat(std::string_view name) { return name == "resource"; }

// Everything below runs once client_id and redirect_uri are validated: each check is one small
// function, listed in order in kChecks (node-oidc-provider's table of checks).
struct CheckInput {
  const util::Params& params;
  const store::Client& client;
  const ProviderConfig& config;
  AuthorizationRequest& out;
};
using Check = std::optional<OAuthError> (*)(CheckInput&);

std::optional<OAuthError> check_no_duplicates(CheckInput& in) {
  // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
  for (const auto& [name, value] : in.params.entries())
    if (!may_repeat(name) && in.params.count(name) > 1)
      return error(ErrorCode::invalid_request, "parameter '" + name + "' is included more than once");
  return std::nullopt;
}

std::optional<OAuthError> check_unsupported_features(CheckInput& in) {
  // OIDC Core §6: request objects are not supported (discovery says so).
  if (in.params.has("request")) return error(ErrorCode::invalid_request, "request objects are not supported");
  if (in.params.has("request_uri")) return error(ErrorCode::invalid_request, "request_uri is not supported");
  auto mode = in.params.get_or("response_mode");
  if (!mode.empty() && mode != "query")
    return error(ErrorCode::invalid_request, "response_mode '" + mode + "' is not supported; use query");
  return std::nullopt;
}

std::optional<OAuthError> check_response_type(CheckInput& in) {
  auto rt = in.params.get_or("response_type");
  if (rt.empty()) return error(ErrorCode::invalid_request, "response_type is required");
  // Only the authorization code flow: implicit and hybrid are gone (RFC 9700 §2.1.2).
  if (rt != "code") return error(ErrorCode::unsupported_response_type, "only response_type=code is supported");
  if (!util::contains(in.client.grant_types, "authorization_code"))
    return error(ErrorCode::unauthorized_client, "this client may not use the authorization code flow");
  return std::nullopt;
}

std::optional<OAuthError> check_scope(CheckInput& in) {
  auto scopes = requested_scopes(in.params.get_or("scope"), in.client);
  if (!scopes) return scopes.error();
  // RFC 6749 §3.3: with no scope the server either uses a default or fails; we fail, clearly.
  if (scopes->empty()) return error(ErrorCode::invalid_scope, "scope is required");
  in.out.scopes = std::move(*scopes);
  return std::nullopt;
}

std::optional<OAuthError> check_audience(CheckInput& in) {
  auto audiences = requested_audiences(in.params, in.client);
  if (!audiences) return audiences.error();
  in.out.audiences = std::move(*audiences);
  return std::nullopt;
}

std::optional<OAuthError> check_pkce(CheckInput& in) {
  auto challenge = in.params.get_or("code_challenge");
  auto method = in.params.get_or("code_challenge_method");
  if (challenge.empty()) {
    // RFC 9700 §2.1.1: public clients MUST use PKCE.
    if (in.client.is_public)
      return error(ErrorCode::invalid_request, "code_challenge is required for public clients (PKCE, RFC 7636)");
    if (!method.empty()) return error(ErrorCode::invalid_request, "code_challenge_method without code_challenge");
    return std::nullopt;
  }
  if (method.empty()) method = "plain";  // RFC 7636 §4.3 default
  if (method != "S256" && method != "plain")
    return error(ErrorCode::invalid_request, "code_challenge_method must be S256");
  if (method == "plain" && !in.config.allow_plain_pkce)
    return error(ErrorCode::invalid_request, "code_challenge_method plain is not allowed; use S256");
  if (!is_valid_code_challenge(challenge, method))
    return error(ErrorCode::invalid_request, "code_challenge is malformed (RFC 7636 §4.2)");
  in.out.code_challenge = challenge;
  in.out.code_challenge_method = method;
  return std::nullopt;
}

std::optional<OAuthError> check_prompt_and_max_age(CheckInput& in) {
  for (auto& p : util::split_spaces(in.params.get_or("prompt"))) {
    if (p != "none" && p != "login" && p != "consent" && p != "select_account")
      return error(ErrorCode::invalid_request, "prompt value '" + p + "' is not supported");
    in.out.prompt.push_back(std::move(p));
  }
  // OIDC Core §3.1.2.1: none with any other value is an error.
  if (in.out.has_prompt("none") && in.out.prompt.size() > 1)
    return error(ErrorCode::invalid_request, "prompt=none cannot be combined with other values");
  if (auto m = in.params.get("max_age"); m && !m->empty()) {
    std::int64_t v = -1;
    auto [ptr, ec] = std::from_chars(m->data(), m->data() + m->size(), v);
    if (ec != std::errc() || ptr != m->data() + m->size() || v < 0)
      return error(ErrorCode::invalid_request, "max_age must be a non-negative integer");
    in.out.max_age = v;
  }
  return std::nullopt;
}

std::optional<OAuthError> check_sizes(CheckInput& in) {
  in.out.nonce = in.params.get_or("nonce");
  if (in.out.nonce.size() > 512) return error(ErrorCode::invalid_request, "nonce is too long");
  return std::nullopt;
}

constexpr Check kChecks[] = {check_no_duplicates, check_unsupported_features, check_response_type, check_scope,
                             check_audience,      check_pkce,                 check_prompt_and_max_age,
                             check_sizes};

AuthorizeFailure page_error(std::string description) {
  return AuthorizeFailure{error(ErrorCode::invalid_request, std::move(description)), {}, {}};
}

}  // namespace

std::expected<ValidatedAuthorization, AuthorizeFailure> validate_authorization_request(
    const util::Params& params, store::ClientStore& clients, const ProviderConfig& config) {
  // 1. client_id, then redirect_uri: failures here are shown, never redirected (RFC 6749 §4.1.2.1).
  if (params.count("client_id") > 1) return std::unexpected(page_error("client_id is included more than once"));
  if (params.count("redirect_uri") > 1) return std::unexpected(page_error("redirect_uri is included more than once"));
  auto client_id = params.get_or("client_id");
  if (client_id.empty()) return std::unexpected(page_error("client_id is missing"));
  auto client = clients.find_client(client_id);
  if (!client) return std::unexpected(page_error("the application (client_id) is not registered with this server"));

  AuthorizationRequest out;
  out.client_id = client_id;
  auto redirect_uri = params.get_or("redirect_uri");
  if (redirect_uri.empty()) {
    // RFC 6749 §3.1.2.3: may be omitted only when exactly one URI is registered (and it is not a
    // loopback URI, whose port would be unknown).
    if (client->redirect_uris.size() != 1 || is_loopback_http_uri(client->redirect_uris[0]))
      return std::unexpected(page_error("redirect_uri is missing"));
    out.redirect_uri = client->redirect_uris[0];
    out.redirect_uri_in_request = false;
  } else {
    bool registered = false;
    for (const auto& r : client->redirect_uris) registered = registered || redirect_uri_matches(r, redirect_uri);
    if (!registered) return std::unexpected(page_error("redirect_uri is not registered for this application"));
    out.redirect_uri = redirect_uri;
  }

  // 2. From here on errors go back to the client with state (RFC 6749 §4.1.2.1).
  out.state = params.get_or("state");
  CheckInput input{params, *client, config, out};
  for (Check check : kChecks)
    if (auto err = check(input)) return std::unexpected(AuthorizeFailure{std::move(*err), out.redirect_uri, out.state});
  return ValidatedAuthorization{std::move(out), std::move(*client)};
}

}  // namespace latchkey::oauth
