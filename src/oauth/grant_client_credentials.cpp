// grant_type=client_credentials (RFC 6749 §4.4): a confidential client acting for itself.
#include "oauth/grants.h"
#include "oauth/scopes.h"
#include "oauth/token_issuer.h"
#include "util/strings.h"

namespace latchkey::oauth {

GrantResult grant_client_credentials(Context& ctx, const util::Params& form, const AuthenticatedClient& auth) {
  // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential clients."
  if (auth.client.is_public)
    return std::unexpected(error(ErrorCode::unauthorized_client, "client_credentials needs a confidential client"));
  auto scopes = requested_scopes(form.get_or("scope"), auth.client);
  if (!scopes) return std::unexpected(scopes.error());
  // No user, so nothing of OpenID Connect or offline access applies.
  for (const char* user_scope : {"openid", "offline_access", "profile", "email"})
    if (util::contains(*scopes, user_scope))
      return std::unexpected(
          error(ErrorCode::invalid_scope, std::string("scope '") + user_scope + "' needs a user; not with client_credentials"));
  auto audiences = requested_audiences(form, auth.client);
  if (!audiences) return std::unexpected(audiences.error());

  // RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included."
  TokenSubject subject{auth.client, nullptr, {}, *scopes, *audiences, {}, 0, false, 0, std::nullopt};
  return token_response_body(issue_tokens(ctx, subject));
}

}  // namespace latchkey::oauth
