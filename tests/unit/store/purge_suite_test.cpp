// purge_expired (issue 6 §4: expired rows are removed in bounded batches; tables do not grow
// without bound), run against every backend.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

class PurgeStoreTest : public StoreTest {};

constexpr Timestamp kNow = 1'800'000'000;
constexpr Timestamp kLongAgo = kNow - kPurgeGracePeriod - 1;  // past the grace period
constexpr Timestamp kRecently = kNow - 60;                    // within it

Session session(const std::string& id, Timestamp expires_at) {
  return {.id_hash = id, .user_id = "u", .auth_time = kNow - 7200, .created_at = kNow - 7200, .expires_at = expires_at};
}

Interaction interaction(const std::string& id, Timestamp expires_at) {
  return {.id_hash = id, .browser_hash = "b", .request_json = "{}", .created_at = kNow - 7200,
          .expires_at = expires_at};
}

AuthorizationCode code(const std::string& hash, Timestamp expires_at) {
  AuthorizationCode c = sample_code(hash, "grant-of-" + hash);
  c.created_at = expires_at - 600;
  c.expires_at = expires_at;
  return c;
}

DeviceCode device_code(const std::string& hash, Timestamp expires_at) {
  DeviceCode d = sample_device_code(hash, "uc-" + hash, expires_at - 600);
  return d;
}

Grant grant(const std::string& id, Timestamp expires_at, Timestamp revoked_at) {
  Grant g = sample_grant(id);
  g.expires_at = expires_at;
  g.revoked_at = revoked_at;
  return g;
}

RefreshToken refresh(const std::string& hash, const std::string& grant_id, Timestamp expires_at) {
  return {.token_hash = hash, .grant_id = grant_id, .created_at = kNow - 7200, .expires_at = expires_at, .used_at = 0};
}

// Access-token rows are revocations (tokens are stateless until revoked): they must stay while the
// token could still pass and go once it expired.
AccessTokenRecord revoked_access(const std::string& jti, const std::string& grant_id, Timestamp expires_at) {
  return {.jti = jti, .grant_id = grant_id, .client_id = "c", .expires_at = expires_at, .revoked_at = kNow - 5};
}

constexpr ThrottleRule kRule{.max_failures = 3, .window = 100, .base_lock = 2, .max_lock = 16};

