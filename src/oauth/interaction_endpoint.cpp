// Login and consent: the pages a user sees between the authorize request and the redirect back.
#include "oauth/audit.h"
#include "oauth/authorization_flow.h"
#include "oauth/browser.h"
#include "oauth/endpoints.h"
#include "oauth/pages.h"
#include "oauth/throttle.h"
#include "oauth/wire.h"
#include "util/base64url.h"
#include "util/crypto.h"
#include "util/password.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

constexpr std::string_view kLoginPurpose = "login";
constexpr std::string_view kConsentPurpose = "consent";
constexpr std::string_view kLoginFailed = "Wrong username or password.";

struct LoadedInteraction {
  std::string id;
  store::Interaction record;
  AuthorizationRequest request;
  store::Client client;
  std::string browser_id;
};

// RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field".
Response method_not_allowed(std::string_view message, std::string allow) {
  Response r = error_page_response(405, "Method not allowed", message);
  r.set_header("Allow", std::move(allow));
  return r;
}

Response expired_page() {
  return error_page_response(400, "This sign-in has expired",
                             "This sign-in request has expired or was already completed.");
}

std::expected<LoadedInteraction, Response> load_interaction(Context& ctx, const Request& req, std::string_view id) {
  if (id.size() != 43 || !util::base64url_decode(id)) return std::unexpected(expired_page());
  auto record = ctx.store.find_interaction(util::secret_hash(id), ctx.clock.now());
  if (!record) return std::unexpected(expired_page());
  auto browser = find_cookie(req, browser_cookie_name(ctx.config));
  // The interaction belongs to the browser that started it: a link copied elsewhere is useless.
  if (!browser || !util::constant_time_equal(util::secret_hash(*browser), record->browser_hash))
    return std::unexpected(error_page_response(
        403, "Start again from the application",
        "This sign-in was started in another browser, or your browser blocks cookies for this site."));
  auto request = AuthorizationRequest::from_json(record->request_json);
  if (!request) throw std::runtime_error("stored interaction has an unreadable request");
  auto client = ctx.store.find_client(request->client_id);
  if (!client) return std::unexpected(error_page_response(400, "Unknown application", "The application is no longer registered."));
  return LoadedInteraction{std::string(id), std::move(*record), std::move(*request), std::move(*client), std::move(*browser)};
}

std::string display_name(const store::Client& c) { return c.name.empty() ? c.id : c.name; }

Response login_page(Context& ctx, const LoadedInteraction& in, std::string username = {}, std::string err = {},
                    int status = 200) {
  LoginPage page{display_name(in.client), "/interaction/" + in.id + "/login",
                 make_csrf_token(ctx, kLoginPurpose, in.id, in.browser_id), std::move(username), std::move(err)};
  return login_page_response(page, status);
}

// RFC 6585 §4: 429 with Retry-After; the login form again, with one message for every reason.
Response too_many_attempts(Context& ctx, const LoadedInteraction& in, std::string username, std::int64_t wait) {
  Response r = login_page(ctx, in, std::move(username), too_many_attempts_message(wait), 429);
  r.set_header("Retry-After", std::to_string(wait));
  return r;
}

Response consent_page(Context& ctx, const LoadedInteraction& in, const std::string& user_id) {
  auto user = ctx.store.find_user(user_id);
  ConsentPage page;
  page.client_name = display_name(in.client);
  page.client_id = in.client.id;
  page.user_name = user ? (user->name.empty() ? user->username : user->name) : std::string("you");
  page.scopes = in.request.scopes;
  page.audiences = in.request.audiences;
  page.action = "/interaction/" + in.id + "/consent";
  page.csrf = make_csrf_token(ctx, kConsentPurpose, in.id, in.browser_id);
  return consent_page_response(page);
}

// Both settled: the interaction is spent; the code goes to the client, or the device is approved.
Response finish(Context& ctx, const LoadedInteraction& in, const store::Session& session) {
  ctx.store.delete_interaction(in.record.id_hash);
  if (in.request.is_device()) {
    if (!ctx.store.decide_device_code(in.request.device_user_code_hash, true, session.user_id, session.auth_time,
                                      ctx.clock.now()))
      return error_page_response(400, "This code has expired", "Start again on your device to get a new code.");
    return message_page_response(200, "Device connected",
                                 "You allowed " + display_name(in.client) + ". Return to your device; you can close this window.");
  }
  return issue_code_redirect(ctx, in.request, session);
}

Response next_step(Context& ctx, const LoadedInteraction& in, const std::optional<store::Session>& session) {
  if (needs_login(ctx, in.request, session)) return login_page(ctx, in);
  if (needs_consent(ctx, in.request, session->user_id)) return consent_page(ctx, in, session->user_id);
  return finish(ctx, in, *session);
}

std::expected<util::Params, Response> checked_form(Context& ctx, const Request& req, const LoadedInteraction& in,
                                                   std::string_view purpose) {
  auto form = read_form_body(req);
  if (!form) return std::unexpected(error_page_response(400, "Invalid request", form.error().description));
  if (form->first_duplicate())
    return std::unexpected(error_page_response(400, "Invalid request", "A form field was sent more than once."));
  if (!verify_csrf_token(ctx, form->get_or("csrf"), purpose, in.id, in.browser_id))
    return std::unexpected(error_page_response(
        403, "Please try again", "The form expired or did not come from this page. Go back and submit it again."));
  return std::move(*form);
}

}  // namespace

Response handle_interaction_page(Context& ctx, const Request& req, std::string_view id) {
  // HEAD is GET without the body (RFC 9110 §9.3.2; the provider drops the body).
  if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("Use GET for this page.", "GET, HEAD");
  auto in = load_interaction(ctx, req, id);
  if (!in) return in.error();
  return next_step(ctx, *in, current_session(ctx, req));
}

