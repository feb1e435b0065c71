#pragma once
// The decisions shared by the authorize endpoint and the login/consent interaction: is a login
// needed, is a consent needed, and issuing the code once both are settled.
#include <optional>

#include "oauth/authorization_request.h"
#include "oauth/context.h"
#include "oauth/message.h"

namespace latchkey::oauth {

std::optional<store::Session> current_session(Context& ctx, const Request& req);

// Login is needed without a session, on prompt=login until the user has logged in anew (the
// session of the moment the request arrived is request.stale_session), or when max_age has passed
// (OIDC Core §3.1.2.1).
bool needs_login(const Context& ctx, const AuthorizationRequest& request, const std::optional<store::Session>& session);

// Consent is needed on prompt=consent or when the remembered consent lacks a scope or audience.
bool needs_consent(Context& ctx, const AuthorizationRequest& request, const std::string& user_id);

// Issues the one-time code and redirects to the client with code, state and iss.
Response issue_code_redirect(Context& ctx, const AuthorizationRequest& request, const store::Session& session);

}  // namespace latchkey::oauth
