#pragma once
// What every endpoint handler is given: configuration and the injected seams.
#include <string>

#include "oauth/config.h"
#include "oauth/keyring.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::oauth {

struct Context {
  const ProviderConfig& config;
  store::Store& store;
  KeyRing& keys;
  const util::Clock& clock;
  util::Random& random;
  std::string csrf_key;  // server secret for CSRF MACs, shared by every instance through the store
};

void log_line(std::string_view level, std::string_view message);

}  // namespace latchkey::oauth
