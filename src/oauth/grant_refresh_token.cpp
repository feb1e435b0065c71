// grant_type=refresh_token (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
#include "oauth/audit.h"
#include "oauth/grants.h"
#include "oauth/scopes.h"
#include "oauth/token_issuer.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::oauth {

GrantResult grant_refresh_token(Context& ctx, const util::Params& form, const AuthenticatedClient& auth) {
  auto presented = form.get_or("refresh_token");
  if (presented.empty()) return std::unexpected(error(ErrorCode::invalid_request, "refresh_token is required"));
  if (presented.size() > 512) return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token is invalid"));
  const auto now = ctx.clock.now();
  const std::string old_hash = util::secret_hash(presented);

  auto current = ctx.store.find_refresh_token(old_hash);
  if (!current) return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token is invalid"));
  auto grant = ctx.store.find_grant(current->grant_id);
  if (!grant || grant->revoked_at != 0)
    return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token has been revoked"));
  // RFC 6749 §6: the server MUST "validate the refresh token and ensure that it was issued to the
  // authenticated client". A foreign client learns nothing and changes nothing.
  if (grant->client_id != auth.client.id)
    return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token is invalid"));
  if (current->used_at == 0 && now >= current->expires_at)
    return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token has expired"));

  // RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted.
  std::vector<std::string> scopes = grant->scopes;
  if (auto requested = form.get("scope"); requested && !requested->empty()) {
    auto narrowed = util::split_spaces(*requested);
    if (!util::is_subset(narrowed, grant->scopes))
      return std::unexpected(error(ErrorCode::invalid_scope, "a refresh cannot widen the granted scope"));
    scopes = std::move(narrowed);
  }

  // Rotation: one conditional update retires the presented token and stores its successor.
  std::string next = ctx.random.token(32);
  store::RefreshToken next_record{util::secret_hash(next), grant->id, now,
                                  refresh_token_expiry(ctx.config, now, grant->expires_at), 0};
  auto rotated = ctx.store.rotate_refresh_token(old_hash, next_record, now);
  if (rotated.outcome == store::RotateOutcome::not_found)
    return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token is invalid"));
  if (rotated.outcome == store::RotateOutcome::already_used) {
    // RFC 9700 §4.14.2: a rotated-away token coming back means it leaked; revoke the whole grant
    // (its refresh tokens and access tokens) so neither the attacker nor the victim keeps it.
    ctx.store.revoke_grant(grant->id, now);
    log_line("warn", "security: refresh token reuse detected; grant " + grant->id + " of client " + grant->client_id +
                         " revoked");
    audit("refresh_token_reuse", {{"client_id", grant->client_id}, {"user_id", grant->user_id},
                                  {"grant_id", grant->id}, {"action", "grant_revoked"}});
    return std::unexpected(error(ErrorCode::invalid_grant, "the refresh token was already used"));
  }

  auto user = ctx.store.find_user(grant->user_id);
  if (!user) {
    ctx.store.revoke_grant(grant->id, now);
    return std::unexpected(error(ErrorCode::invalid_grant, "the user of this grant no longer exists"));
  }
  // OIDC Core §12.2: a refreshed id_token keeps auth_time; it carries no nonce.
  TokenSubject subject{auth.client, &*user, grant->id, scopes, grant->audiences, {}, grant->auth_time, false,
                       grant->expires_at, next};
  return token_response_body(issue_tokens(ctx, subject));
}

}  // namespace latchkey::oauth
