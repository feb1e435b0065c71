#pragma once
// Beast messages <-> the protocol core's neutral messages. Kept apart from the socket code so
// that it is testable without a network.
#include <optional>
#include <string>

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

}  // namespace latchkey::http
