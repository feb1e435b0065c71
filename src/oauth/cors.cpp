#include "oauth/cors.h"

#include <boost/url/parse.hpp>

#include "oauth/client_auth.h"
#include "oauth/endpoints.h"
#include "oauth/own_tokens.h"
#include "oauth/redirect_uri.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

// Preflight answers may be cached this long (seconds); Chromium caps it at 7200.
constexpr std::string_view kPreflightMaxAge = "600";
// Request headers a browser app may send: Authorization (Bearer at userinfo, Basic at the token
// endpoint) and Content-Type (not a CORS-safelisted header with every value).
constexpr std::string_view kAllowedHeaders = "Authorization, Content-Type";
// Response headers a browser app may read besides the safelisted ones: the RFC 6750 challenge.
constexpr std::string_view kExposedHeaders = "WWW-Authenticate";

std::string_view allowed_methods(std::string_view path) { return path == "/userinfo" ? "GET, POST" : "POST"; }

// Caches must not serve an answer made for one origin to another (Fetch standard §3.2.5 "CORS
// protocol and HTTP caches").
void add_vary_origin(Response& r) {
  if (auto vary = r.header("Vary")) {
    r.set_header("Vary", std::string(*vary) + ", Origin");
  } else {
    r.set_header("Vary", "Origin");
  }
}

// The origin of the issuer URL: same-origin requests need no CORS and deserve no log line.
std::string issuer_origin(const std::string& issuer) {
  auto u = boost::urls::parse_absolute_uri(issuer);
  if (!u || !u->has_authority()) return {};
  std::string out = util::to_lower(u->scheme()) + "://" + util::to_lower(u->encoded_host());
  if (u->has_port()) {
    bool default_port = (u->scheme() == "https" && u->port() == "443") || (u->scheme() == "http" && u->port() == "80");
    if (!default_port) out += ":" + std::string(u->port());
  }
  return out;
}

// An Origin header value made safe for a log line: printable ASCII only, bounded.
std::string loggable(std::string_view value) {
  std::string out;
  for (unsigned char c : value.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  if (value.size() > 200) out += "...";
  return out;
}

void log_refusal(const Request& req, std::string_view origin, const std::string& why) {
  log_line("warn", "CORS: no Access-Control-Allow-Origin for origin '" + loggable(origin) + "' at " + req.path + ": " +
                       why);
}

// The client a token or revocation request names (not authenticated: the handler does that; a
// failed authentication is still an answer the app may read).
std::string client_of_client_request(const Request& req) {
  auto form = read_form_body(req);
  return claimed_client_id(req, form ? *form : util::Params{});
}

// The client an access token presented at userinfo was issued to. The signature is checked, so
// nobody picks the client whose origins apply; expiry is not: the app may read its 401 and refresh.
std::string client_of_access_token(Context& ctx, const Request& req) {
  std::string token;
  if (auto h = req.header("authorization"); h && req.header_count("authorization") == 1) {
    if (h->size() > 7 && util::to_lower(h->substr(0, 7)) == "bearer ") token = util::trim(h->substr(7));
  } else if (req.method == "POST") {
    if (auto form = read_form_body(req)) token = form->get_or("access_token");
  }
  if (token.empty()) return {};
  auto at = decode_own_access_token(ctx, token);
  return at ? at->client_id : std::string();
}

Response preflight(Context& ctx, const Request& req, std::string_view origin) {
  Response r;
  r.status = 204;
  add_vary_origin(r);
  // A preflight names no client; the actual request is checked against its own client.
  if (!ctx.store.has_client_with_web_origin(std::string(origin))) {
    log_refusal(req, origin, "preflight from an origin that no client registered (client create --web-origin)");
    return r;
  }
  r.set_header("Access-Control-Allow-Origin", std::string(origin));
  r.set_header("Access-Control-Allow-Methods", std::string(allowed_methods(req.path)));
  r.set_header("Access-Control-Allow-Headers", std::string(kAllowedHeaders));
  r.set_header("Access-Control-Max-Age", std::string(kPreflightMaxAge));
  return r;
}

// Why the actual request from `origin` gets no CORS headers, or nullopt when it gets them.
std::optional<std::string> refusal(Context& ctx, const Request& req, std::string_view origin) {
  bool userinfo = req.path == "/userinfo";
  std::string client_id = userinfo ? client_of_access_token(ctx, req) : client_of_client_request(req);
  if (client_id.empty())
    return userinfo ? "the request carries no valid access token of this server, so no client is known"
                    : "the request names no client (client_id or HTTP Basic)";
  auto client = ctx.store.find_client(client_id);
  if (!client) return "client '" + client_id + "' is not registered";
  if (!util::contains(client->web_origins, origin))
    return "the origin is not among the web origins of client '" + client_id + "'";
  return std::nullopt;
}

}  // namespace

