#pragma once
// Requested scopes (RFC 6749 §3.3) and audiences (`audience`, RFC 8707 `resource`) checked
// against what the client may ask for. Shared by authorize, device authorization and
// client_credentials.
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "oauth/error.h"
#include "store/store.h"
#include "util/form.h"

namespace latchkey::oauth {

// Scopes that ask for a claim the client must also be allowed to receive (store::Client::
// allowed_claims): the scope and the claim share the name (RFC 9068 §2.2.3.1 roles, groups).
inline constexpr std::string_view kClaimScopes[] = {"roles", "groups"};

// Whether tokens for `client` with `scopes` carry the claim `claim` (one of kClaimScopes): the
// client is allowed it AND the scopes ask for it.
bool may_receive_claim(const store::Client& client, const std::vector<std::string>& scopes, std::string_view claim);

// Splits, checks the syntax and the client's allowance, removes repeats. Empty input gives an
// empty list: whether that is allowed is the caller's rule.
std::expected<std::vector<std::string>, OAuthError> requested_scopes(std::string_view scope, const store::Client& client);

// `audience` (space-separated) and every `resource` (absolute URI, no fragment), each allowed for
// the client (invalid_target otherwise).
std::expected<std::vector<std::string>, OAuthError> requested_audiences(const util::Params& params,
                                                                       const store::Client& client);

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool is_valid_scope_token(std::string_view token);

}  // namespace latchkey::oauth
