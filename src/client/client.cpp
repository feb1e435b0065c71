#include "client/client.h"

#include "jose/jwk.h"
#include "util/strings.h"

namespace latchkey::client {

bool scope_has(std::string_view scope, std::string_view item) {
  return util::contains(util::split_spaces(scope), item);
}

bool needs_refresh(const StoredTokens& t, util::Timestamp now, util::Timestamp min_valid) {
  if (t.access_token.empty()) return true;
  util::Timestamp expiry = t.expires_at;
  if (!expiry) expiry = jwt_expiry(t.access_token).value_or(0);  // files written before exp was read
  if (expiry) return expiry - now <= min_valid;
  if (t.refresh_token.empty()) return false;
  return t.obtained_at + kAssumedAccessTokenLifetime - now <= min_valid;
}

namespace {

std::string format_duration(std::chrono::seconds s) {
  auto n = s.count();
  if (n % 60 == 0 && n >= 60) return std::to_string(n / 60) + " min";
  return std::to_string(n) + " s";
}

Result<std::vector<jose::PublicJwk>> fetch_jwks(HttpClient& http, const ProviderMetadata& metadata) {
  if (metadata.jwks_uri.empty())
    return fail(ErrorKind::refused, "the provider sent an id_token but has no jwks_uri to check it with",
                "pass --jwks-uri URL");
  HttpRequest req;
  req.url = metadata.jwks_uri;
  req.headers.emplace_back("Accept", "application/json");
  auto res = http.send(req);
  if (!res) return std::unexpected(res.error());
  if (res->status != 200)
    return fail(ErrorKind::network, "cannot fetch the provider's keys from " + metadata.jwks_uri + " (HTTP " +
                                        std::to_string(res->status) + ")",
                "try again later");
  auto keys = jose::parse_jwks(res->body);
  if (!keys)
    return fail(ErrorKind::refused, "the provider's JWKS at " + metadata.jwks_uri + " is unusable: " + keys.error(),
                "check the provider's configuration");
  return *keys;
}

Error not_logged_in(const Profile& profile) {
  std::string flag = profile.name == "default" ? "" : " --profile " + profile.name;
  return {ErrorKind::login_required, "not logged in (profile " + profile.name + ")",
          "run `latchkey auth login" + flag + "`"};
}

}  // namespace

Result<ProviderMetadata> Client::metadata(const Profile& profile) {
  ProviderMetadata m;
  bool explicit_endpoints = !profile.token_endpoint.empty() &&
                            (!profile.authorization_endpoint.empty() || !profile.device_authorization_endpoint.empty());
  if (!explicit_endpoints) {
    if (profile.issuer.empty())
      return fail(ErrorKind::usage, "no issuer for profile " + profile.name, "pass --issuer URL");
    Discovery discovery(ctx_.http, ctx_.store.cache_dir(), ctx_.clock);
    auto found = discovery.fetch(profile.issuer, ctx_.use_discovery_cache);
    if (!found) return found;
    m = std::move(*found);
  } else {
    m.issuer = profile.issuer;
  }
  auto override_with = [](std::string& field, const std::string& value) {
    if (!value.empty()) field = value;
  };
  override_with(m.authorization_endpoint, profile.authorization_endpoint);
  override_with(m.token_endpoint, profile.token_endpoint);
  override_with(m.device_authorization_endpoint, profile.device_authorization_endpoint);
  override_with(m.revocation_endpoint, profile.revocation_endpoint);
  override_with(m.jwks_uri, profile.jwks_uri);
  for (const std::string* url : {&m.authorization_endpoint, &m.token_endpoint, &m.device_authorization_endpoint,
                                 &m.revocation_endpoint, &m.jwks_uri})
    if (!url->empty() && !is_secure_or_loopback_url(*url))
      return fail(ErrorKind::usage, "endpoint " + *url + " is not https", "use https (http only on loopback)");
  return m;
}

Result<StoredTokens> Client::login(const Profile& profile, const LoginOptions& options) {
  if (profile.client_id.empty()) return fail(ErrorKind::usage, "no client id for profile " + profile.name, "pass --client-id ID");
  auto m = metadata(profile);
  if (!m) return std::unexpected(m.error());
  auto tokens = options.device ? login_device(profile, *m, options) : login_browser(profile, *m, options);
  if (!tokens) return tokens;
  auto lock = ctx_.store.lock(profile.name);
  if (!lock) return std::unexpected(lock.error());
  if (auto saved = ctx_.store.save_tokens(profile.name, *tokens); !saved) return std::unexpected(saved.error());
  return tokens;
}

Result<StoredTokens> Client::login_browser(const Profile& profile, const ProviderMetadata& m,
                                           const LoginOptions& options) {
  if (m.authorization_endpoint.empty())
    return fail(ErrorKind::refused, "the provider has no authorization_endpoint",
                "use --device, or pass --authorization-endpoint URL");
  if (!m.code_challenge_methods_supported.empty() && !util::contains(m.code_challenge_methods_supported, "S256"))
    ctx_.messages << "latchkey: warning: the provider does not list PKCE S256; sending it anyway\n";

  // Listen first: the browser may come back faster than we could open the port afterwards.
  LoopbackOptions loopback;
  if (!profile.redirect_uri.empty()) {
    auto parsed = loopback_options_from_uri(profile.redirect_uri);
    if (!parsed) return std::unexpected(parsed.error());
    loopback = *parsed;
  }
  if (!profile.redirect_ports.empty()) loopback.ports = profile.redirect_ports;
  auto listener = LoopbackListener::open(loopback);
  if (!listener) return std::unexpected(listener.error());

  Pkce pkce = Pkce::generate(ctx_.random);
  AuthorizationRequest request;
  request.authorization_endpoint = m.authorization_endpoint;
  request.client_id = profile.client_id;
  request.redirect_uri = listener->redirect_uri();
  request.scope = profile.scope;
  request.state = ctx_.random.token(16);
  if (scope_has(profile.scope, "openid")) request.nonce = ctx_.random.token(16);
  request.code_challenge = pkce.challenge;
  request.audience = profile.audience;
  request.prompt = profile.prompt;
  std::string url = build_authorization_url(request);

  auto& out = ctx_.messages;
  std::optional<BrowserProcess> browser;
  if (options.open_browser) {
    std::string why;
    browser = BrowserProcess::launch(url, why);
    if (browser) {
      out << "Opening the browser to log in. If it does not open, visit this URL:\n\n    " << url << "\n\n";
    } else {
      out << "latchkey: cannot open a browser: " << why << ".\nOpen this URL in a browser on this machine:\n\n    " << url
          << "\n\nOn a machine without a browser (SSH), use `latchkey auth login --device` instead.\n\n";
    }
  } else {
    out << "Open this URL in a browser on this machine:\n\n    " << url << "\n\n";
  }
  out << "Waiting for the browser to return to " << listener->redirect_uri() << " (press Ctrl-C to cancel; gives up after "
      << format_duration(options.timeout) << ")...\n";
  out.flush();

  bool reported_browser_failure = false;
  auto on_tick = [&] {
    if (browser && !reported_browser_failure && browser->failed()) {
      reported_browser_failure = true;
      out << "latchkey: the browser command (" << browser->command()
          << ") failed; open the URL above yourself, or cancel and use `latchkey auth login --device`.\n";
      out.flush();
    }
  };
  CallbackExpectation expected{request.state, m.issuer, m.authorization_response_iss_parameter_supported};
  auto code = listener->wait(
      std::chrono::steady_clock::now() + options.timeout,
      [&](std::string_view query) { return parse_callback(query, expected); }, on_tick);
  if (!code) {
    if (code.error().kind == ErrorKind::refused && code.error().what.find("redirect_uri") != std::string::npos)
      code.error().todo = "register " + listener->redirect_uri() + " with the provider";
    return std::unexpected(code.error());
  }

  ClientIdentity client{profile.client_id, options.client_secret};
  auto response = exchange_code(ctx_.http, m, client, *code, listener->redirect_uri(), pkce.verifier);
  if (!response) {
    auto e = response.error();
    if (e.what.find("redirect_uri") != std::string::npos)
      e.todo = "register exactly " + listener->redirect_uri() +
               " with the provider (or a fixed port with --redirect-port N)";
    return std::unexpected(e);
  }
  auto tokens = accept(profile, m, *response, request.nonce, nullptr, options.client_secret);
  if (tokens && tokens->refresh_token.empty() && scope_has(profile.scope, "offline_access")) {
    // OIDC Core §11: a provider may drop offline_access unless prompt=consent is sent (node's
    // oidc-provider does, by default). Say so now rather than when the access token runs out.
    out << "latchkey: warning: the provider issued no refresh token although offline_access was asked for"
        << (tokens->scope.empty() ? "" : " (granted: " + tokens->scope + ")") << "; when the access token expires, "
        << "you will have to log in again."
        << (scope_has(profile.prompt, "consent") ? "" : " Some providers grant offline_access only with `--prompt consent`.")
        << "\n";
  }
  return tokens;
}

Result<StoredTokens> Client::login_device(const Profile& profile, const ProviderMetadata& m,
                                          const LoginOptions& options) {
  ClientIdentity client{profile.client_id, options.client_secret};
  auto device = start_device_authorization(ctx_.http, m, client, profile.scope, profile.audience);
  if (!device) return std::unexpected(device.error());
  auto& out = ctx_.messages;
  out << "To log in, open this page on any device:\n\n    " << device->verification_uri << "\n\nand enter the code:\n\n    "
      << device->user_code << "\n\n";
  if (!device->verification_uri_complete.empty())
    out << "Or open this link, which carries the code:\n\n    " << device->verification_uri_complete << "\n\n";
  out << "Waiting for the login (press Ctrl-C to cancel; the code expires in "
      << format_duration(std::chrono::seconds(device->expires_in)) << ")...\n";
  out.flush();
  DeviceAuthorization bounded = *device;
  bounded.expires_in = std::min<std::int64_t>(device->expires_in, options.timeout.count());
  auto response = poll_device_token(ctx_.http, m, client, bounded, ctx_.clock, ctx_.sleep);
  if (!response) return std::unexpected(response.error());
  // The device flow has no nonce (RFC 8628 has no front channel to carry it).
  return accept(profile, m, *response, "", nullptr, options.client_secret);
}

Result<StoredTokens> Client::accept(const Profile& profile, const ProviderMetadata& m, const TokenResponse& response,
                                    const std::string& nonce, const StoredTokens* previous, const std::string& secret) {
  StoredTokens t;
  t.access_token = response.access_token;
  t.token_type = response.token_type;
  t.obtained_at = ctx_.clock.now();
  // expires_in is only RECOMMENDED (RFC 6749 §5.1): without it, a JWT access token's exp.
  t.expires_at = response.expires_in ? t.obtained_at + *response.expires_in : jwt_expiry(t.access_token).value_or(0);
  // RFC 6749 §6: a refresh response may omit the refresh token; the old one stays usable then.
  t.refresh_token = !response.refresh_token.empty() ? response.refresh_token : previous ? previous->refresh_token : "";
  // §5.1: an absent scope means the scope asked for.
  t.scope = !response.scope.empty() ? response.scope : previous ? previous->scope : profile.scope;
  t.client_secret = secret;
  t.subject = previous ? previous->subject : "";
  t.id_token = previous ? previous->id_token : "";
  if (!response.id_token.empty()) {
    auto keys = fetch_jwks(ctx_.http, m);
    if (!keys) return std::unexpected(keys.error());
    IdTokenExpectation expected{m.issuer, profile.client_id, nonce, response.access_token, ctx_.clock.now(),
                                kMaxClockSkew};
    auto claims = validate_id_token(response.id_token, *keys, expected);
    if (!claims) return std::unexpected(claims.error());
    // OIDC Core §12.2: a refreshed id_token must be about the same user.
    if (previous && !previous->subject.empty() && claims->subject != previous->subject)
      return fail(ErrorKind::refused, "the refreshed id_token is about another user", "run `latchkey auth login` again");
    t.subject = claims->subject;
    t.id_token = response.id_token;
  } else if (!previous && scope_has(profile.scope, "openid") && !nonce.empty()) {
    return fail(ErrorKind::refused, "the provider returned no id_token although openid was requested",
                "check the provider; or drop openid from --scope");
  }
  return t;
}

Result<StoredTokens> Client::refresh_locked(const Profile& profile, const StoredTokens& current) {
  if (current.refresh_token.empty()) {
    std::string todo = "run `latchkey auth login`";
    if (!scope_has(profile.scope, "offline_access")) todo += " (add offline_access to --scope to get a refresh token)";
    else if (!current.scope.empty() && !scope_has(current.scope, "offline_access"))
      todo += " --prompt consent: the provider did not grant offline_access without it";
    return fail(ErrorKind::login_required,
                "the access token of profile " + profile.name + " expires and there is no refresh token", todo);
  }
  auto m = metadata(profile);
  if (!m) return std::unexpected(m.error());
  ClientIdentity client{profile.client_id, current.client_secret};
  auto response = refresh_tokens(ctx_.http, *m, client, current.refresh_token);
  if (!response) return std::unexpected(response.error());
  auto tokens = accept(profile, *m, *response, "", &current, current.client_secret);
  if (!tokens) return tokens;
  if (auto saved = ctx_.store.save_tokens(profile.name, *tokens); !saved) return std::unexpected(saved.error());
  return tokens;
}

Result<StoredTokens> Client::valid_tokens(const Profile& profile, util::Timestamp min_valid) {
  auto lock = ctx_.store.lock(profile.name);
  if (!lock) return std::unexpected(lock.error());
  // Read under the lock: a process that waited here sees what the previous holder wrote.
  auto current = ctx_.store.load_tokens(profile.name);
  if (!current) return std::unexpected(current.error());
  if (!*current) return std::unexpected(not_logged_in(profile));
  if (!needs_refresh(**current, ctx_.clock.now(), min_valid)) return **current;
  return refresh_locked(profile, **current);
}

Result<StoredTokens> Client::refresh(const Profile& profile) {
  auto lock = ctx_.store.lock(profile.name);
  if (!lock) return std::unexpected(lock.error());
  auto current = ctx_.store.load_tokens(profile.name);
  if (!current) return std::unexpected(current.error());
  if (!*current) return std::unexpected(not_logged_in(profile));
  return refresh_locked(profile, **current);
}

Result<Client::LogoutResult> Client::logout(const Profile& profile) {
  auto lock = ctx_.store.lock(profile.name);
  if (!lock) return std::unexpected(lock.error());
  LogoutResult result;
  auto current = ctx_.store.load_tokens(profile.name);
  if (!current) {
    // A corrupt file holds nothing we could revoke: deleting it is what logout is for.
    if (auto removed = ctx_.store.delete_tokens(profile.name); !removed) return std::unexpected(removed.error());
    result.revocation_problem = "the credentials file was unreadable";
    return result;
  }
  if (!*current) return result;
  result.had_tokens = true;
  const StoredTokens& t = **current;
  auto m = metadata(profile);
  if (!m) {
    result.revocation_problem = m.error().what;
  } else if (m->revocation_endpoint.empty()) {
    result.revocation_problem = "the provider has no revocation endpoint";
  } else {
    ClientIdentity client{profile.client_id, t.client_secret};
    bool has_refresh = !t.refresh_token.empty();
    auto revoked = revoke_token(ctx_.http, *m, client, has_refresh ? t.refresh_token : t.access_token,
                                has_refresh ? "refresh_token" : "access_token");
    if (revoked) result.revoked = true;
    else result.revocation_problem = revoked.error().what;
  }
  if (auto removed = ctx_.store.delete_tokens(profile.name); !removed) return std::unexpected(removed.error());
  return result;
}

}  // namespace latchkey::client
