#pragma once
// Brute-force throttling of logins, client authentication and device user-code entry (issue 7 §4).
// The counting lives in the store (ThrottleStore), so every instance sharing it agrees. Keys are
// hashed: usernames and client ids that an attacker types never land in the store in clear, and
// every key has the same length.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "oauth/context.h"
#include "oauth/message.h"

namespace latchkey::oauth {

struct ThrottleKey {
  std::string key;  // empty: nothing to count (e.g. no client address known)
  const store::ThrottleRule* rule = nullptr;
  // Set by throttle_wait when the store holds failures for the key, so that throttle_clear
  // writes only then: a successful request must not cost a database write.
  mutable bool has_failures = false;
};

// `kind` names what is counted ("login-user", "login-addr", "client", ...); `value` the thing.
// An empty value gives an empty key.
ThrottleKey throttle_key(std::string_view kind, std::string_view value, const store::ThrottleRule& rule);

// Seconds until both keys (a request is throttled per account or client, and per address) are
// unlocked at the clock's now; 0 when neither is locked.
std::int64_t throttle_wait(Context& ctx, const ThrottleKey& first, const ThrottleKey& second);

// Counts one failure on every key; returns the seconds until they are all unlocked (0 = none locked).
std::int64_t throttle_failure(Context& ctx, std::initializer_list<const ThrottleKey*> keys);

// Forgets the key's failures; a no-op (no store access) unless throttle_wait saw some.
void throttle_clear(Context& ctx, const ThrottleKey& key);

// "Too many attempts, try again in N seconds." (one message whatever was counted).
std::string too_many_attempts_message(std::int64_t seconds);

}  // namespace latchkey::oauth
