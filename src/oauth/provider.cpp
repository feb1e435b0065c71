// The protocol core's front door: routing to one handler per endpoint, and the last line of
// defence that turns anything unexpected into a server_error without internal detail.
#include "oauth/provider.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "oauth/browser.h"
#include "oauth/context.h"
#include "oauth/cors.h"
#include "oauth/endpoints.h"
#include "oauth/pages.h"
#include "oauth/wire.h"
#include "util/form.h"

namespace latchkey::oauth {

// The login form's POST (see provider.h); also what observe() counts as a login.
bool checks_password(const Request& req) {
  return req.method == "POST" && req.path.starts_with("/interaction/") && req.path.ends_with("/login");
}

namespace {
std::atomic<LogSink> g_log_sink{nullptr};
}  // namespace

void set_log_sink(LogSink sink) { g_log_sink.store(sink); }

void log_line(std::string_view level, std::string_view message) {
  if (auto sink = g_log_sink.load()) return sink(level, message);
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fprintf(stderr, "latchkey-server: %.*s: %.*s\n", static_cast<int>(level.size()), level.data(),
               static_cast<int>(message.size()), message.data());
}

struct Provider::Impl {
  ProviderConfig config;
  Context ctx;
  ProviderObserver* observer = nullptr;
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

void Provider::set_observer(ProviderObserver* observer) { impl_->observer = observer; }

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

bool sets_cookie(const Response& r, std::string_view name, bool deleting) {
  for (const auto& [header, value] : r.headers) {
    if (header != "Set-Cookie" || !std::string_view(value).starts_with(name) || value.size() <= name.size() ||
        value[name.size()] != '=')
      continue;
    bool empty_value = value.size() == name.size() + 1 || value[name.size() + 1] == ';';
    if (empty_value == deleting) return true;
  }
  return false;
}

// The counting hooks, told from the request and the finished response, so that no handler
// carries metrics code: a login is the POST of the login form (a new session cookie on success,
// 400/401 with the form again on failure); logout ends a session when it clears the cookie.
void observe(ProviderObserver& observer, const Context& ctx, const Request& req, const Response& r) {
  const std::string& p = req.path;
  if (checks_password(req)) {
    if (sets_cookie(r, session_cookie_name(ctx.config), false))
      observer.login_succeeded();
    else if (r.status == 400 || r.status == 401)
      observer.login_failed();
  } else if (p == "/token" && r.status == 200) {
    auto form = util::parse_form(req.body);
    observer.token_issued(form ? form->get_or("grant_type") : std::string());
  } else if (p == "/logout" && req.header("cookie") && sets_cookie(r, session_cookie_name(ctx.config), true) &&
             find_cookie(req, session_cookie_name(ctx.config))) {
    observer.session_ended();
  }
}

// The database is down for a moment: RFC 7231 §6.6.4 503 with Retry-After, so that clients and load
// balancers retry instead of treating it as a server bug. JSON endpoints say temporarily_unavailable
// (RFC 6749 §4.1.2.1 names it for the authorize endpoint; we use it for the others too).
Response unavailable_response(const Request& request) {
  Response r;
  if (is_json_endpoint(request.path)) {
    r = token_error_response(error(ErrorCode::temporarily_unavailable, "the database is unavailable; retry shortly"));
  } else {
    r = error_page_response(503, "Temporarily unavailable", "The service is briefly unavailable. Please try again.");
  }
  r.status = 503;
  r.set_header("Retry-After", "2");
  return r;
}

}  // namespace

Response Provider::handle(const Request& request) noexcept {
  try {
    // CORS is decided here, around every handler, by one policy (cors.h), never inside a handler.
    Response r = with_cors(impl_->ctx, request, [&] { return route(impl_->ctx, request); });
    if (request.method == "HEAD") r.body.clear();
    if (impl_->observer) {
      try {
        observe(*impl_->observer, impl_->ctx, request, r);
      } catch (...) {
        // Counting must never turn an answer into an error.
      }
    }
    return r;
  } catch (const store::StoreUnavailable& e) {
    log_line("error", std::string("request to ") + request.path + " failed, database unavailable: " + e.what());
    try {
      return unavailable_response(request);
    } catch (...) {
      // fall through to the generic answer
    }
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
