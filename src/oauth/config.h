#pragma once
// Everything the protocol core is configured with. Defaults here are the product's defaults:
// secure unless an operator loosens them. The server's config loader fills this struct.
#include <cstdint>
#include <string>

#include "store/store.h"
#include "util/password.h"

namespace latchkey::oauth {

struct ProviderConfig {
  std::string issuer = "http://127.0.0.1:8080";  // no trailing slash; https in production
  std::string signing_alg = "ES256";              // ES256 | RS256

  std::int64_t code_ttl = 600;               // seed 003: codes live 10 minutes
  std::int64_t access_token_ttl = 900;
  std::int64_t id_token_ttl = 3600;
  std::int64_t refresh_token_ttl = 30 * 24 * 3600;       // absolute lifetime of a grant's refresh tokens
  std::int64_t refresh_token_idle_ttl = 14 * 24 * 3600;  // a refresh token unused this long expires
  std::int64_t session_ttl = 8 * 3600;
  std::int64_t interaction_ttl = 600;        // time to finish login and consent
  std::int64_t device_code_ttl = 600;        // RFC 8628 §3.2 expires_in
  std::int64_t device_poll_interval = 5;     // RFC 8628 §3.2 interval (seconds)

  // Access tokens name this audience when the client asks for none (RFC 9068 §3 needs a default).
  // Empty means the issuer itself.
  std::string default_audience;

  bool allow_plain_pkce = false;  // RFC 9700 §2.1.1: S256 only unless an operator needs plain
  util::PasswordCost password_cost;

  // Brute-force throttling (issue 7 §4; store.h ThrottleRule): after max_failures failures each
  // further one locks the key for a doubling time. Failed logins count per username and per client
  // address, failed client authentication per client_id and address, wrong device user codes per
  // browser and address. An address is shared by many people (NAT), so it gets more room.
  store::ThrottleRule login_account_throttle{.max_failures = 5, .window = 900, .base_lock = 2, .max_lock = 900};
  store::ThrottleRule client_auth_throttle{.max_failures = 10, .window = 900, .base_lock = 2, .max_lock = 900};
  // RFC 8628 §5.1: user codes have little entropy, so wrong entries are limited.
  store::ThrottleRule user_code_throttle{.max_failures = 5, .window = 900, .base_lock = 2, .max_lock = 900};
  store::ThrottleRule address_throttle{.max_failures = 20, .window = 900, .base_lock = 2, .max_lock = 900};

  // Cookies get Secure and the __Host- prefix when the issuer is https.
  bool secure_cookies() const { return issuer.rfind("https://", 0) == 0; }
};

// The longest a token signed now can stay valid: a retired signing key is needed that long.
inline std::int64_t longest_token_lifetime(const ProviderConfig& c) {
  return c.access_token_ttl > c.id_token_ttl ? c.access_token_ttl : c.id_token_ttl;
}

}  // namespace latchkey::oauth
