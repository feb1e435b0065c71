#include "client/authorize.h"

#include "util/base64url.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/strings.h"

namespace latchkey::client {

Pkce Pkce::generate(util::Random& random) {
  Pkce p;
  p.verifier = random.token(32);
  p.challenge = s256(p.verifier);
  return p;
}

std::string Pkce::s256(std::string_view verifier) { return util::base64url_encode(util::sha256(verifier)); }

std::string build_authorization_url(const AuthorizationRequest& r) {
  std::vector<std::pair<std::string, std::string>> params{
      {"response_type", "code"},  {"client_id", r.client_id}, {"redirect_uri", r.redirect_uri},
      {"scope", r.scope},         {"state", r.state},         {"code_challenge", r.code_challenge},
      {"code_challenge_method", "S256"}};
  if (r.scope.empty()) params.erase(params.begin() + 3);
  if (!r.nonce.empty()) params.emplace_back("nonce", r.nonce);
  if (!r.audience.empty()) params.emplace_back("audience", r.audience);
  if (!r.prompt.empty()) params.emplace_back("prompt", r.prompt);
  std::string url = r.authorization_endpoint;
  auto fragment = url.find('#');
  if (fragment != std::string::npos) url.erase(fragment);  // RFC 6749 §3.1: no fragment
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  if (url.ends_with('?') || url.ends_with('&')) return url + util::encode_form(params);
  return url + sep + util::encode_form(params);
}

Result<std::string> parse_callback(std::string_view query, const CallbackExpectation& expected) {
  auto params = util::parse_form(query);
  if (!params)
    return fail(ErrorKind::refused, "the authorization response is malformed: " + params.error(),
                "try `latchkey auth login` again");
  if (auto dup = params->first_duplicate())
    return fail(ErrorKind::refused, "the authorization response repeats '" + *dup + "'", "try again");
  auto state = params->get("state");
  if (!state || !util::constant_time_equal(*state, expected.state))
    return fail(ErrorKind::refused,
                state ? "the authorization response carries another login's state (possible CSRF)"
                      : "the authorization response has no state",
                "start a new `latchkey auth login` and finish it in the browser window it opens");
  auto iss = params->get("iss");
  if (iss && *iss != expected.issuer)
    return fail(ErrorKind::refused,
                "the authorization response comes from issuer '" + std::string(*iss) + "', expected '" +
                    expected.issuer + "' (RFC 9207: possible mix-up attack)",
                "check --issuer and log in again");
  if (!iss && expected.iss_required)
    return fail(ErrorKind::refused, "the authorization response has no iss although the provider announces it (RFC 9207)",
                "log in again; if it persists, the response did not come from " + expected.issuer);
  if (auto error = params->get("error")) {
    std::string what = "the provider refused the login: " + std::string(*error);
    if (auto d = params->get("error_description"); d && !d->empty()) what += " (" + std::string(*d) + ")";
    std::string todo = "try `latchkey auth login` again";
    if (*error == "access_denied") todo = "you (or a policy) denied access; log in again and allow it";
    else if (*error == "invalid_scope") todo = "ask for scopes the client may use: --scope";
    else if (*error == "invalid_target") todo = "ask for an audience the client may use: --audience";
    else if (*error == "unauthorized_client" || *error == "invalid_request")
      todo = "check --client-id and that the client allows this flow";
    return fail(ErrorKind::refused, what, todo);
  }
  auto code = params->get("code");
  if (!code || code->empty())
    return fail(ErrorKind::refused, "the authorization response has neither a code nor an error", "try again");
  return std::string(*code);
}

}  // namespace latchkey::client
