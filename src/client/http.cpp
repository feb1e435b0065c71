#include "client/http.h"

#include <curl/curl.h>

#include <boost/json.hpp>
#include <mutex>

#include "util/form.h"
#include "util/strings.h"

namespace latchkey::client {

std::string HttpResponse::header(std::string_view name) const {
  std::string lower = util::to_lower(name);
  for (const auto& [k, v] : headers)
    if (k == lower) return v;
  return {};
}

HttpRequest form_post(std::string url, const std::vector<std::pair<std::string, std::string>>& fields) {
  HttpRequest r;
  r.method = "POST";
  r.url = std::move(url);
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  r.headers.emplace_back("Accept", "application/json");
  r.body = util::encode_form(fields);
  return r;
}

namespace {

bool is_secret_name(std::string_view name) {
  static constexpr std::string_view kSecrets[] = {"code",          "code_verifier", "client_secret",
                                                  "refresh_token", "access_token",  "id_token",
                                                  "device_code",   "password",      "token"};
  for (auto s : kSecrets)
    if (name == s) return true;
  return false;
}

constexpr const char* kRedacted = "[redacted]";

void redact_json_value(boost::json::value& v) {
  if (auto* o = v.if_object()) {
    for (auto& [k, child] : *o) {
      if (is_secret_name(k) && child.is_string()) child = kRedacted;
      else redact_json_value(child);
    }
  } else if (auto* a = v.if_array()) {
    for (auto& child : *a) redact_json_value(child);
  }
}

}  // namespace

std::string redact_body(std::string_view body) {
  if (body.empty()) return {};
  boost::system::error_code ec;
  auto json = boost::json::parse(body, ec);
  if (!ec) {
    redact_json_value(json);
    return boost::json::serialize(json);
  }
  if (auto form = util::parse_form(body); form && !form->empty()) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : form->entries()) out.emplace_back(k, is_secret_name(k) ? kRedacted : v);
    return util::encode_form(out);
  }
  return "[" + std::to_string(body.size()) + " bytes not shown]";
}

std::string describe_request(const HttpRequest& request) {
  std::string out = "> " + request.method + " " + request.url + "\n";
  for (const auto& [k, v] : request.headers) {
    bool secret = util::to_lower(k) == "authorization";
    out += "> " + k + ": " + (secret ? v.substr(0, v.find(' ')) + " " + kRedacted : v) + "\n";
  }
  if (!request.body.empty()) out += "> " + redact_body(request.body) + "\n";
  return out;
}

std::string describe_response(const HttpResponse& response) {
  std::string out = "< HTTP " + std::to_string(response.status) + "\n";
  for (const auto& [k, v] : response.headers)
    if (k != "set-cookie") out += "< " + k + ": " + v + "\n";
  if (!response.body.empty()) out += "< " + redact_body(response.body) + "\n";
  return out;
}

namespace {

// Responses from an OAuth server are small; anything bigger is refused rather than buffered.
constexpr std::size_t kMaxBody = 1 << 20;

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  std::size_t n = size * count;
  if (body->size() + n > kMaxBody) return 0;  // makes curl fail with CURLE_WRITE_ERROR
  body->append(data, n);
  return n;
}

size_t write_header(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    response->headers.clear();  // a new response (after 100 Continue): keep only the last one's
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    response->headers.emplace_back(util::to_lower(util::trim(line.substr(0, colon))),
                                   util::trim(line.substr(colon + 1)));
  }
  return size * count;
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlOptions options) : options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    if (options_.trace) options_.trace(describe_request(request));
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return fail(ErrorKind::internal, "cannot initialise libcurl");
    HttpResponse response;
    curl_slist* header_list = nullptr;
    for (const auto& [k, v] : request.headers) header_list = curl_slist_append(header_list, (k + ": " + v).c_str());
    header_list = curl_slist_append(header_list, "Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers_guard(header_list, curl_slist_free_all);
    char error_buffer[CURL_ERROR_SIZE] = {};

    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // token endpoints must not redirect; discovery neither
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, std::min(options_.timeout_seconds, 10L));
    curl_easy_setopt(h, CURLOPT_TIMEOUT, options_.timeout_seconds);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "latchkey/0.1");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
    if (!options_.cacert.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.cacert.c_str());
    if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    } else if (request.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (!request.body.empty()) {  // PUT, PATCH, DELETE with a body (`latchkey api -X PUT -d ...`)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      }
    }

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
      if (options_.trace) options_.trace("* " + detail + "\n");
      std::string todo = "check the URL and your network";
      if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CONNECT_ERROR)
        todo = "check the provider's certificate, or pass its CA bundle with --cacert FILE";
      else if (rc == CURLE_COULDNT_RESOLVE_PROXY || std::getenv("HTTPS_PROXY") || std::getenv("https_proxy"))
        todo += " (HTTPS_PROXY is set: check it and NO_PROXY)";
      return fail(ErrorKind::network, "cannot reach " + request.url + ": " + detail, todo);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    if (options_.trace) options_.trace(describe_response(response));
    return response;
  }

 private:
  CurlOptions options_;
};

}  // namespace

std::unique_ptr<HttpClient> make_curl_client(CurlOptions options) {
  return std::make_unique<CurlHttpClient>(std::move(options));
}

}  // namespace latchkey::client
