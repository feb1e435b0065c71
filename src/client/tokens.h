#pragma once
// Back-channel calls: the token endpoint (RFC 6749 §4.1.3, §6), device authorization (RFC 8628)
// and revocation (RFC 7009).
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "client/discovery.h"
#include "client/error.h"
#include "client/http.h"
#include "util/clock.h"

namespace latchkey::client {

struct ClientIdentity {
  std::string client_id;
  std::string client_secret;  // empty: public client (PKCE only)
};

struct TokenResponse {
  std::string access_token;
  std::string token_type;
  std::optional<std::int64_t> expires_in;
  std::string refresh_token;
  std::string id_token;
  std::string scope;  // empty when the provider did not say (then: what was asked, §5.1)
};

// The `exp` of an access token that is a JWT (RFC 9068), read WITHOUT checking the signature: it
// only tells when to refresh, for providers that send no expires_in. nullopt for opaque tokens.
std::optional<util::Timestamp> jwt_expiry(std::string_view access_token);

// §5.1 success or §5.2 error. `during` names the step for messages ("the code exchange").
Result<TokenResponse> parse_token_response(const HttpResponse& response, std::string_view during);

// client_secret_basic (RFC 6749 §2.3.1, with the form-encoding it requires) unless the provider
// only lists client_secret_post; public clients send client_id in the body.
void add_client_authentication(HttpRequest& request, std::vector<std::pair<std::string, std::string>>& fields,
                               const ClientIdentity& client, const ProviderMetadata& metadata);

Result<TokenResponse> exchange_code(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                                    const std::string& code, const std::string& redirect_uri,
                                    const std::string& code_verifier);

Result<TokenResponse> refresh_tokens(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                                     const std::string& refresh_token);

// RFC 7009 §2.1; an unsupported_token_type or 200 are both fine for logout.
Result<void> revoke_token(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                          const std::string& token, std::string_view token_type_hint);

struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  std::int64_t expires_in = 0;
  std::int64_t interval = 5;  // RFC 8628 §3.2: default 5 s
};

Result<DeviceAuthorization> start_device_authorization(HttpClient& http, const ProviderMetadata& metadata,
                                                       const ClientIdentity& client, const std::string& scope,
                                                       const std::string& audience);

using Sleeper = std::function<void(std::chrono::seconds)>;

// RFC 8628 §3.4-3.5: polls every `interval` seconds, +5 s on each slow_down, until tokens, a
// final error, or the device code's expiry (by `clock`).
Result<TokenResponse> poll_device_token(HttpClient& http, const ProviderMetadata& metadata, const ClientIdentity& client,
                                        const DeviceAuthorization& device, const util::Clock& clock,
                                        const Sleeper& sleep);

}  // namespace latchkey::client
