#pragma once
// Cross-origin access for browser apps (the Fetch standard's CORS protocol), in one place.
//
// Which endpoints answer which origins (provider.cpp applies `with_cors` around every handler):
//  - token, revocation, userinfo: only an origin registered in the web_origins of the client the
//    request is about: the client_id of the token/revocation request (HTTP Basic user or the
//    client_id field), the client_id of the access token at userinfo. Preflights (which carry no
//    client) are answered for an origin that some client registered; the real request then decides.
//  - discovery and JWKS: public documents, readable from any origin ("*").
//  - everything else (authorize, the login/consent pages, logout, introspection, device): no CORS;
//    authorize is a top-level navigation, never a fetch.
// Access-Control-Allow-Credentials is never sent: cross-origin calls carry tokens, not cookies.
// An origin that is refused gets no CORS headers (so the browser withholds the answer) and a log
// line that says why.
#include <expected>
#include <functional>
#include <string>
#include <string_view>

#include "oauth/context.h"
#include "oauth/message.h"

namespace latchkey::oauth {

// A web origin as browsers serialize it (RFC 6454 §6.1): scheme://host[:port], lower-case scheme
// and host, no default port, no path (not even "/"), query, fragment or user info. https, or http
// on a loopback host (development, as RFC 8252 §7.3 allows for redirect URIs). The error is a
// sentence for the administrator.
std::expected<std::string, std::string> normalize_web_origin(std::string_view origin);

enum class CorsPolicy {
  none,           // no CORS headers at all
  any_origin,     // Access-Control-Allow-Origin: *
  client_origin,  // the exact origin, when the request's client registered it
};
CorsPolicy cors_policy(std::string_view path);

// Answers a preflight (OPTIONS with Access-Control-Request-Method) of a client_origin endpoint
// itself; otherwise calls `handle` and adds the CORS headers the request earns.
Response with_cors(Context& ctx, const Request& req, const std::function<Response()>& handle);

}  // namespace latchkey::oauth
