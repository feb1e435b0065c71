#pragma once
// liblatchkey-resource: protect an HTTP API with OAuth 2.0 bearer tokens.
//
//   latchkey::resource::ValidatorOptions options;
//   options.issuer = "https://idp.example";          // discovery -> jwks_uri
//   options.audience = "https://api.example";
//   auto validator = latchkey::resource::Validator::create(std::move(options));   // fetches the keys
//   if (!validator) die(validator.error());
//   ...per request, from any thread:
//   auto result = (*validator)->validate(request["Authorization"], {.scopes = {"admin"}});
//   if (!result) reply(result.error().http_status, "WWW-Authenticate", result.error().www_authenticate);
//   else use((*result)->subject);
//
// JWT mode (default) checks RFC 9068 access tokens locally: signature with an algorithm allowlist
// (ES256/RS256 only: never "none", never HMAC with a public key), typ at+jwt, exact iss, aud,
// exp/nbf/iat with bounded skew, scopes. Introspection mode (RFC 7662) asks the provider instead,
// so revocation is seen within the introspection cache TTL, and opaque tokens work too.
//
// Needs only util/, jose/, Boost.JSON and libcurl; never the server's code. CMake: add_subdirectory
// this project and link latchkey::resource, then #include "resource/validator.h".
#include <boost/json/object.hpp>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jose/jwk.h"
#include "resource/fetcher.h"
#include "util/clock.h"

namespace latchkey::resource {

// The claims of a validated access token.
struct Claims {
  std::string issuer;
  std::string subject;    // "sub"
  std::string client_id;  // RFC 9068 §2.2 / RFC 7662 §2.2; empty when the provider sent none
  std::string jwt_id;     // "jti"; empty when absent
  std::vector<std::string> audiences;
  std::vector<std::string> scopes;  // "scope" (space separated), else "scp" (string or array)
  // RFC 9068 §2.2.3.1 (SCIM attributes): arrays of strings; empty when absent.
  std::vector<std::string> roles;
  std::vector<std::string> groups;
  util::Timestamp expires_at = 0;
  util::Timestamp not_before = 0;  // 0 when absent
  util::Timestamp issued_at = 0;   // 0 when absent (introspection)
  boost::json::object raw;         // every claim as received (JWT payload or introspection answer)

  bool has_scope(std::string_view scope) const;
  bool has_role(std::string_view role) const;
  bool in_group(std::string_view group) const;
  // A raw claim, or nullptr: for roles, groups and provider-specific claims.
  const boost::json::value* claim(std::string_view name) const { return raw.if_contains(name); }
};

// What an API asks of the token for one request.
struct Requirements {
  std::string audience{};             // empty: ValidatorOptions::audience
  std::vector<std::string> scopes{};  // every one of them must be granted
  util::Timestamp clock_skew = 60;    // seconds of leeway for exp/nbf/iat, clamped to [0, kMaxClockSkew]
};
inline constexpr util::Timestamp kMaxClockSkew = 300;

enum class ErrorCode {
  missing_token,       // RFC 6750 §3.1: no Bearer credentials: 401 with no error code
  invalid_request,     // malformed Authorization header: 400
  invalid_token,       // bad, expired, revoked or foreign token: 401
  insufficient_scope,  // valid token without the scopes: 403
  unavailable,         // introspection endpoint unreachable: 503 (we cannot tell, so we do not accept)
};
std::string_view to_string(ErrorCode code);  // "" for missing_token and unavailable

struct ValidationError {
  ErrorCode code = ErrorCode::invalid_token;
  std::string description;       // safe to send (RFC 6750 §3 error_description characters only)
  int http_status = 401;
  std::string www_authenticate;  // the WWW-Authenticate value to send (RFC 6750 §3)
};

using ClaimsPtr = std::shared_ptr<const Claims>;
using ValidationResult = std::expected<ClaimsPtr, ValidationError>;

struct IntrospectionOptions {
  std::string endpoint;  // empty: "introspection_endpoint" from discovery
  std::string client_id;
  std::string client_secret;  // sent with HTTP Basic (RFC 7662 §2.1, RFC 6749 §2.3.1)
  // How long an active answer is reused: revocation is seen at most this late. Never beyond exp.
  util::Timestamp cache_ttl = 30;
};

struct ValidatorOptions {
  std::string issuer;    // compared exactly with "iss"; the discovery base
  std::string audience;  // default audience the token must name; required
  std::vector<jose::Algorithm> algorithms{jose::Algorithm::ES256, jose::Algorithm::RS256};
  std::string jwks_uri;  // empty: "jwks_uri" from discovery (JWT mode)
  std::optional<IntrospectionOptions> introspection;  // set: introspection mode
  std::string realm;     // realm attribute of WWW-Authenticate; empty: none