Response handle_interaction_login(Context& ctx, const Request& req, std::string_view id) {
  if (req.method != "POST") return method_not_allowed("Submit the sign-in form.", "POST");
  auto in = load_interaction(ctx, req, id);
  if (!in) return in.error();
  auto form = checked_form(ctx, req, *in, kLoginPurpose);
  if (!form) return form.error();

  std::string username = util::trim(form->get_or("username"));
  std::string password = form->get_or("password");
  if (username.empty() || password.empty() || username.size() > 256 || password.size() > 1024)
    return login_page(ctx, *in, username, "Enter your username and password.", 400);

  // Throttle the name as typed, whether or not such a user exists: a lock on known names only
  // would tell which names exist.
  const ThrottleKey account_key = throttle_key("login-user", username, ctx.config.login_account_throttle);
  const ThrottleKey address_key = throttle_key("login-addr", req.remote_address, ctx.config.address_throttle);
  // While locked, the password is not even checked: a correct one is refused too.
  if (auto wait = throttle_wait(ctx, account_key, address_key); wait > 0) {
    audit("login_throttled",
          {{"client_id", in->client.id}, {"address", req.remote_address}, {"retry_after", std::to_string(wait)}});
    return too_many_attempts(ctx, *in, username, wait);
  }

  auto user = ctx.store.find_user_by_username(username);
  bool ok;
  if (user) {
    ok = util::verify_password(user->password_hash, password);
  } else {
    // Same work for an unknown user, so timing does not tell which names exist.
    util::verify_password_dummy(password, ctx.config.password_cost);
    ok = false;
  }
  if (!ok) {
    auto locked_for = throttle_failure(ctx, {&account_key, &address_key});
    log_line("info", "login failed for a sign-in to client " + in->client.id);
    // The user id when the name exists; never the password, nor a name typed for an unknown user
    // (people type passwords into the username field).
    audit("login_failed", {{"user_id", user ? std::string_view(user->id) : std::string_view()},
                           {"client_id", in->client.id},
                           {"address", req.remote_address},
                           {"locked_for", locked_for > 0 ? std::to_string(locked_for) : std::string()}});
    // One message for a wrong user and a wrong password: no user enumeration.
    return login_page(ctx, *in, username, std::string(kLoginFailed), 401);
  }

  // Only the account's count is forgotten: one good login must not reset an address from which
  // other accounts are being guessed.
  throttle_clear(ctx, account_key);
  audit("login_succeeded", {{"user_id", user->id}, {"client_id", in->client.id}, {"address", req.remote_address}});
  const auto now = ctx.clock.now();
  // A fresh session id on every login (no session fixation); the old session ends.
  if (auto old = find_cookie(req, session_cookie_name(ctx.config)); old && !old->empty() && old->size() <= 128)
    ctx.store.delete_session(util::secret_hash(*old));
  std::string session_id = ctx.random.token(32);
  store::Session session{util::secret_hash(session_id), user->id, now, now, now + ctx.config.session_ttl};
  ctx.store.put_session(session);

  Response r = needs_consent(ctx, in->request, user->id) ? redirect_response("/interaction/" + in->id)
                                                         : finish(ctx, *in, session);
  r.add_header("Set-Cookie", make_set_cookie(ctx.config, session_cookie_name(ctx.config), session_id,
                                             ctx.config.session_ttl));
  return r;
}

Response handle_interaction_consent(Context& ctx, const Request& req, std::string_view id) {
  if (req.method != "POST") return method_not_allowed("Submit the consent form.", "POST");
  auto in = load_interaction(ctx, req, id);
  if (!in) return in.error();
  auto form = checked_form(ctx, req, *in, kConsentPurpose);
  if (!form) return form.error();

  auto session = current_session(ctx, req);
  if (needs_login(ctx, in->request, session)) return redirect_response("/interaction/" + in->id);

  auto decision = form->get_or("decision");
  if (decision == "deny") {
    audit("consent_denied", {{"user_id", session->user_id},
                             {"client_id", in->client.id},
                             {"scope", util::join(in->request.scopes, " ")},
                             {"flow", in->request.is_device() ? "device" : "authorization_code"}});
    ctx.store.delete_interaction(in->record.id_hash);
    if (in->request.is_device()) {
      ctx.store.decide_device_code(in->request.device_user_code_hash, false, session->user_id, session->auth_time,
                                   ctx.clock.now());
      return message_page_response(200, "Access denied", "The device was not connected. You can close this window.");
    }
    return authorization_error_redirect(in->request.redirect_uri,
                                        error(ErrorCode::access_denied, "the user denied the request"),
                                        in->request.state, ctx.config.issuer);
  }
  if (decision != "allow") return error_page_response(400, "Invalid request", "Choose Allow or Deny.");

  // Remember the consent, adding to what the user allowed this client before.
  store::Consent consent{session->user_id, in->client.id, in->request.scopes, in->request.audiences, ctx.clock.now()};
  if (auto previous = ctx.store.find_consent(session->user_id, in->client.id)) {
    for (const auto& s : previous->scopes)
      if (!util::contains(consent.scopes, s)) consent.scopes.push_back(s);
    for (const auto& a : previous->audiences)
      if (!util::contains(consent.audiences, a)) consent.audiences.push_back(a);
  }
  ctx.store.put_consent(consent);
  audit("consent_granted", {{"user_id", session->user_id},
                            {"client_id", in->client.id},
                            {"scope", util::join(in->request.scopes, " ")},
                            {"flow", in->request.is_device() ? "device" : "authorization_code"}});
  return finish(ctx, *in, *session);
}

}  // namespace latchkey::oauth
