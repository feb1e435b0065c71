// Device authorization (RFC 8628): the device asks for codes (§3.1-3.2); the user enters the
// user code on the device page, logs in and consents through the same interaction as the code flow.
#include <boost/json/object.hpp>

#include "oauth/audit.h"
#include "oauth/authorization_request.h"
#include "oauth/browser.h"
#include "oauth/client_auth.h"
#include "oauth/endpoints.h"
#include "oauth/grants.h"
#include "oauth/pages.h"
#include "oauth/scopes.h"
#include "oauth/throttle.h"
#include "oauth/wire.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

// RFC 8628 §6.1: base-20 consonants: no vowels (no words), no look-alikes such as 0/O or 1/I.
constexpr std::string_view kUserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ";
constexpr std::size_t kUserCodeLength = 8;
constexpr std::string_view kDevicePurpose = "device";

std::string new_user_code(util::Random& random) {
  std::string code;
  while (code.size() < kUserCodeLength) {
    unsigned char b = 0;
    random.fill(&b, 1);
    if (b >= 240) continue;  // rejection sampling: 240 = 12 * 20, so every letter is equally likely
    code += kUserCodeAlphabet[b % kUserCodeAlphabet.size()];
  }
  return code;
}

std::string display_user_code(std::string_view code) {
  return std::string(code.substr(0, 4)) + "-" + std::string(code.substr(4));
}

// Upper case, dashes and spaces dropped: "bcdf-ghjk" and "BCDF GHJK" are the same code.
std::string normalize_user_code(std::string_view input) {
  std::string out;
  for (char c : input) {
    if (c == '-' || c == ' ') continue;
    out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  return out;
}

}  // namespace

Response handle_device_authorization(Context& ctx, const Request& req) {
  auto request = read_client_request(ctx, req);
  if (!request) return std::move(request.error());
  const util::Params* form = &request->form;
  const AuthenticatedClient* client = &request->client;
  if (!util::contains(client->client.grant_types, kDeviceCodeGrantType))
    return token_error_response(error(ErrorCode::unauthorized_client, "this client may not use the device flow"));
  auto scopes = requested_scopes(form->get_or("scope"), client->client);
  if (!scopes) return token_error_response(scopes.error());
  if (scopes->empty()) return token_error_response(error(ErrorCode::invalid_scope, "scope is required"));
  auto audiences = requested_audiences(*form, client->client);
  if (!audiences) return token_error_response(audiences.error());

  const auto now = ctx.clock.now();
  std::string device_code = ctx.random.token(32);
  std::string user_code;
  store::DeviceCode record;
  record.device_code_hash = util::secret_hash(device_code);
  record.client_id = client->client.id;
  record.scopes = *scopes;
  record.audiences = *audiences;
  record.created_at = now;
  record.expires_at = now + ctx.config.device_code_ttl;
  record.interval = ctx.config.device_poll_interval;
  // The store refuses a user code that another pending request holds (one approval must not
  // approve two devices); a clash is a 1-in-10^10 event, so a fresh draw settles it.
  for (int attempt = 0;; ++attempt) {
    user_code = new_user_code(ctx.random);
    record.user_code_hash = util::secret_hash(user_code);
    try {
      ctx.store.put_device_code(record);
      break;
    } catch (const store::StoreError&) {
      if (attempt == 2) throw;
    }
  }

  const std::string verification_uri = ctx.config.issuer + "/device";
  boost::json::object body;
  body["device_code"] = device_code;
  body["user_code"] = display_user_code(user_code);
  body["verification_uri"] = verification_uri;
  body["verification_uri_complete"] = verification_uri + "?user_code=" + display_user_code(user_code);
  body["expires_in"] = ctx.config.device_code_ttl;
  body["interval"] = ctx.config.device_poll_interval;
  return json_response(200, body);
}

Response handle_device_page(Context& ctx, const Request& req) {
  Response response;
  std::string browser_id = ensure_browser_id(ctx, req, response);
  auto page = [&](std::string user_code, std::string err, int status) {
    Response r = device_page_response(
        DevicePage{"/device", make_csrf_token(ctx, kDevicePurpose, "", browser_id), std::move(user_code), std::move(err)},
        status);
    for (const auto& h : response.headers) r.add_header(h.first, h.second);  // the browser cookie
    return r;
  };

  if (req.method == "GET" || req.method == "HEAD") {
    auto query = util::parse_form(req.query);
    std::string prefill = query ? util::trim(query->get_or("user_code")) : std::string();
    if (prefill.size() > 32) prefill.clear();
    return page(prefill, "", 200);
  }
  if (req.method != "POST") {
    // RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field".
    Response r = error_page_response(405, "Method not allowed", "Use the form on this page.");
    r.set_header("Allow", "GET, HEAD, POST");
    return r;
  }

  auto form = read_form_body(req);
  if (!form) return error_page_response(400, "Invalid request", form.error().description);
  if (!verify_csrf_token(ctx, form->get_or("csrf"), kDevicePurpose, "", browser_id))
    return page("", "The form expired. Enter the code again.", 403);
  // RFC 8628 §5.1: a user code is short, so wrong entries are throttled per browser and per address.
  const ThrottleKey browser_key = throttle_key("user-code-browser", browser_id, ctx.config.user_code_throttle);
  const ThrottleKey address_key = throttle_key("user-code-addr", req.remote_address, ctx.config.address_throttle);
  if (auto wait = throttle_wait(ctx, browser_key, address_key); wait > 0) {
    audit("user_code_throttled", {{"address", req.remote_address}, {"retry_after", std::to_string(wait)}});
    Response r = page("", too_many_attempts_message(wait), 429);
    r.set_header("Retry-After", std::to_string(wait));
    return r;
  }
  std::string user_code = normalize_user_code(form->get_or("user_code"));
  auto device = user_code.size() == kUserCodeLength
                    ? ctx.store.find_pending_device_code_by_user_code(util::secret_hash(user_code), ctx.clock.now())
                    : std::nullopt;
  if (!device) {
    throttle_failure(ctx, {&browser_key, &address_key});
    return page(form->get_or("user_code").substr(0, 32), "That code is not valid or has expired.", 400);
  }
  auto client = ctx.store.find_client(device->client_id);
  if (!client) return page("", "That code is not valid or has expired.", 400);

  // Continue as an interaction: log in, then always ask for consent, so that a user who was
  // tricked into typing someone else's code sees which application is asking (RFC 8628 §5.4).
  AuthorizationRequest request;
  request.client_id = client->id;
  request.scopes = device->scopes;
  request.audiences = device->audiences;
  request.prompt = {"consent"};
  request.device_user_code_hash = device->user_code_hash;
  const auto now = ctx.clock.now();
  std::string interaction_id = ctx.random.token(32);
  ctx.store.put_interaction(store::Interaction{util::secret_hash(interaction_id), util::secret_hash(browser_id),
                                               request.to_json(), now, now + ctx.config.interaction_ttl});
  Response r = redirect_response("/interaction/" + interaction_id);
  for (const auto& h : response.headers) r.add_header(h.first, h.second);
  return r;
}

}  // namespace latchkey::oauth
