#include "oauth/throttle.h"

#include <algorithm>
#include <array>

#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::oauth {

ThrottleKey throttle_key(std::string_view kind, std::string_view value, const store::ThrottleRule& rule) {
  if (value.empty()) return {};
  return ThrottleKey{std::string(kind) + ":" + util::base64url_encode(util::sha256(value)), &rule};
}

std::int64_t throttle_wait(Context& ctx, const ThrottleKey& first, const ThrottleKey& second) {
  // Both keys in one store call; an empty key is not looked up and reads as a zero state.
  std::array<store::ThrottleState, 2> states{};
  if (!first.key.empty() && !second.key.empty()) {
    states = ctx.store.find_throttles(first.key, second.key);
  } else if (!first.key.empty()) {
    states[0] = ctx.store.find_throttle(first.key);
  } else if (!second.key.empty()) {
    states[1] = ctx.store.find_throttle(second.key);
  }
  const auto now = ctx.clock.now();
  first.has_failures = states[0].failures > 0;
  second.has_failures = states[1].failures > 0;
  return std::max<std::int64_t>({0, states[0].locked_until - now, states[1].locked_until - now});
}

std::int64_t throttle_failure(Context& ctx, std::initializer_list<const ThrottleKey*> keys) {
  const auto now = ctx.clock.now();
  std::int64_t wait = 0;
  for (const ThrottleKey* k : keys) {
    if (k->key.empty()) continue;
    wait = std::max(wait, ctx.store.record_throttle_failure(k->key, now, *k->rule).locked_until - now);
    k->has_failures = true;
  }
  return wait;
}

void throttle_clear(Context& ctx, const ThrottleKey& key) {
  if (!key.key.empty() && key.has_failures) ctx.store.clear_throttle(key.key);
}

std::string too_many_attempts_message(std::int64_t seconds) {
  return "Too many attempts, try again in " + std::to_string(seconds) + " seconds.";
}

}  // namespace latchkey::oauth
