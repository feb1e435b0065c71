#pragma once
// Beast messages <-> the protocol core's neutral messages. Kept apart from the socket code so
// that it is testable without a network.
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "oauth/message.h"

namespace latchkey::http {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Header names in lower case (arrival order and repeats kept), the target split into path and
// raw query. nullopt when the target is not origin-form ("/path?query", RFC 9112 §3.2.1).
std::optional<oauth::Request> to_oauth_request(const BeastRequest& request, std::string remote_address);

// Status, headers and body, plus Content-Length and "Server: latchkey".
BeastResponse to_beast_response(const oauth::Response& response, unsigned http_version, bool keep_alive);

// A short plain-text response the adapter itself sends (400, 413, 431, 500, 503).
BeastResponse plain_response(unsigned status, unsigned http_version, bool keep_alive);

// What the parser accepts but HTTP/1.1 forbids, checked once the header is read: the reason the
// request must get 400 and a closed connection, or nullopt. RFC 9112 §3.2: an HTTP/1.1 request
// without Host, or with more than one; RFC 9112 §6.3: a Transfer-Encoding whose final coding is not
// chunked (the body length is unknown, so what follows could be read as another request).
std::optional<std::string_view> framing_problem(const BeastRequest& header);

// The adapter's own error answer (400, 413, 431, 503) in the form the client reads: nothing of the
// request known (it could not be parsed) gives plain text; a browser (Accept names text/html) gets
// a small HTML page with the security headers of the protocol core's pages; any other client gets
// RFC 6749 §5.2 JSON (invalid_request, or temporarily_unavailable for 503), which is what an OAuth
// client of the token, revocation, introspection or device endpoint can read.
BeastResponse adapter_error_response(unsigned status, std::optional<std::string_view> accept, unsigned http_version);

}  // namespace latchkey::http
