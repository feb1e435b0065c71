// grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6).
#include "oauth/audit.h"
#include "oauth/grants.h"
#include "oauth/pkce.h"
#include "oauth/token_issuer.h"
#include "util/crypto.h"

namespace latchkey::oauth {

GrantResult grant_authorization_code(Context& ctx, const util::Params& form, const AuthenticatedClient& auth) {
  auto code = form.get_or("code");
  if (code.empty()) return std::unexpected(error(ErrorCode::invalid_request, "code is required"));
  const auto now = ctx.clock.now();

  // Atomic single use: of two concurrent redemptions exactly one gets `consumed`.
  auto consumed = ctx.store.consume_code(util::secret_hash(code), now);
  if (consumed.outcome == store::ConsumeOutcome::not_found)
    return std::unexpected(error(ErrorCode::invalid_grant, "the authorization code is invalid"));
  const store::AuthorizationCode& c = *consumed.code;
  if (consumed.outcome == store::ConsumeOutcome::already_used) {
    // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization server
    // MUST deny the request and SHOULD revoke (when possible) all tokens previously issued based on
    // that authorization code."
    ctx.store.revoke_grant(c.grant_id, now);
    log_line("warn", "security: authorization code reused; grant " + c.grant_id + " of client " + c.client_id +
                         " revoked");
    audit("code_reuse", {{"client_id", c.client_id}, {"user_id", c.user_id}, {"grant_id", c.grant_id},
                         {"action", "grant_revoked"}});
    return std::unexpected(error(ErrorCode::invalid_grant, "the authorization code was already used"));
  }
  // RFC 6749 §4.1.3: "ensure that the authorization code was issued to the authenticated confidential
  // client, or if the client is public, ensure that the code was issued to client_id in the request".
  if (c.client_id != auth.client.id)
    return std::unexpected(error(ErrorCode::invalid_grant, "the authorization code was issued to another client"));
  if (now >= c.expires_at) return std::unexpected(error(ErrorCode::invalid_grant, "the authorization code has expired"));

  // RFC 6749 §4.1.3: redirect_uri is REQUIRED if it was in the authorization request, and the
  // values MUST be identical.
  auto redirect_uri = form.get("redirect_uri");
  if (c.redirect_uri_in_request && (!redirect_uri || redirect_uri->empty()))
    return std::unexpected(error(ErrorCode::invalid_grant, "redirect_uri is required: it was sent when authorizing"));
  if (redirect_uri && !redirect_uri->empty() && *redirect_uri != c.redirect_uri)
    return std::unexpected(error(ErrorCode::invalid_grant, "redirect_uri does not match the authorization request"));

  auto verifier = form.get_or("code_verifier");
  if (!c.code_challenge.empty()) {
    // RFC 7636 §4.6: the server MUST verify the code_verifier.
    if (verifier.empty()) return std::unexpected(error(ErrorCode::invalid_grant, "code_verifier is required (PKCE)"));
    if (!verify_code_verifier(verifier, c.code_challenge, c.code_challenge_method))
      return std::unexpected(error(ErrorCode::invalid_grant, "code_verifier does not match the code_challenge"));
  } else if (!verifier.empty()) {
    // RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
    return std::unexpected(error(ErrorCode::invalid_grant, "code_verifier sent but no code_challenge was used"));
  }

  auto user = ctx.store.find_user(c.user_id);
  if (!user) return std::unexpected(error(ErrorCode::invalid_grant, "the user of this code no longer exists"));

  store::Grant grant{c.grant_id, c.client_id, c.user_id, c.scopes, c.audiences, c.nonce,
                     c.auth_time, now, now + ctx.config.refresh_token_ttl, 0};
  std::optional<std::string> refresh_token;
  if (should_issue_refresh_token(auth.client, c.scopes)) {
    // The grant and its first refresh token are stored together: one commit, not two.
    refresh_token = ctx.random.token(32);
    ctx.store.put_grant_and_refresh_token(
        grant, store::RefreshToken{util::secret_hash(*refresh_token), grant.id, now,
                                   refresh_token_expiry(ctx.config, now, grant.expires_at), 0});
  } else {
    ctx.store.put_grant(grant);
  }

  TokenSubject subject{auth.client, &*user, c.grant_id, c.scopes, c.audiences, c.nonce, c.auth_time,
                       refresh_token.has_value(), grant.expires_at, std::move(refresh_token)};
  return token_response_body(issue_tokens(ctx, subject));
}

}  // namespace latchkey::oauth
