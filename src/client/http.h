#pragma once
// The HTTP seam: the protocol code talks to an HttpClient, production uses libcurl, unit tests a
// canned one. libcurl honours HTTPS_PROXY / NO_PROXY (and lower-case forms) by itself.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/error.h"

namespace latchkey::client {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
};

struct HttpResponse {
  long status = 0;
  Headers headers;  // names lower-cased
  std::string body;

  std::string header(std::string_view name) const;  // case-insensitive, first value, "" if absent
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Fails only when no HTTP answer arrived (DNS, connect, TLS, timeout); any status is a response.
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  std::string cacert;                                // --cacert: a PEM bundle instead of the system store
  long timeout_seconds = 30;
  std::function<void(std::string_view)> trace;       // --verbose: receives the redacted exchange
};

std::unique_ptr<HttpClient> make_curl_client(CurlOptions options);

// For --verbose: the exchange as text with every secret replaced by "[redacted]": the
// Authorization header, and code, code_verifier, client_secret, refresh_token, access_token,
// id_token, device_code, password in form and JSON bodies.
std::string describe_request(const HttpRequest& request);
std::string describe_response(const HttpResponse& response);
std::string redact_body(std::string_view body);

// POST application/x-www-form-urlencoded.
HttpRequest form_post(std::string url, const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace latchkey::client