std::expected<std::string, std::string> normalize_web_origin(std::string_view origin) {
  const std::string example = " (example: https://app.example.com or http://127.0.0.1:8000)";
  auto u = boost::urls::parse_absolute_uri(origin);
  if (!u || !u->has_authority())
    return std::unexpected("web origin '" + std::string(origin) + "' is not scheme://host[:port]" + example);
  std::string scheme = util::to_lower(u->scheme());
  if (scheme != "https" && scheme != "http")
    return std::unexpected("web origin '" + std::string(origin) + "' must use https (or http on loopback)");
  if (u->has_userinfo())
    return std::unexpected("web origin '" + std::string(origin) + "' must not contain user information");
  if (!u->encoded_path().empty() || u->has_query() || u->has_fragment())
    return std::unexpected("web origin '" + std::string(origin) +
                           "' must not have a path, query or fragment, not even a trailing '/'" + example);
  std::string host = util::to_lower(u->encoded_host());
  if (host.empty() || host.find('%') != std::string::npos)
    return std::unexpected("web origin '" + std::string(origin) + "' needs a plain host name or IP address");
  std::string out = scheme + "://" + host;
  if (u->has_port()) {
    if (u->port().empty() || u->port_number() == 0)
      return std::unexpected("web origin '" + std::string(origin) + "' has an invalid port");
    bool default_port = (scheme == "https" && u->port_number() == 443) || (scheme == "http" && u->port_number() == 80);
    if (!default_port) out += ":" + std::to_string(u->port_number());
  }
  // Plain http lets anyone on the path rewrite the app and read its tokens: loopback only.
  if (scheme == "http" && !is_loopback_http_uri(out + "/"))
    return std::unexpected("web origin '" + std::string(origin) +
                           "' uses http on a host that is not loopback; use https (http only for 127.0.0.1, [::1], "
                           "localhost)");
  return out;
}

CorsPolicy cors_policy(std::string_view path) {
  if (path == "/token" || path == "/revoke" || path == "/userinfo") return CorsPolicy::client_origin;
  if (path == "/.well-known/openid-configuration" || path == "/.well-known/oauth-authorization-server" ||
      path == "/jwks")
    return CorsPolicy::any_origin;
  return CorsPolicy::none;
}

Response with_cors(Context& ctx, const Request& req, const std::function<Response()>& handle) {
  CorsPolicy policy = cors_policy(req.path);
  if (policy == CorsPolicy::none) return handle();
  if (policy == CorsPolicy::any_origin) {
    Response r = handle();
    r.set_header("Access-Control-Allow-Origin", "*");  // public metadata and keys, no credentials
    return r;
  }

  auto origin = req.header("origin");
  const bool is_preflight = req.method == "OPTIONS" && req.header("access-control-request-method").has_value();
  if (!origin || *origin == issuer_origin(ctx.config.issuer)) {
    // Not a cross-origin request (servers, the CLI, or a page of the issuer itself).
    Response r = handle();
    add_vary_origin(r);
    return r;
  }
  if (req.header_count("origin") != 1) {
    log_refusal(req, *origin, "more than one Origin header");
    Response r = is_preflight ? Response{.status = 204, .headers = {}, .body = {}} : handle();
    add_vary_origin(r);
    return r;
  }
  if (is_preflight) return preflight(ctx, req, *origin);

  Response r = handle();
  add_vary_origin(r);
  if (auto why = refusal(ctx, req, *origin)) {
    log_refusal(req, *origin, *why);
    return r;
  }
  r.set_header("Access-Control-Allow-Origin", std::string(*origin));
  r.set_header("Access-Control-Expose-Headers", std::string(kExposedHeaders));
  return r;
}

}  // namespace latchkey::oauth
