// Token revocation (RFC 7009).
#include "oauth/audit.h"
#include "oauth/endpoints.h"
#include "oauth/own_tokens.h"
#include "oauth/wire.h"
#include "util/crypto.h"

namespace latchkey::oauth {

Response handle_revocation(Context& ctx, const Request& req) {
  auto request = read_client_request(ctx, req);
  if (!request) return std::move(request.error());
  const auto& client = request->client.client;
  auto token = request->form.get_or("token");
  if (token.empty()) return token_error_response(error(ErrorCode::invalid_request, "token is required"));
  // RFC 7009 §2.1: the hint only speeds up the search; an unknown hint value is not an error
  // because the server "MUST extend its search across all of its supported token types".
  const auto now = ctx.clock.now();
  auto refused = [] {
    // RFC 7009 §2.1: a token of another client: "the request is refused and the client is informed".
    return token_error_response(error(ErrorCode::unauthorized_client, "the token was not issued to this client"));
  };

  if (auto rt = ctx.store.find_refresh_token(util::secret_hash(token)); rt && token.size() <= 512) {
    auto grant = ctx.store.find_grant(rt->grant_id);
    if (grant) {
      if (grant->client_id != client.id) return refused();
      // Revoking a refresh token revokes its grant: every refresh and access token of it.
      ctx.store.revoke_grant(grant->id, now);
      audit("token_revoked", {{"client_id", client.id}, {"token_type", "refresh_token"}, {"grant_id", grant->id}});
    }
  } else if (auto at = decode_own_access_token(ctx, token)) {
    if (at->client_id != client.id) return refused();
    // The JWT stays valid by signature; its jti is denied until it expires (introspection,
    // userinfo and resource servers in introspection mode see it inactive). Access tokens are
    // stateless, so this row is the only one ever written for one.
    // An expired token is inactive already: nothing to store.
    if (now < at->exp) ctx.store.revoke_access_token(revoked_access_token_record(*at, now));
    // The jti names the token without being usable as one.
    audit("token_revoked", {{"client_id", client.id}, {"token_type", "access_token"}, {"jti", at->jti}});
  }
  // RFC 7009 §2.2: 200 also for invalid or unknown tokens: nothing to revoke is success.
  Response r;
  r.status = 200;
  r.set_header("Cache-Control", "no-store");
  return r;
}

}  // namespace latchkey::oauth
