#pragma once
// Grant handlers (RFC 6749 §4): one function per grant_type, listed in one table in
// token_endpoint.cpp. Adding a grant adds a file and a table row.
#include <boost/json/object.hpp>
#include <expected>

#include "oauth/client_auth.h"
#include "oauth/context.h"
#include "util/form.h"

namespace latchkey::oauth {

using GrantResult = std::expected<boost::json::object, OAuthError>;
using GrantHandler = GrantResult (*)(Context& ctx, const util::Params& form, const AuthenticatedClient& client);

inline constexpr std::string_view kDeviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code";

GrantResult grant_authorization_code(Context& ctx, const util::Params& form, const AuthenticatedClient& client);
GrantResult grant_refresh_token(Context& ctx, const util::Params& form, const AuthenticatedClient& client);
GrantResult grant_client_credentials(Context& ctx, const util::Params& form, const AuthenticatedClient& client);
GrantResult grant_device_code(Context& ctx, const util::Params& form, const AuthenticatedClient& client);

}  // namespace latchkey::oauth