TEST_P(PurgeStoreTest, ExpiredRowsGoAndLiveOnesStay) {
  store().put_session(session("s-expired", kNow));  // expired at expires_at
  store().put_session(session("s-live", kNow + 1));
  store().put_interaction(interaction("i-expired", kNow - 1));
  store().put_interaction(interaction("i-live", kNow + 600));
  store().put_code(code("c-long-expired", kLongAgo));
  store().put_code(code("c-recently-expired", kRecently));
  store().put_code(code("c-live", kNow + 60));
  store().put_device_code(device_code("d-long-expired", kLongAgo));
  store().put_device_code(device_code("d-recently-expired", kRecently));
  store().put_device_code(device_code("d-live", kNow + 60));

  // Grants: revoked long ago (goes with its tokens), revoked recently, expired long ago, live.
  store().put_grant(grant("g-revoked-long-ago", kNow + 86400, kLongAgo));
  store().put_refresh_token(refresh("rt-of-revoked", "g-revoked-long-ago", kNow + 86400));
  store().revoke_access_token(revoked_access("at-of-revoked", "g-revoked-long-ago", kNow + 300));
  store().put_grant(grant("g-revoked-recently", kNow + 86400, kRecently));
  store().put_refresh_token(refresh("rt-of-recently-revoked", "g-revoked-recently", kNow + 86400));
  store().put_grant(grant("g-expired-long-ago", kLongAgo, 0));
  store().put_grant(grant("g-live", kNow + 86400, 0));
  store().put_grant(grant("g-no-expiry", 0, 0));
  store().put_refresh_token(refresh("rt-live", "g-live", kNow + 3600));
  store().put_refresh_token(refresh("rt-long-expired", "g-live", kLongAgo));
  store().put_refresh_token(refresh("rt-recently-expired", "g-live", kRecently));
  store().revoke_access_token(revoked_access("at-live", "g-live", kNow + 300));
  store().revoke_access_token(revoked_access("at-expired", "g-live", kNow));
  store().revoke_access_token(revoked_access("at-client-expired", "", kNow - 1));
  store().revoke_access_token(revoked_access("at-client-live", "", kNow + 300));

  // Throttles: idle for over the grace period, recent, idle but still locked.
  store().record_throttle_failure("t-idle", kLongAgo, kRule);
  store().record_throttle_failure("t-recent", kRecently, kRule);
  store().put_client(sample_client("client-stays"));
  store().put_consent({.user_id = "u", .client_id = "client-stays", .scopes = {"openid"}, .audiences = {},
                       .granted_at = kLongAgo});

  std::size_t purged = store().purge_expired(kNow, 1000);

  EXPECT_EQ(purged, 2u /*sessions, interactions*/ + 1 + 1 /*codes, device codes*/ + 2 /*grants*/ +
                        2 /*refresh*/ + 3 /*access*/ + 1 /*throttle*/);
  EXPECT_FALSE(same_data().find_session("s-expired", kNow - 10));
  EXPECT_TRUE(same_data().find_session("s-live", kNow));
  EXPECT_FALSE(same_data().find_interaction("i-expired", kNow - 10));
  EXPECT_TRUE(same_data().find_interaction("i-live", kNow));
  EXPECT_EQ(same_data().consume_code("c-long-expired", kNow).outcome, ConsumeOutcome::not_found);
  EXPECT_NE(same_data().consume_code("c-recently-expired", kNow).outcome, ConsumeOutcome::not_found);
  EXPECT_NE(same_data().consume_code("c-live", kNow).outcome, ConsumeOutcome::not_found);
  EXPECT_FALSE(same_data().find_device_code("d-long-expired"));
  EXPECT_TRUE(same_data().find_device_code("d-recently-expired"));
  EXPECT_TRUE(same_data().find_device_code("d-live"));

  EXPECT_FALSE(same_data().find_grant("g-revoked-long-ago"));
  EXPECT_FALSE(same_data().find_refresh_token("rt-of-revoked"));
  EXPECT_FALSE(same_data().find_access_token("at-of-revoked"));
  EXPECT_TRUE(same_data().find_grant("g-revoked-recently"));
  EXPECT_TRUE(same_data().find_refresh_token("rt-of-recently-revoked"));
  EXPECT_FALSE(same_data().find_grant("g-expired-long-ago"));
  EXPECT_TRUE(same_data().find_grant("g-live"));
  EXPECT_TRUE(same_data().find_grant("g-no-expiry"));
  EXPECT_TRUE(same_data().find_refresh_token("rt-live"));
  EXPECT_FALSE(same_data().find_refresh_token("rt-long-expired"));
  EXPECT_TRUE(same_data().find_refresh_token("rt-recently-expired"));
  EXPECT_TRUE(same_data().find_access_token("at-live"));
  EXPECT_FALSE(same_data().find_access_token("at-expired"));
  EXPECT_FALSE(same_data().find_access_token("at-client-expired"));
  EXPECT_TRUE(same_data().find_access_token("at-client-live"));

  EXPECT_EQ(same_data().find_throttle("t-idle").failures, 0);
  EXPECT_EQ(same_data().find_throttle("t-recent").failures, 1);
  EXPECT_TRUE(same_data().find_client("client-stays"));
  EXPECT_TRUE(same_data().find_consent("u", "client-stays"));

  EXPECT_EQ(store().purge_expired(kNow, 1000), 0u);  // nothing left to do
}

TEST_P(PurgeStoreTest, ALockedThrottleKeyStaysUntilTheLockEnds) {
  ThrottleRule long_lock{.max_failures = 1, .window = 100, .base_lock = 2 * kPurgeGracePeriod,
                         .max_lock = 2 * kPurgeGracePeriod};
  ThrottleState s = store().record_throttle_failure("t-locked", kLongAgo, long_lock);
  ASSERT_GT(s.locked_until, kNow);
  EXPECT_EQ(store().purge_expired(kNow, 100), 0u);
  EXPECT_EQ(store().find_throttle("t-locked").failures, 1);
  EXPECT_EQ(store().purge_expired(s.locked_until, 100), 1u);
  EXPECT_EQ(store().find_throttle("t-locked").failures, 0);
}

