#pragma once
// The HTTP seam of liblatchkey-resource: discovery, JWKS and introspection requests go through a
// Fetcher. Production uses libcurl (make_curl_fetcher); unit tests inject a canned one, so no test
// needs a socket.
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace latchkey::resource {

struct FetchRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct FetchResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string header(std::string_view lower_case_name) const;  // first value, "" when absent
};

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // Must be safe to call from several threads at once. Fails only when no HTTP answer arrived
  // (DNS, connect, TLS, timeout, body too large); any status is a response.
  virtual std::expected<FetchResponse, std::string> fetch(const FetchRequest& request) = 0;
};

struct CurlFetcherOptions {
  std::string cacert;              // a PEM bundle instead of the system store
  long timeout_seconds = 5;        // a slow provider must not hold requests for long
  std::size_t max_body = 1 << 20;  // JWKS, discovery and introspection answers are small
};

// Redirects are not followed and only http/https are spoken.
std::shared_ptr<Fetcher> make_curl_fetcher(CurlFetcherOptions options = {});

// https, or http to a loopback host (127.0.0.0/8, localhost, [::1]) for development providers.
bool is_secure_or_loopback_url(std::string_view url);

}  // namespace latchkey::resource
