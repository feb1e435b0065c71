// protected-api: a small HTTP API protected with liblatchkey-resource.
//
//   GET /api/me     the token's subject, client and scopes (any valid token for this audience)
//   GET /api/admin  the same, but only with scope "admin" OR role "admin" (RFC 9068 §2.2.3.1 roles
//                   claim, which latchkey-server sends to clients allowed it: `client create
//                   --allow-claim roles`, scope `roles`); else 403 insufficient_scope
//   GET /healthz    no token needed
//
// Browser apps on another origin (examples/spa) call it with --cors-origin ORIGIN (repeatable):
// preflights from those origins are answered, their responses carry Access-Control-Allow-Origin;
// never Access-Control-Allow-Credentials (the token travels in Authorization, not in cookies).
//
// Errors follow RFC 6750 §3: 400/401/403 with WWW-Authenticate and a JSON body.
//
//   protected-api --issuer http://127.0.0.1:8080 --audience https://api.example --listen 127.0.0.1:8081
//   protected-api ... --introspect --client-id protected-api --client-secret-stdin   (RFC 7662 mode)
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "resource/validator.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace lr = latchkey::resource;
using tcp = asio::ip::tcp;

namespace {

std::mutex log_mutex;

void log_line(const std::string& line) {
  std::lock_guard lock(log_mutex);
  std::cerr << line << std::endl;
}

http::response<http::string_body> json_response(unsigned status, const boost::json::object& body, unsigned version,
                                                bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = boost::json::serialize(body) + "\n";
  res.prepare_payload();
  return res;
}

http::response<http::string_body> handle(lr::Validator& validator, const http::request<http::string_body>& req,
                                         std::string& who) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));

  if (path == "/healthz") return json_response(200, {{"status", "ok"}}, version, keep_alive);
  bool admin = path == "/api/admin";
  if (path != "/api/me" && !admin) return json_response(404, {{"error", "not_found"}}, version, keep_alive);
  if (req.method() != http::verb::get) {
    auto res = json_response(405, {{"error", "method_not_allowed"}}, version, keep_alive);
    res.set(http::field::allow, "GET");
    return res;
  }

  // RFC 6750 §2: one method of sending the token; two Authorization fields are a malformed request.
  auto fields = req.equal_range(http::field::authorization);
  std::string authorization;
  int count = 0;
  for (auto it = fields.first; it != fields.second; ++it, ++count) authorization = std::string(it->value());
  lr::ValidationResult result =
      count > 1 ? std::unexpected(validator.make_error(lr::ErrorCode::invalid_request, "more than one Authorization header"))
                : validator.validate(authorization);
  // The admin route: the permission as a scope the user consented to, or as a role an
  // administrator gave the user. Both are checked after the token itself is valid.
  if (result && admin && !(*result)->has_scope("admin") && !(*result)->has_role("admin"))
    result = std::unexpected(validator.make_error(lr::ErrorCode::insufficient_scope,
                                                  "this route needs scope admin or role admin", {"admin"}));
  if (!result) {
    const auto& e = result.error();
    boost::json::object body;
    if (!lr::to_string(e.code).empty()) body["error"] = lr::to_string(e.code);
    else body["error"] = e.code == lr::ErrorCode::unavailable ? "temporarily_unavailable" : "unauthorized";
    if (!e.description.empty()) body["error_description"] = e.description;
    auto res = json_response(static_cast<unsigned>(e.http_status), body, version, keep_alive);
    if (!e.www_authenticate.empty()) res.set(http::field::www_authenticate, e.www_authenticate);
    if (e.code == lr::ErrorCode::unavailable) res.set(http::field::retry_after, "5");
    who = "(" + std::string(body["error"].as_string()) + ")";
    return res;
  }
  const lr::Claims& claims = **result;
  who = claims.subject;
  boost::json::array scopes;
  for (const auto& s : claims.scopes) scopes.emplace_back(s);
  boost::json::object body{{"sub", claims.subject}, {"client_id", claims.client_id}, {"scope", scopes},
                           {"expires_at", claims.expires_at}};
  if (!claims.roles.empty()) body["roles"] = boost::json::value_from(claims.roles);
  if (!claims.groups.empty()) body["groups"] = boost::json::value_from(claims.groups);
  if (admin) body["admin"] = true;
  return json_response(200, body, version, keep_alive);
}

// CORS for the browser origins given with --cors-origin (exact match with the Origin header).
struct Cors {
  std::vector<std::string> origins;
  bool allows(std::string_view origin) const {
    return std::find(origins.begin(), origins.end(), origin) != origins.end();
  }
};

