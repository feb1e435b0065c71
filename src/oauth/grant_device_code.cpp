// grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4-3.5): the device polls.
#include "oauth/grants.h"
#include "oauth/token_issuer.h"
#include "util/crypto.h"

namespace latchkey::oauth {

GrantResult grant_device_code(Context& ctx, const util::Params& form, const AuthenticatedClient& auth) {
  auto device_code = form.get_or("device_code");
  if (device_code.empty()) return std::unexpected(error(ErrorCode::invalid_request, "device_code is required"));
  if (device_code.size() > 512) return std::unexpected(error(ErrorCode::invalid_grant, "the device_code is invalid"));
  const auto now = ctx.clock.now();
  const std::string hash = util::secret_hash(device_code);
  auto dc = ctx.store.find_device_code(hash);
  if (!dc || dc->client_id != auth.client.id)
    return std::unexpected(error(ErrorCode::invalid_grant, "the device_code is invalid"));
  if (now >= dc->expires_at)
    return std::unexpected(error(ErrorCode::expired_token, "the device_code has expired; start again"));

  // RFC 8628 §3.5: polling faster than the interval gets slow_down, and "the interval MUST be
  // increased by 5 seconds for this and all subsequent requests".
  if (dc->status == "pending" && dc->last_polled_at != 0 && now - dc->last_polled_at < dc->interval) {
    ctx.store.update_device_poll(hash, now, dc->interval + 5);
    return std::unexpected(error(ErrorCode::slow_down, "polling too fast; wait " + std::to_string(dc->interval + 5) +
                                                           " seconds between requests"));
  }
  ctx.store.update_device_poll(hash, now, dc->interval);

  if (dc->status == "pending")
    return std::unexpected(error(ErrorCode::authorization_pending, "the user has not finished yet"));
  if (dc->status == "denied") return std::unexpected(error(ErrorCode::access_denied, "the user denied the request"));
  // approved: exactly one poll turns it into tokens (the device_code works once).
  if (dc->status != "approved" || !ctx.store.consume_device_code(hash))
    return std::unexpected(error(ErrorCode::invalid_grant, "the device_code was already used"));

  auto user = ctx.store.find_user(dc->user_id);
  if (!user) return std::unexpected(error(ErrorCode::invalid_grant, "the user no longer exists"));
  store::Grant grant{ctx.random.token(16), auth.client.id, user->id, dc->scopes, dc->audiences, {},
                     dc->auth_time, now, now + ctx.config.refresh_token_ttl, 0};
  ctx.store.put_grant(grant);
  TokenSubject subject{auth.client, &*user, grant.id, dc->scopes, dc->audiences, {}, dc->auth_time,
                       should_issue_refresh_token(auth.client, dc->scopes), grant.expires_at, std::nullopt};
  return token_response_body(issue_tokens(ctx, subject));
}

}  // namespace latchkey::oauth
