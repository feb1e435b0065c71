#pragma once
// The authorization server's protocol core: one entry point, neutral request in, neutral
// response out. It routes to one handler per endpoint (see endpoints.h) and maps every
// OAuthError to the wire in one place (error.h).
#include <memory>

#include "oauth/config.h"
#include "oauth/keyring.h"
#include "oauth/message.h"
#include "oauth/observer.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::oauth {

// True for the requests that may verify a password (the POST of the login form): Argon2id costs
// tens of milliseconds of CPU, so an adapter can run them apart from the quick requests.
bool checks_password(const Request& request);

class Provider {
 public:
  Provider(ProviderConfig config, store::Store& store, KeyRing& keys, const util::Clock& clock,
           util::Random& random);
  ~Provider();

  // Never throws: anything unexpected becomes a server_error response without internal detail,
  // and a log line to stderr with the detail.
  Response handle(const Request& request) noexcept;

  const ProviderConfig& config() const;

  // Counting hooks (logins, tokens, sessions); set before requests are served. May be null.
  void set_observer(ProviderObserver* observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace latchkey::oauth
