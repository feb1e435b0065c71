#include "http/convert.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

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

std::optional<std::string_view> framing_problem(const BeastRequest& header) {
  if (header.version() >= 11 && header.count(beast_http::field::host) != 1)
    return "an HTTP/1.1 request needs exactly one Host header";
  if (header.count(beast_http::field::host) > 1) return "more than one Host header";
  // The codings of every Transfer-Encoding line, in order; the last must be chunked.
  std::string last_coding;
  bool any = false;
  auto [first, last] = header.equal_range(beast_http::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    any = true;
    std::string_view value(field->value().data(), field->value().size());
    while (!value.empty()) {
      auto comma = value.find(',');
      auto coding = util::trim(value.substr(0, comma));
      if (!coding.empty()) last_coding = std::move(coding);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  if (any && !boost::beast::iequals(last_coding, "chunked"))
    return "the final Transfer-Encoding must be chunked";
  return std::nullopt;
}

namespace {

std::string_view error_title(unsigned status) {
  switch (status) {
    case 413: return "Request too large";
    case 431: return "Request headers too large";
    case 503: return "Temporarily unavailable";
    default: return "Bad request";
  }
}

std::string_view error_description(unsigned status) {
  switch (status) {
    case 413: return "the request body is larger than this server accepts";
    case 431: return "the request headers are larger than this server accepts";
    case 503: return "the server is busy; retry shortly";
    default: return "the request is not valid HTTP/1.1";
  }
}

}  // namespace

BeastResponse adapter_error_response(unsigned status, std::optional<std::string_view> accept, unsigned http_version) {
  if (!accept) return plain_response(status, http_version, false);
  auto code = static_cast<beast_http::status>(status);
  BeastResponse out{code, http_version};
  out.set(beast_http::field::server, "latchkey");
  out.set(beast_http::field::cache_control, "no-store");
  out.set("X-Content-Type-Options", "nosniff");
  if (util::to_lower(*accept).find("text/html") != std::string::npos) {
    out.set(beast_http::field::content_type, "text/html; charset=utf-8");
    out.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    out.set("X-Frame-Options", "DENY");
    out.set("Referrer-Policy", "no-referrer");
    std::string title(error_title(status));
    std::string text(error_description(status));
    text[0] = static_cast<char>(text[0] - 'a' + 'A');  // every description starts with a lower-case letter
    out.body() = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + title +
                 "</title></head><body><h1>" + title + "</h1><p>" + text + ".</p></body></html>\n";
  } else {
    out.set(beast_http::field::content_type, "application/json");
    boost::json::object body;
    body["error"] = status == 503 ? "temporarily_unavailable" : "invalid_request";
    body["error_description"] = error_description(status);
    out.body() = boost::json::serialize(body);
  }
  out.keep_alive(false);
  out.prepare_payload();
  return out;
}

}  // namespace latchkey::http
