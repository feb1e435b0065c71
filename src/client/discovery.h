#pragma once
// Provider metadata: OpenID Connect Discovery 1.0, falling back to RFC 8414, cached per issuer.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/error.h"
#include "client/http.h"
#include "util/clock.h"

namespace latchkey::client {

struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::string device_authorization_endpoint;  // RFC 8628 §4
  std::string revocation_endpoint;            // RFC 7009 / RFC 8414 §2
  std::string userinfo_endpoint;
  std::vector<std::string> token_endpoint_auth_methods_supported;
  std::vector<std::string> code_challenge_methods_supported;
  std::vector<std::string> grant_types_supported;
  bool authorization_response_iss_parameter_supported = false;  // RFC 9207 §3

  std::string to_json() const;
};

// Strict parse: the issuer in the document must be identical to the one asked for (OIDC
// Discovery §4.3, RFC 8414 §3.3), and every endpoint must be https (http only on loopback).
Result<ProviderMetadata> parse_metadata(std::string_view json, std::string_view expected_issuer);

std::string oidc_discovery_url(std::string_view issuer);
// RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
std::string oauth_discovery_url(std::string_view issuer);

// https, or http to a loopback host (127.0.0.0/8, [::1], localhost) for development providers.
bool is_secure_or_loopback_url(std::string_view url);

class Discovery {
 public:
  // `cache_dir` empty disables the cache. Cached documents are reused for `max_age` seconds.
  Discovery(HttpClient& http, std::filesystem::path cache_dir, const util::Clock& clock, util::Timestamp max_age = 3600)
      : http_(http), cache_dir_(std::move(cache_dir)), clock_(clock), max_age_(max_age) {}

  Result<ProviderMetadata> fetch(std::string_view issuer, bool use_cache = true);

 private:
  std::optional<ProviderMetadata> read_cache(std::string_view issuer) const;
  void write_cache(std::string_view issuer, const std::string& document) const;
  std::filesystem::path cache_file(std::string_view issuer) const;

  HttpClient& http_;
  std::filesystem::path cache_dir_;
  const util::Clock& clock_;
  util::Timestamp max_age_;
};

}  // namespace latchkey::client
