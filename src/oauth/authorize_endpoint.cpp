// Authorization endpoint (RFC 6749 §3.1, §4.1.1-4.1.2; OIDC Core §3.1.2).
#include <boost/json/string.hpp>

#include "oauth/authorization_flow.h"
#include "oauth/browser.h"
#include "oauth/endpoints.h"
#include "oauth/pages.h"
#include "oauth/wire.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::oauth {

std::optional<store::Session> current_session(Context& ctx, const Request& req) {
  auto id = find_cookie(req, session_cookie_name(ctx.config));
  if (!id || id->empty() || id->size() > 128) return std::nullopt;
  return ctx.store.find_session(util::secret_hash(*id), ctx.clock.now());
}

bool needs_login(const Context& ctx, const AuthorizationRequest& request, const std::optional<store::Session>& session) {
  if (!session) return true;
  if (request.has_prompt("login") && (request.stale_session.empty() || session->id_hash == request.stale_session))
    return true;
  if (request.max_age && ctx.clock.now() - session->auth_time > *request.max_age) return true;
  return false;
}

bool needs_consent(Context& ctx, const AuthorizationRequest& request, const std::string& user_id) {
  if (request.has_prompt("consent")) return true;
  auto consent = ctx.store.find_consent(user_id, request.client_id);
  return !consent || !util::is_subset(request.scopes, consent->scopes) ||
         !util::is_subset(request.audiences, consent->audiences);
}

Response issue_code_redirect(Context& ctx, const AuthorizationRequest& request, const store::Session& session) {
  const auto now = ctx.clock.now();
  // 256 random bits, stored only as a hash; short-lived (seed 003: 10 minutes) and single-use.
  std::string code = ctx.random.token(32);
  store::AuthorizationCode record;
  record.code_hash = util::secret_hash(code);
  record.client_id = request.client_id;
  record.user_id = session.user_id;
  record.grant_id = ctx.random.token(16);
  record.redirect_uri = request.redirect_uri;
  record.redirect_uri_in_request = request.redirect_uri_in_request;
  record.code_challenge = request.code_challenge;
  record.code_challenge_method = request.code_challenge_method;
  record.scopes = request.scopes;
  record.audiences = request.audiences;
  record.nonce = request.nonce;
  record.session_id_hash = session.id_hash;
  record.auth_time = session.auth_time;
  record.created_at = now;
  record.expires_at = now + ctx.config.code_ttl;
  ctx.store.put_code(record);

  std::vector<std::pair<std::string, std::string>> params{{"code", code}};
  if (!request.state.empty()) params.emplace_back("state", request.state);
  params.emplace_back("iss", ctx.config.issuer);  // RFC 9207 §2
  return redirect_response(append_query(request.redirect_uri, params));
}

namespace {

std::expected<util::Params, Response> authorize_params(const Request& req) {
  if (req.method == "GET") {
    auto p = util::parse_form(req.query);
    if (!p) return std::unexpected(error_page_response(400, "Invalid request", "The request is malformed: " + p.error()));
    return *p;
  }
  // RFC 6749 §3.1: the endpoint MUST support GET and MAY support POST (form-encoded).
  auto p = read_form_body(req);
  if (!p) return std::unexpected(error_page_response(400, "Invalid request", p.error().description));
  return *p;
}

}  // namespace

Response handle_authorize(Context& ctx, const Request& req) {
  if (req.method != "GET" && req.method != "POST") {
    auto r = error_page_response(405, "Method not allowed", "The authorization endpoint accepts GET and POST.");
    r.set_header("Allow", "GET, POST");
    return r;
  }
  auto params = authorize_params(req);
  if (!params) return params.error();

  auto validated = validate_authorization_request(*params, ctx.store, ctx.config);
  if (!validated) {
    const auto& f = validated.error();
    if (f.redirect_uri.empty())
      return error_page_response(400, "This sign-in request cannot be completed", f.error.description);
    return authorization_error_redirect(f.redirect_uri, f.error, f.state, ctx.config.issuer);
  }
  AuthorizationRequest& request = validated->request;
  const auto now = ctx.clock.now();

  auto session = current_session(ctx, req);
  if (request.has_prompt("login")) request.stale_session = session ? session->id_hash : std::string("none");
  bool login = needs_login(ctx, request, session);
  bool consent = !login && needs_consent(ctx, request, session->user_id);
  if (request.has_prompt("none")) {
    // OIDC Core §3.1.2.1: prompt=none MUST NOT display any page; answer with the reason instead.
    if (login)
      return authorization_error_redirect(request.redirect_uri, error(ErrorCode::login_required, "the user is not signed in"),
                                          request.state, ctx.config.issuer);
    if (consent)
      return authorization_error_redirect(request.redirect_uri,
                                          error(ErrorCode::consent_required, "the user has not consented"),
                                          request.state, ctx.config.issuer);
  }
  if (!login && !consent) return issue_code_redirect(ctx, request, *session);

  // Park the validated request server-side, bound to this browser, and send the user to log in
  // or consent. Only the hash of the interaction id is stored.
  Response response = redirect_response("");
  std::string browser_id = ensure_browser_id(ctx, req, response);
  std::string interaction_id = ctx.random.token(32);
  ctx.store.put_interaction(store::Interaction{util::secret_hash(interaction_id), util::secret_hash(browser_id),
                                               request.to_json(), now, now + ctx.config.interaction_ttl});
  response.set_header("Location", "/interaction/" + interaction_id);
  return response;
}

}  // namespace latchkey::oauth
