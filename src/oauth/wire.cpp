#include "oauth/wire.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "util/form.h"

namespace latchkey::oauth {

Response json_response(int status, const boost::json::value& body, bool no_store) {
  Response r;
  r.status = status;
  r.set_header("Content-Type", "application/json");
  if (no_store) {
    r.set_header("Cache-Control", "no-store");
    r.set_header("Pragma", "no-cache");
  }
  r.set_header("X-Content-Type-Options", "nosniff");
  r.body = boost::json::serialize(body);
  return r;
}

Response token_error_response(const OAuthError& err, bool basic_auth_used) {
  boost::json::object body;
  body["error"] = error_code_name(err.code);
  if (!err.description.empty()) body["error_description"] = err.description;
  Response r = json_response(err.http_status(), body);
  if (err.code == ErrorCode::invalid_client && basic_auth_used)
    r.set_header("WWW-Authenticate", "Basic realm=\"latchkey\", charset=\"UTF-8\"");
  return r;
}

Response redirect_response(std::string location) {
  Response r;
  r.status = 303;
  r.set_header("Location", std::move(location));
  r.set_header("Cache-Control", "no-store");
  r.set_header("Referrer-Policy", "no-referrer");
  return r;
}

std::string append_query(std::string_view uri, const std::vector<std::pair<std::string, std::string>>& params) {
  auto parsed = boost::urls::parse_uri_reference(uri);
  if (!parsed) {  // registered URIs are validated; fall back to plain concatenation
    std::string out(uri);
    out += out.find('?') == std::string::npos ? '?' : '&';
    return out + util::encode_form(params);
  }
  boost::urls::url u(*parsed);
  for (const auto& [k, v] : params) u.params().append({k, v});
  return std::string(u.buffer());
}

Response authorization_error_redirect(std::string_view redirect_uri, const OAuthError& err, std::string_view state,
                                      std::string_view issuer) {
  std::vector<std::pair<std::string, std::string>> params{{"error", std::string(error_code_name(err.code))}};
  if (!err.description.empty()) params.emplace_back("error_description", err.description);
  if (!state.empty()) params.emplace_back("state", std::string(state));
  params.emplace_back("iss", std::string(issuer));
  return redirect_response(append_query(redirect_uri, params));
}

}  // namespace latchkey::oauth
