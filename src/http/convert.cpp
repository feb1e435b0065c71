#include "http/convert.h"

#include <boost/beast/http/status.hpp>

#include "util/strings.h"

namespace latchkey::http {

namespace beast_http = boost::beast::http;

std::optional<oauth::Request> to_oauth_request(const BeastRequest& request, std::string remote_address) {
  std::string_view target(request.target().data(), request.target().size());
  if (!target.starts_with('/')) return std::nullopt;  // absolute-form, authority-form, '*'
  oauth::Request out;
  out.method = std::string(request.method_string());
  auto question = target.find('?');
  out.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) out.query = std::string(target.substr(question + 1));
  out.headers.reserve(static_cast<std::size_t>(std::distance(request.begin(), request.end())));
  for (const auto& field : request)
    out.headers.emplace_back(util::to_lower(field.name_string()), std::string(field.value()));
  out.body = request.body();
  out.remote_address = std::move(remote_address);
  return out;
}

BeastResponse to_beast_response(const oauth::Response& response, unsigned http_version, bool keep_alive) {
  BeastResponse out{static_cast<beast_http::status>(response.status), http_version};
  for (const auto& [name, value] : response.headers) {
    // Framing is ours to decide: a handler's Content-Length or Connection would contradict it.
    auto lower = util::to_lower(name);
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection") continue;
    out.insert(name, value);
  }
  out.set(beast_http::field::server, "latchkey");
  out.body() = response.body;
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

BeastResponse plain_response(unsigned status, unsigned http_version, bool keep_alive) {
  auto code = static_cast<beast_http::status>(status);
  BeastResponse out{code, http_version};
  out.set(beast_http::field::server, "latchkey");
  out.set(beast_http::field::content_type, "text/plain; charset=utf-8");
  out.set(beast_http::field::cache_control, "no-store");
  out.body() = std::string(beast_http::obsolete_reason(code)) + "\n";
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

}  // namespace latchkey::http
