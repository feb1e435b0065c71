#include "oauth/throttle.h"

#include <algorithm>
#include <vector>

#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::oauth {

ThrottleKey throttle_key(std::string_view kind, std::string_view value, const store::ThrottleRule& rule) {
  if (value.empty()) return {};
  return ThrottleKey{std::string(kind) + ":" + util::base64url_encode(util::sha256(value)), &rule};
}

std::int64_t throttle_wait(Context& ctx, std::initializer_list<const ThrottleKey*> keys) {
  const auto now = ctx.clock.now();
  std::vector<const ThrottleKey*> present;
  for (const ThrottleKey* k : keys)
    if (!k->key.empty()) present.push_back(k);
  std::vector<store::ThrottleState> states;
  if (present.size() == 2) {
    auto both = ctx.store.find_throttles(present[0]->key, present[1]->key);
    states.assign(both.begin(), both.end());
  } else {
    for (const ThrottleKey* k : present) states.push_back(ctx.store.find_throttle(k->key));
  }
  std::int64_t wait = 0;
  for (std::size_t i = 0; i < present.size(); ++i) {
    present[i]->has_failures = states[i].failures > 0;
    wait = std::max(wait, states[i].locked_until - now);
  }
  return wait;
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
