// The production Fetcher: one libcurl easy handle per request, so it is safe from any thread.
#include <curl/curl.h>

#include <arpa/inet.h>

#include <cctype>
#include <memory>
#include <mutex>

#include "resource/fetcher.h"

namespace latchkey::resource {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

struct Transfer {
  FetchResponse response;
  std::size_t max_body = 0;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  if (t->response.body.size() + n > t->max_body) {
    t->too_large = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  t->response.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // after a 100 Continue, keep only the final response's headers
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t->response.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

class CurlFetcher final : public Fetcher {
 public:
  explicit CurlFetcher(CurlFetcherOptions options) : options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  std::expected<FetchResponse, std::string> fetch(const FetchRequest& request) override {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return std::unexpected("cannot initialise libcurl");
    curl_slist* list = nullptr;
    for (const auto& [name, value] : request.headers) list = curl_slist_append(list, (name + ": " + value).c_str());
    list = curl_slist_append(list, "Expect:");
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list_guard(list, curl_slist_free_all);
    Transfer transfer;
    transfer.max_body = options_.max_body;
    char error_buffer[CURL_ERROR_SIZE] = {};

    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, options_.timeout_seconds);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, options_.timeout_seconds);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "liblatchkey-resource/0.1");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    if (!options_.cacert.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.cacert.c_str());
    if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    } else if (request.method != "GET") {
      return std::unexpected("unsupported method " + request.method);
    }
    CURLcode rc = curl_easy_perform(h);
    if (transfer.too_large) return std::unexpected("the answer from " + request.url + " is too large");
    if (rc != CURLE_OK)
      return std::unexpected("cannot reach " + request.url + ": " + (error_buffer[0] ? error_buffer : curl_easy_strerror(rc)));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &transfer.response.status);
    return std::move(transfer.response);
  }

 private:
  CurlFetcherOptions options_;
};

}  // namespace

std::string FetchResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

std::shared_ptr<Fetcher> make_curl_fetcher(CurlFetcherOptions options) {
  return std::make_shared<CurlFetcher>(std::move(options));
}

bool is_secure_or_loopback_url(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  std::string scheme = lower(url.substr(0, sep));
  std::string_view rest = url.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;  // no userinfo
  if (scheme == "https") return true;
  if (scheme != "http") return false;
  std::string host;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = lower(authority.substr(1, close - 1));
    return host == "::1";
  }
  host = lower(authority.substr(0, authority.find(':')));
  if (host == "localhost") return true;
  // 127.0.0.0/8 written as a dotted quad; inet_pton refuses lookalikes such as 127.1 or 127.0.0.1.evil.
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

}  // namespace latchkey::resource
