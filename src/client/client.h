#pragma once
// liblatchkey-client's entry point: log in (browser with a loopback redirect, or the device flow),
// keep tokens fresh under a lock, log out. Everything with side effects comes in through
// ClientContext, so the flows are testable with a canned HttpClient and a FakeClock.
//
//   latchkey::client::TokenStore store(TokenStore::default_home());
//   auto http = latchkey::client::make_curl_client({});
//   latchkey::util::SystemClock clock; latchkey::util::SystemRandom random;
//   latchkey::client::Client client({*http, store, clock, random, std::cerr});
//   auto profile = store.load_profile("default");            // written by `latchkey auth login`
//   auto tokens = client.valid_tokens(**profile, 60);        // refreshes when needed
//   if (tokens) use(tokens->access_token);
#include <chrono>
#include <ostream>
#include <string>
#include <thread>

#include "client/authorize.h"
#include "client/browser.h"
#include "client/discovery.h"
#include "client/error.h"
#include "client/http.h"
#include "client/id_token.h"
#include "client/loopback.h"
#include "client/store.h"
#include "client/tokens.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::client {

struct ClientContext {
  HttpClient& http;
  const TokenStore& store;
  const util::Clock& clock;
  util::Random& random;
  std::ostream& messages;  // progress for a human (the CLI passes stderr)
  Sleeper sleep = [](std::chrono::seconds s) { std::this_thread::sleep_for(s); };
  bool use_discovery_cache = true;
};

struct LoginOptions {
  bool open_browser = true;
  bool device = false;
  std::chrono::seconds timeout{300};
  std::string client_secret;  // confidential clients; empty for public ones
};

class Client {
 public:
  explicit Client(ClientContext context) : ctx_(std::move(context)) {}

  // The provider's endpoints: discovered from the issuer (cached), then overridden by the
  // profile's explicit endpoints.
  Result<ProviderMetadata> metadata(const Profile& profile);

  // Logs in and stores the tokens; the profile itself is saved by the caller.
  Result<StoredTokens> login(const Profile& profile, const LoginOptions& options);

  // Tokens valid for at least `min_valid` seconds: holds the profile's lock, re-reads the file
  // (another process may have refreshed meanwhile), refreshes only when still needed, writes.
  Result<StoredTokens> valid_tokens(const Profile& profile, util::Timestamp min_valid);
  // Refreshes now, under the same lock.
  Result<StoredTokens> refresh(const Profile& profile);

  struct LogoutResult {
    bool had_tokens = false;
    bool revoked = false;
    std::string revocation_problem;  // why the provider was not told, when it was not
  };
  // Revokes the refresh token when the provider has a revocation endpoint, then deletes the tokens.
  Result<LogoutResult> logout(const Profile& profile);

 private:
  Result<StoredTokens> login_browser(const Profile& profile, const ProviderMetadata& metadata,
                                     const LoginOptions& options);
  Result<StoredTokens> login_device(const Profile& profile, const ProviderMetadata& metadata,
                                    const LoginOptions& options);
  // Turns a token response into stored tokens, validating the id_token (with `nonce` when given).
  Result<StoredTokens> accept(const Profile& profile, const ProviderMetadata& metadata, const TokenResponse& response,
                              const std::string& nonce, const StoredTokens* previous, const std::string& secret);
  Result<StoredTokens> refresh_locked(const Profile& profile, const StoredTokens& current);

  ClientContext ctx_;
};

bool scope_has(std::string_view scope, std::string_view item);

// How long an access token is taken to live when the provider sent no expires_in and the token is
// not a JWT with exp: short, so that `latchkey auth token` refreshes now and then instead of
// handing out a dead token forever.
inline constexpr util::Timestamp kAssumedAccessTokenLifetime = 300;

// Whether `valid_tokens` must refresh before handing out `tokens`: the access token expires
// within `min_valid` seconds by expires_at, else by the JWT's exp, else by obtained_at +
// kAssumedAccessTokenLifetime. A token of unknown lifetime without a refresh token is handed out
// as it is (nothing could replace it; some providers issue tokens that never expire).
bool needs_refresh(const StoredTokens& tokens, util::Timestamp now, util::Timestamp min_valid);

}  // namespace latchkey::client
