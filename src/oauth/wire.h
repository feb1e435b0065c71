#pragma once
// The one place where results and OAuthErrors become HTTP responses.
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "oauth/error.h"
#include "oauth/message.h"

namespace latchkey::oauth {

// JSON body; token responses and errors carry Cache-Control: no-store (RFC 6749 §5.1).
Response json_response(int status, const boost::json::value& body, bool no_store = true);

// RFC 6749 §5.2 error JSON. invalid_client gets 401; with `basic_auth_used` the response also
// carries WWW-Authenticate: Basic (RFC 6749 §5.2 "MUST include the WWW-Authenticate header").
Response token_error_response(const OAuthError& err, bool basic_auth_used = false);

// 303 See Other: after a form POST the browser must follow with GET (RFC 9700 §4.11).
Response redirect_response(std::string location);

// Adds parameters to the query of `uri`, keeping any query it already has (RFC 6749 §3.1.2).
std::string append_query(std::string_view uri, const std::vector<std::pair<std::string, std::string>>& params);

// Authorization error sent back to a VALIDATED redirect_uri, with state and iss (RFC 6749
// §4.1.2.1, RFC 9207 §2).
Response authorization_error_redirect(std::string_view redirect_uri, const OAuthError& err, std::string_view state,
                                      std::string_view issuer);

}  // namespace latchkey::oauth
