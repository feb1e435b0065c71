#pragma once
// Minting of access tokens (RFC 9068 JWTs), ID tokens (OIDC Core §2, §3.1.3.6) and opaque
// refresh tokens (stored as hashes). Every grant handler issues through here.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "oauth/context.h"
#include "store/store.h"

namespace latchkey::oauth {

struct TokenSubject {
  const store::Client& client;
  const store::User* user = nullptr;  // null for grants without a user
  std::string grant_id;               // empty for grants without a user
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::string nonce;
  std::int64_t auth_time = 0;
  bool issue_refresh_token = false;
  std::int64_t refresh_expires_at = 0;  // absolute end of the grant's refresh tokens
  // A refresh token the caller already stored (rotation stores it with the old token's
  // retirement, a redeemed code with its grant: one commit each); returned as is, none minted.
  std::optional<std::string> stored_refresh_token;
};

struct IssuedTokens {
  std::string access_token;
  std::string jti;
  std::int64_t expires_in = 0;
  std::string scope;
  std::optional<std::string> id_token;
  std::optional<std::string> refresh_token;
};

// RFC 9068 §2.2.3.1 `roles` and `groups` of `user`, each only when the client is allowed the
// claim and `scopes` ask for it (scopes.h may_receive_claim). Access token, id_token and userinfo.
void add_permission_claims(boost::json::object& claims, const store::Client& client, const store::User& user,
                           const std::vector<std::string>& scopes);

// Signs the tokens and stores the refresh token (as a hash); the access token is stateless (no row).
IssuedTokens issue_tokens(Context& ctx, const TokenSubject& subject);

// RFC 6749 §5.1 success body.
boost::json::object token_response_body(const IssuedTokens& tokens);

// A refresh token lives until the idle lifetime passes without use, and never past the grant's
// absolute end (RFC 9700 §4.14.2 "refresh tokens ... expire if not used for some time").
std::int64_t refresh_token_expiry(const ProviderConfig& config, std::int64_t now, std::int64_t grant_expires_at);

// Whether the client gets a refresh token for these scopes: offline_access granted
// (OIDC Core §11) and the refresh_token grant allowed for the client.
bool should_issue_refresh_token(const store::Client& client, const std::vector<std::string>& scopes);

}  // namespace latchkey::oauth