  // Key set refetching.
  util::Timestamp min_refetch_interval = 10;  // at most one JWKS fetch per this many seconds
  util::Timestamp default_keys_max_age = 300;  // when the JWKS answer has no Cache-Control max-age
  util::Timestamp max_keys_max_age = 86400;    // a longer max-age is cut to this

  // Validated-token cache: this many slots (0 disables it). Each entry ends at the token's exp.
  std::size_t token_cache_slots = 4096;

  std::shared_ptr<Fetcher> fetcher;         // null: libcurl
  std::shared_ptr<const util::Clock> clock;  // null: the system clock
};

struct KeySetStatus {
  std::vector<std::string> kids;
  util::Timestamp fetched_at = 0;   // of the keys in use; 0 for a static JWKS
  util::Timestamp fresh_until = 0;  // the JWKS max-age ends here (0: never refetched)
  std::uint64_t fetch_attempts = 0;
  std::uint64_t fetch_failures = 0;
  std::string last_error;
};

struct ValidatorStats {
  std::uint64_t cache_hits = 0;
  std::uint64_t signature_checks = 0;     // tokens whose signature was verified (cache misses, JWT mode)
  std::uint64_t introspection_calls = 0;  // requests to the introspection endpoint
};

class Validator {
 public:
  // Discovery (OpenID Connect Discovery, then RFC 8414) unless jwks_uri — or in introspection
  // mode the introspection endpoint — is given; then the first JWKS fetch. Fails when any of that
  // fails, so a misconfigured API does not start.
  static std::expected<std::unique_ptr<Validator>, std::string> create(ValidatorOptions options);
  // A fixed key set that is never refetched (tests, air-gapped deployments, pinned keys).
  static std::expected<std::unique_ptr<Validator>, std::string> from_jwks(ValidatorOptions options,
                                                                         std::string_view jwks_json);

  ~Validator();
  Validator(const Validator&) = delete;
  Validator& operator=(const Validator&) = delete;

  // Thread-safe. `authorization` is the Authorization header value as received (may be empty).
  ValidationResult validate(std::string_view authorization, const Requirements& requirements = {});
  // The token alone (after the caller extracted it some other way).
  ValidationResult validate_token(std::string_view token, const Requirements& requirements = {});

  // Refetches the JWKS now (subject to min_refetch_interval unless `force`).
  std::expected<void, std::string> refresh_keys(bool force = false);
  KeySetStatus key_set_status() const;
  ValidatorStats stats() const;
  bool introspection_mode() const;

  // An RFC 6750 error with its status and WWW-Authenticate value (for answers the API makes itself).
  ValidationError make_error(ErrorCode code, std::string_view description,
                             const std::vector<std::string>& scopes = {}) const;

  struct Impl;

 private:
  explicit Validator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. Returns the token, or the error code
// (missing_token when there is no Bearer credential at all, invalid_request when it is malformed).
std::expected<std::string_view, ErrorCode> extract_bearer_token(std::string_view authorization);

// RFC 9111 §5.2.2.1 max-age of a Cache-Control value; nullopt when absent; 0 for no-store/no-cache.
std::optional<util::Timestamp> cache_control_max_age(std::string_view cache_control);

}  // namespace latchkey::resource
