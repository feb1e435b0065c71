#include "client/tokens.h"

#include <boost/json.hpp>
#include <limits>

#include "util/base64url.h"
#include "util/form.h"
#include "util/strings.h"

namespace latchkey::client {

namespace {

std::string str(const boost::json::object& o, std::string_view name) {
  if (auto* v = o.if_contains(name); v && v->is_string()) return std::string(v->as_string());
  return {};
}

// A JSON number as int64 without undefined behaviour: a provider may send 1e400 (infinity once
// parsed), NaN-producing input or 2^64-1; those are not numbers of seconds and read as absent.
std::optional<std::int64_t> integer(const boost::json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(v->as_uint64());
  }
  if (v->is_double()) {
    double d = v->as_double();
    if (!(d >= -0x1p63 && d < 0x1p63)) return std::nullopt;  // also false for NaN
    return static_cast<std::int64_t>(d);
  }
  if (v->is_string()) {  // some providers send "3600"
    try {
      return std::stoll(std::string(v->as_string()));
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Lifetimes and intervals from the provider, capped at a year so that now + lifetime (token
// expiry, device-flow deadline) cannot overflow.
std::optional<std::int64_t> seconds(const boost::json::object& o, std::string_view name) {
  constexpr std::int64_t kMaxSeconds = 366LL * 24 * 3600;
  auto value = integer(o, name);
  if (value && *value > kMaxSeconds) return kMaxSeconds;
  return value;
}

std::optional<boost::json::object> json_object(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

struct OAuthErrorBody {
  std::string error, description;
};

std::optional<OAuthErrorBody> oauth_error(const HttpResponse& response) {
  auto o = json_object(response.body);
  if (!o || !o->contains("error")) return std::nullopt;
  return OAuthErrorBody{str(*o, "error"), str(*o, "error_description")};
}

Error error_from_response(const HttpResponse& response, std::string_view during) {
  std::string prefix = std::string(during) + " failed";
  if (auto e = oauth_error(response)) {
    std::string what = prefix + ": " + e->error + (e->description.empty() ? "" : " (" + e->description + ")");
    if (e->error == "invalid_grant")
      return {ErrorKind::login_required, what, "run `latchkey auth login` again"};
    if (e->error == "invalid_client" || e->error == "unauthorized_client")
      return {ErrorKind::refused, what, "check --client-id and the client secret (--client-secret-stdin)"};
    if (e->error == "invalid_scope") return {ErrorKind::refused, what, "ask for scopes the client may use: --scope"};
    if (e->error == "unsupported_grant_type")
      return {ErrorKind::refused, what, "the provider or this client does not allow this grant"};
    return {ErrorKind::refused, what, "try again; if it persists, check the provider's logs"};
  }
  if (response.status >= 500)
    return {ErrorKind::network, prefix + ": the provider answered HTTP " + std::to_string(response.status),
            "try again later"};
  return {ErrorKind::refused, prefix + ": unexpected HTTP " + std::to_string(response.status) + " without an OAuth error",
          "check the endpoint URL (--verbose shows the exchange)"};
}

}  // namespace

std::optional<util::Timestamp> jwt_expiry(std::string_view access_token) {
  auto first = access_token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = access_token.find('.', first + 1);
  if (second == std::string_view::npos || access_token.find('.', second + 1) != std::string_view::npos)
    return std::nullopt;  // not a JWS compact serialization (a JWE has five parts and hides exp)
  auto payload = util::base64url_decode(access_token.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  auto claims = json_object(*payload);
  if (!claims) return std::nullopt;
  auto exp = integer(*claims, "exp");
  if (!exp || *exp <= 0) return std::nullopt;
  return *exp;
}

Result<TokenResponse> parse_token_response(const HttpResponse& response, std::string_view during) {
  if (response.status != 200) return std::unexpected(error_from_response(response, during));
  auto o = json_object(response.body);
  if (!o)
    return fail(ErrorKind::refused, std::string(during) + " failed: the answer is not a JSON object",
                "check the token endpoint URL (--verbose shows the exchange)");
  TokenResponse t;
  t.access_token = str(*o, "access_token");
  t.token_type = str(*o, "token_type");
  t.expires_in = seconds(*o, "expires_in");
  t.refresh_token = str(*o, "refresh_token");
  t.id_token = str(*o, "id_token");
  t.scope = str(*o, "scope");
  // RFC 6749 §5.1: access_token and token_type are REQUIRED; we only know how to use Bearer.
  if (t.access_token.empty())
    return fail(ErrorKind::refused, std::string(during) + " failed: the answer has no access_token", "");
  if (util::to_lower(t.token_type) != "bearer")
    return fail(ErrorKind::refused,
                std::string(during) + " failed: token_type '" + t.token_type + "' is not Bearer",
                "this provider issues tokens latchkey cannot use");
  if (t.expires_in && *t.expires_in < 0) t.expires_in.reset();
  return t;
}

void add_client_authentication(HttpRequest& request, std::vector<std::pair<std::string, std::string>>& fields,
                               const ClientIdentity& client, const ProviderMetadata& metadata) {
  if (client.client_secret.empty()) {
    fields.emplace_back("client_id", client.client_id);
    return;
  }
  const auto& methods = metadata.token_endpoint_auth_methods_supported;
  bool post_only = !methods.empty() && !util::contains(methods, "client_secret_basic") &&
                   util::contains(methods, "client_secret_post");
  if (post_only) {
    fields.emplace_back("client_id", client.client_id);
    fields.emplace_back("client_secret", client.client_secret);
    return;
  }
  // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
  std::string credentials = util::url_encode(client.client_id) + ":" + util::url_encode(client.client_secret);
  request.headers.emplace_back("Authorization", "Basic " + util::base64_encode(credentials));
}

namespace {

HttpRequest authenticated_post(const std::string& url, std::vector<std::pair<std::string, std::string>> fields,
                               const ClientIdentity& client, const ProviderMetadata& metadata) {
  HttpRequest probe;
  add_client_authentication(probe, fields, client, metadata);
  HttpRequest request = form_post(url, fields);
  for (auto& h : probe.headers) request.headers.push_back(std::move(h));
  return request;
}

}  // namespace

Result<TokenResponse> exchange_code(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                                    const std::string& code, const std::string& redirect_uri,
                                    const std::string& code_verifier) {
  auto request = authenticated_post(metadata.token_endpoint,
                                    {{"grant_type", "authorization_code"},
                                     {"code", code},
                                     {"redirect_uri", redirect_uri},
                                     {"code_verifier", code_verifier}},
                                    client, metadata);
  auto response = http.send(request);
  if (!response) return std::unexpected(response.error());
  return parse_token_response(*response, "the code exchange");
}

Result<TokenResponse> refresh_tokens(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                                     const std::string& refresh_token) {
  auto request = authenticated_post(metadata.token_endpoint,
                                    {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}}, client,
                                    metadata);
  auto response = http.send(request);
  if (!response) return std::unexpected(response.error());
  return parse_token_response(*response, "refreshing the token");
}

Result<void> revoke_token(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                          const std::string& token, std::string_view token_type_hint) {
  if (metadata.revocation_endpoint.empty())
    return fail(ErrorKind::usage, "the provider has no revocation endpoint", "");
  auto request = authenticated_post(metadata.revocation_endpoint,
                                    {{"token", token}, {"token_type_hint", std::string(token_type_hint)}}, client,
                                    metadata);
  auto response = http.send(request);
  if (!response) return std::unexpected(response.error());
  if (response->status == 200) return {};  // RFC 7009 §2.2: also for tokens it did not know
  if (auto e = oauth_error(*response); e && e->error == "unsupported_token_type") return {};
  return std::unexpected(error_from_response(*response, "revoking the refresh token"));
}

Result<DeviceAuthorization> start_device_authorization(HttpClient& http, const ProviderMetadata& metadata,
                                                       const ClientIdentity& client, const std::string& scope,
                                                       const std::string& audience) {
  if (metadata.device_authorization_endpoint.empty())
    return fail(ErrorKind::refused, "the provider " + metadata.issuer + " offers no device flow (no device_authorization_endpoint)",
                "log in with the browser (without --device), or pass --device-authorization-endpoint URL");
  std::vector<std::pair<std::string, std::string>> fields;
  if (!scope.empty()) fields.emplace_back("scope", scope);
  if (!audience.empty()) fields.emplace_back("audience", audience);
  auto request = authenticated_post(metadata.device_authorization_endpoint, std::move(fields), client, metadata);
  auto response = http.send(request);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) return std::unexpected(error_from_response(*response, "starting the device flow"));
  auto o = json_object(response->body);
  if (!o) return fail(ErrorKind::refused, "starting the device flow failed: the answer is not JSON", "");
  DeviceAuthorization d;
  d.device_code = str(*o, "device_code");
  d.user_code = str(*o, "user_code");
  d.verification_uri = str(*o, "verification_uri");
  if (d.verification_uri.empty()) d.verification_uri = str(*o, "verification_url");  // pre-RFC Google spelling
  d.verification_uri_complete = str(*o, "verification_uri_complete");
  d.expires_in = seconds(*o, "expires_in").value_or(0);
  d.interval = std::max<std::int64_t>(seconds(*o, "interval").value_or(5), 1);
  // RFC 8628 §3.2: device_code, user_code, verification_uri and expires_in are REQUIRED.
  if (d.device_code.empty() || d.user_code.empty() || d.verification_uri.empty() || d.expires_in <= 0)
    return fail(ErrorKind::refused, "starting the device flow failed: the answer lacks device_code, user_code, "
                                    "verification_uri or expires_in", "");
  return d;
}

Result<TokenResponse> poll_device_token(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                                        const DeviceAuthorization& device, const util::Clock& clock,
                                        const Sleeper& sleep) {
  util::Timestamp deadline = clock.now() + device.expires_in;
  std::int64_t interval = device.interval;
  for (;;) {
    // §3.5: wait `interval` seconds between requests, also before the first one.
    sleep(std::chrono::seconds(interval));
    if (clock.now() >= deadline)
      return fail(ErrorKind::timeout, "the device code expired before the login was completed",
                  "run `latchkey auth login --device` again and enter the code sooner");
    auto request = authenticated_post(
        metadata.token_endpoint,
        {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"}, {"device_code", device.device_code}}, client,
        metadata);
    auto response = http.send(request);
    if (!response) return std::unexpected(response.error());
    if (response->status == 200) return parse_token_response(*response, "the device flow");
    auto e = oauth_error(*response);
    if (e && e->error == "authorization_pending") continue;
    if (e && e->error == "slow_down") {
      interval += 5;  // §3.5: MUST increase by 5 seconds for this and all later requests
      continue;
    }
    if (e && e->error == "access_denied")
      return fail(ErrorKind::refused, "the login was denied on the device page", "run the login again and allow it");
    if (e && e->error == "expired_token")
      return fail(ErrorKind::timeout, "the device code expired before the login was completed",
                  "run `latchkey auth login --device` again");
    return std::unexpected(error_from_response(*response, "the device flow"));
  }
}

}  // namespace latchkey::client