// A preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin: 204 with the
// permissions; from any other origin: 204 without them, so the browser refuses.
http::response<http::string_body> preflight(const Cors& cors, const http::request<http::string_body>& req) {
  http::response<http::string_body> res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  res.set(http::field::vary, "Origin");
  std::string_view origin = req[http::field::origin];
  if (cors.allows(origin)) {
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_allow_methods, "GET");
    res.set(http::field::access_control_allow_headers, "Authorization");
    res.set(http::field::access_control_max_age, "600");
  }
  res.prepare_payload();
  return res;
}

void add_cors_headers(const Cors& cors, const http::request<http::string_body>& req,
                      http::response<http::string_body>& res) {
  if (cors.origins.empty()) return;
  res.set(http::field::vary, "Origin");
  std::string_view origin = req[http::field::origin];
  if (!cors.allows(origin)) return;
  res.set(http::field::access_control_allow_origin, origin);
  res.set(http::field::access_control_expose_headers, "WWW-Authenticate");  // RFC 6750 errors
}

void serve_connection(lr::Validator& validator, const Cors& cors, tcp::socket socket) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    http::read(socket, buffer, parser, ec);
    if (ec) break;  // closed, timeout or a malformed request: drop the connection
    const auto& req = parser.get();
    std::string who;
    bool is_preflight = !cors.origins.empty() && req.method() == http::verb::options &&
                        req.count(http::field::access_control_request_method) > 0;
    auto res = is_preflight ? preflight(cors, req) : handle(validator, req, who);
    add_cors_headers(cors, req, res);
    log_line(std::string(req.method_string()) + " " + std::string(req.target()) + " -> " +
             std::to_string(res.result_int()) + (who.empty() ? "" : " " + who));
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"protected-api: an example API protected by liblatchkey-resource", "protected-api"};
  std::string listen = "127.0.0.1:8081", cacert;
  lr::ValidatorOptions options;
  bool introspect = false, secret_stdin = false;
  lr::IntrospectionOptions introspection;
  Cors cors;
  app.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8081)");
  app.add_option("--issuer", options.issuer, "The provider's issuer URL")->required();
  app.add_option("--audience", options.audience, "This API's audience: tokens must name it in aud")->required();
  app.add_option("--jwks-uri", options.jwks_uri, "The provider's JWKS (default: from discovery)");
  app.add_option("--cacert", cacert, "PEM file with the CA certificates to trust for the provider");
  app.add_flag("--introspect", introspect, "Ask the provider about every token (RFC 7662) instead of checking it locally");
  app.add_option("--client-id", introspection.client_id, "This API's client id at the provider (--introspect)");
  app.add_flag("--client-secret-stdin", secret_stdin, "Read this API's client secret from the first line of stdin");
  app.add_option("--introspection-cache-seconds", introspection.cache_ttl,
                 "How long an active answer is reused: revocation shows at most this late (default 30)");
  app.add_option("--cors-origin", cors.origins,
                 "Browser origin (scheme://host[:port]) allowed to call the API cross-origin (repeatable)");
  CLI11_PARSE(app, argc, argv);

  if (introspect) {
    if (secret_stdin) std::getline(std::cin, introspection.client_secret);
    if (!introspection.client_secret.empty() && introspection.client_secret.back() == '\r') introspection.client_secret.pop_back();
    options.introspection = introspection;
  }
  options.fetcher = lr::make_curl_fetcher({.cacert = cacert});
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "protected-api: --listen wants HOST:PORT\n";
    return 2;
  }
  auto validator = lr::Validator::create(std::move(options));
  if (!validator) {
    std::cerr << "protected-api: " << validator.error() << "\n";
    return 1;
  }

  try {
    asio::io_context io;
    tcp::endpoint endpoint(asio::ip::make_address(listen.substr(0, colon)),
                           static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
    tcp::acceptor acceptor(io, endpoint);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
    std::function<void()> accept = [&] {
      acceptor.async_accept([&](beast::error_code ec, tcp::socket socket) {
        if (!ec) {
          // One thread per connection keeps the example short; the validator is thread-safe.
          std::thread([&v = **validator, &cors, s = std::move(socket)]() mutable {
            serve_connection(v, cors, std::move(s));
          }).detach();
        }
        accept();
      });
    };
    accept();
    auto bound = acceptor.local_endpoint();
    std::cout << "protected-api listening on http://" << bound.address().to_string() << ":" << bound.port()
              << ((*validator)->introspection_mode() ? " (introspection)" : " (JWT)") << std::endl;
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "protected-api: " << e.what() << "\n";
    return 1;
  }
  // Detached connection threads may still hold the validator: leave without running destructors.
  std::cout.flush();
  std::_Exit(0);
}
