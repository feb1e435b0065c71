#pragma once
#include <string_view>

namespace latchkey::oauth {

// RFC 9700 §4.1.3 / OAuth 2.1 §4.1.1: redirect URIs are compared by exact string match, with one
// exception: RFC 8252 §7.3 "The authorization server MUST allow any port to be specified at the
// time of the request for loopback IP redirect URIs". A registered http URI on 127.0.0.1, [::1]
// or localhost therefore matches the same URI with any port; everything else byte for byte.
bool redirect_uri_matches(std::string_view registered, std::string_view requested);

// http on a loopback host (the RFC 8252 §7.3 case).
bool is_loopback_http_uri(std::string_view uri);

}  // namespace latchkey::oauth