TEST_P(PurgeStoreTest, AReuseShortlyAfterExpiryIsStillDetected) {
  store().put_code(code("c-1", kNow - 600));
  ASSERT_EQ(store().consume_code("c-1", kNow - 900).outcome, ConsumeOutcome::consumed);
  store().put_refresh_token(refresh("rt-1", "g", kNow - 10));
  ASSERT_EQ(store().rotate_refresh_token("rt-1", refresh("rt-2", "g", kNow + 3600), kNow - 20).outcome,
            RotateOutcome::rotated);
  store().purge_expired(kNow, 100);
  ConsumeResult reuse = store().consume_code("c-1", kNow);
  EXPECT_EQ(reuse.outcome, ConsumeOutcome::already_used);
  ASSERT_TRUE(reuse.code);
  EXPECT_EQ(reuse.code->grant_id, "grant-of-c-1");
  EXPECT_EQ(store().rotate_refresh_token("rt-1", refresh("rt-3", "g", kNow + 3600), kNow).outcome,
            RotateOutcome::already_used);
}

TEST_P(PurgeStoreTest, EachCallDeletesAtMostTheBatchLimitPerTable) {
  for (int i = 0; i < 7; ++i) {
    store().put_session(session("s-" + std::to_string(i), kNow - i));
    store().put_code(code("c-" + std::to_string(i), kLongAgo - i));
  }
  store().put_session(session("s-live", kNow + 100));
  EXPECT_EQ(store().purge_expired(kNow, 0), 0u);
  EXPECT_EQ(store().purge_expired(kNow, 3), 6u);  // 3 sessions + 3 codes
  EXPECT_EQ(store().purge_expired(kNow, 3), 6u);
  EXPECT_EQ(store().purge_expired(kNow, 3), 2u);
  EXPECT_EQ(store().purge_expired(kNow, 3), 0u);
  EXPECT_TRUE(store().find_session("s-live", kNow));
}

TEST_P(PurgeStoreTest, AGrantGoesOnlyAfterAllItsTokens) {
  store().put_grant(grant("g", kNow + 86400, kLongAgo));
  for (int i = 0; i < 5; ++i) store().put_refresh_token(refresh("rt-" + std::to_string(i), "g", kNow + 3600));
  store().revoke_access_token(revoked_access("at", "g", kNow + 300));
  int calls = 0;
  while (store().find_grant("g")) {
    ASSERT_LT(++calls, 10);
    int tokens_left = 0;
    for (int i = 0; i < 5; ++i) tokens_left += store().find_refresh_token("rt-" + std::to_string(i)) ? 1 : 0;
    std::size_t purged = store().purge_expired(kNow, 2);
    ASSERT_GT(purged, 0u);
    if (tokens_left > 2) {
      EXPECT_TRUE(store().find_grant("g")) << "the grant went before its tokens";
    }
  }
  EXPECT_EQ(calls, 3);  // 2 + 2 + (1 token, then the grant in the same call)
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(store().find_refresh_token("rt-" + std::to_string(i)));
  EXPECT_FALSE(store().find_access_token("at"));
}

TEST_P(PurgeStoreTest, PurgesFromSeveralHandlesAtOnceRemoveEverythingOnce) {
  constexpr int kSessions = 60;
  for (int i = 0; i < kSessions; ++i) store().put_session(session("s-" + std::to_string(i), kNow - 1));
  auto stores = handles(4);
  std::atomic<std::size_t> total{0};
  std::vector<std::thread> threads;
  for (Store* s : stores) {
    threads.emplace_back([&, s] {
      for (int round = 0; round < 40; ++round) {
        total += s->purge_expired(kNow, 5);
        std::this_thread::yield();
      }
    });
  }
  for (auto& t : threads) t.join();
  // An instance that finds another purging gets 0 and tries again later; all rows go exactly once.
  while (std::size_t more = store().purge_expired(kNow, 5)) total += more;
  EXPECT_EQ(total.load(), static_cast<std::size_t>(kSessions));
}

INSTANTIATE_TEST_SUITE_P(Backends, PurgeStoreTest, all_backends(), backend_name);

}  // namespace
}  // namespace latchkey::store::testing
