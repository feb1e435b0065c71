// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): end the user's session here and,
// when the RP proved who it is, send the browser back to a registered URI with its state.
#include "oauth/authorization_flow.h"
#include "oauth/browser.h"
#include "oauth/endpoints.h"
#include "oauth/own_tokens.h"
#include "oauth/pages.h"
#include "oauth/redirect_uri.h"
#include "oauth/wire.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

constexpr std::string_view kLogoutPurpose = "logout";

std::vector<std::string> audiences_of(const boost::json::object& claims) {
  std::vector<std::string> out;
  if (auto* aud = claims.if_contains("aud")) {
    if (aud->is_string()) out.emplace_back(aud->as_string());
    if (aud->is_array())
      for (const auto& a : aud->as_array())
        if (a.is_string()) out.emplace_back(a.as_string());
  }
  return out;
}

}  // namespace

Response handle_end_session(Context& ctx, const Request& req) {
  if (req.method != "GET" && req.method != "POST") {
    // RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field".
    Response r = error_page_response(405, "Method not allowed", "Use GET or POST to sign out.");
    r.set_header("Allow", "GET, POST");
    return r;
  }
  std::expected<util::Params, std::string> params = util::parse_form(req.query);
  if (req.method == "POST") {
    auto form = read_form_body(req);
    if (!form) return error_page_response(400, "Invalid request", form.error().description);
    params = std::move(*form);
  }
  if (!params) return error_page_response(400, "Invalid request", "The request is malformed: " + params.error());
  if (auto dup = params->first_duplicate())
    return error_page_response(400, "Invalid request", "The parameter " + *dup + " is included more than once.");

  // Who is asking: the id_token_hint (signed by us, may be expired) and/or client_id.
  std::string client_id = params->get_or("client_id");
  std::optional<boost::json::object> hint;
  if (auto h = params->get_or("id_token_hint"); !h.empty()) {
    hint = decode_own_id_token(ctx, h);
    if (!hint) return error_page_response(400, "Cannot sign out", "The id_token_hint is not a valid ID token of this server.");
    auto auds = audiences_of(*hint);
    if (!client_id.empty() && !util::contains(auds, client_id))
      return error_page_response(400, "Cannot sign out", "client_id does not match the id_token_hint.");
    if (client_id.empty() && !auds.empty()) client_id = auds.front();
  }
  std::optional<store::Client> client;
  if (!client_id.empty()) {
    client = ctx.store.find_client(client_id);
    if (!client) return error_page_response(400, "Cannot sign out", "The application is not registered.");
  }
  // Only a URI registered for the identified client; otherwise this is an open redirector.
  // The client's registered redirect URIs serve as its post-logout redirect URIs.
  std::string post_logout = params->get_or("post_logout_redirect_uri");
  if (!post_logout.empty()) {
    bool ok = false;
    if (client)
      for (const auto& r : client->redirect_uris) ok = ok || redirect_uri_matches(r, post_logout);
    if (!ok)
      return error_page_response(400, "Cannot sign out",
                                 "post_logout_redirect_uri is not registered for this application.");
  }

  auto session = current_session(ctx, req);
  Response probe;
  std::string browser_id = ensure_browser_id(ctx, req, probe);
  bool hint_matches_session = hint && session && hint->if_contains("sub") && hint->at("sub").is_string() &&
                              hint->at("sub").as_string() == session->user_id;
  bool confirmed = req.method == "POST" && params->get_or("confirm") == "yes" &&
                   verify_csrf_token(ctx, params->get_or("csrf"), kLogoutPurpose, "", browser_id);
  if (session && !hint_matches_session && !confirmed) {
    // Without proof that the RP speaks for this user's session, ask: a cross-site link must not be
    // able to sign people out silently.
    std::vector<std::pair<std::string, std::string>> fields{{"csrf", make_csrf_token(ctx, kLogoutPurpose, "", browser_id)},
                                                            {"confirm", "yes"}};
    for (const char* name : {"client_id", "post_logout_redirect_uri", "state"})
      if (auto v = params->get_or(name); !v.empty()) fields.emplace_back(name, v);
    if (!client_id.empty() && params->get_or("client_id").empty()) fields.emplace_back("client_id", client_id);
    Response r = confirm_page_response("Sign out?", "Do you want to sign out of Latchkey?", "/logout", fields, "Sign out");
    for (const auto& h : probe.headers) r.add_header(h.first, h.second);
    return r;
  }

  if (session) ctx.store.delete_session(session->id_hash);
  Response r = post_logout.empty()
                   ? message_page_response(200, "Signed out", "You are signed out. You can close this window.")
                   : redirect_response(params->get_or("state").empty()
                                           ? post_logout
                                           : append_query(post_logout, {{"state", params->get_or("state")}}));
  r.add_header("Set-Cookie", make_set_cookie(ctx.config, session_cookie_name(ctx.config), "", 0));
  return r;
}

}  // namespace latchkey::oauth
