#pragma once
// Browser-facing mechanics: cookies, CSRF tokens and the security headers of every HTML page.
#include <optional>
#include <string>
#include <string_view>

#include "oauth/context.h"
#include "oauth/message.h"

namespace latchkey::oauth {

// First cookie of that name in the Cookie header(s); tolerant of garbage (it is skipped).
std::optional<std::string> find_cookie(const Request& req, std::string_view name);

std::string session_cookie_name(const ProviderConfig& config);
std::string browser_cookie_name(const ProviderConfig& config);

// Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, and Secure (with the __Host- prefix in the
// name, see *_cookie_name) when the issuer is https. max_age 0 deletes the cookie.
std::string make_set_cookie(const ProviderConfig& config, std::string_view name, std::string_view value,
                            std::int64_t max_age);

// The random value identifying this browser (for binding interactions and CSRF tokens). Creates
// one and adds its Set-Cookie to `response` when the request has none (or a malformed one).
std::string ensure_browser_id(const Context& ctx, const Request& req, Response& response);

// CSRF token for a form: a MAC over purpose, interaction and browser, so a token is useless in
// another browser or for another form. Verification is constant-time.
std::string make_csrf_token(const Context& ctx, std::string_view purpose, std::string_view interaction_id,
                            std::string_view browser_id);
bool verify_csrf_token(const Context& ctx, std::string_view token, std::string_view purpose,
                       std::string_view interaction_id, std::string_view browser_id);

// Content-Security-Policy with frame-ancestors 'none', X-Frame-Options DENY, Referrer-Policy
// no-referrer, Cache-Control no-store, nosniff.
void add_page_security_headers(Response& r);

}  // namespace latchkey::oauth
