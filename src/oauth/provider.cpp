// The protocol core's front door: routing to one handler per endpoint, and the last line of
// defence that turns anything unexpected into a server_error without internal detail.
#include "oauth/provider.h"

#include <cstdio>
#include <mutex>

#include "oauth/context.h"
#include "oauth/cors.h"
#include "oauth/endpoints.h"
#include "oauth/pages.h"
#include "oauth/wire.h"

namespace latchkey::oauth {

void log_line(std::string_view level, std::string_view message) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fprintf(stderr, "latchkey-server: %.*s: %.*s\n", static_cast<int>(level.size()), level.data(),
               static_cast<int>(message.size()), message.data());
}

struct Provider::Impl {
  ProviderConfig config;
  Context ctx;
  Impl(ProviderConfig c, store::Store& store, KeyRing& keys, const util::Clock& clock, util::Random& random)
      : config(std::move(c)), ctx{config, store, keys, clock, random, {}} {
    // The CSRF MAC key lives in the store so that every instance behind a load balancer agrees.
    ctx.csrf_key = store.put_secret_if_absent("csrf_mac_key", random.token(32));
  }
};

Provider::Provider(ProviderConfig config, store::Store& store, KeyRing& keys, const util::Clock& clock,
                   util::Random& random)
    : impl_(std::make_unique<Impl>(std::move(config), store, keys, clock, random)) {}

Provider::~Provider() = default;

const ProviderConfig& Provider::config() const { return impl_->config; }

namespace {

bool is_json_endpoint(std::string_view path) {
  return path == "/token" || path == "/revoke" || path == "/introspect" || path == "/userinfo" ||
         path == "/device_authorization";
}

Response route(Context& ctx, const Request& req) {
  const std::string& p = req.path;
  if (p == "/authorize") return handle_authorize(ctx, req);
  if (p == "/token") return handle_token(ctx, req);
  if (p == "/.well-known/openid-configuration" || p == "/.well-known/oauth-authorization-server")
    return handle_discovery(ctx, req);
  if (p == "/jwks") return handle_jwks(ctx, req);
  if (p == "/device_authorization") return handle_device_authorization(ctx, req);
  if (p == "/device") return handle_device_page(ctx, req);
  if (p == "/revoke") return handle_revocation(ctx, req);
  if (p == "/introspect") return handle_introspection(ctx, req);
  if (p == "/userinfo") return handle_userinfo(ctx, req);
  if (p == "/logout") return handle_end_session(ctx, req);
  if (p == "/assets/latchkey.css") return stylesheet_response();
  constexpr std::string_view kInteraction = "/interaction/";
  if (p.starts_with(kInteraction)) {
    std::string_view rest = std::string_view(p).substr(kInteraction.size());
    auto slash = rest.find('/');
    std::string_view id = rest.substr(0, slash);
    std::string_view action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (action.empty()) return handle_interaction_page(ctx, req, id);
    if (action == "login") return handle_interaction_login(ctx, req, id);
    if (action == "consent") return handle_interaction_consent(ctx, req, id);
  }
  if (p == "/") {
    Response r = redirect_response("/.well-known/openid-configuration");
    r.status = 302;
    return r;
  }
  return error_page_response(404, "Not found", "There is no page at this address.");
}

}  // namespace

Response Provider::handle(const Request& request) noexcept {
  try {
    // CORS is decided here, around every handler, by one policy (cors.h), never inside a handler.
    Response r = with_cors(impl_->ctx, request, [&] { return route(impl_->ctx, request); });
    if (request.method == "HEAD") r.body.clear();
    return r;
  } catch (const std::exception& e) {
    log_line("error", std::string("request to ") + request.path + " failed: " + e.what());
  } catch (...) {
    log_line("error", "request to " + request.path + " failed with an unknown exception");
  }
  try {
    OAuthError err = error(ErrorCode::server_error, "the server could not complete the request");
    if (is_json_endpoint(request.path)) return token_error_response(err);
    return error_page_response(500, "Something went wrong", "The server could not complete the request.");
  } catch (...) {
    Response r;
    r.status = 500;
    return r;
  }
}

}  // namespace latchkey::oauth
