// Brute-force throttling state (issue 7 §4), run against every backend: the back-off rule,
// forgetting after a quiet window, clearing, and no lost failures under concurrency.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

class ThrottleStoreTest : public StoreTest {};

constexpr ThrottleRule kRule{.max_failures = 3, .window = 100, .base_lock = 2, .max_lock = 16};

TEST_P(ThrottleStoreTest, UnknownKeyHasNoFailuresAndNoLock) {
  auto s = store().find_throttle("login-user:nobody");
  EXPECT_EQ(s.failures, 0);
  EXPECT_EQ(s.locked_until, 0);
}

TEST_P(ThrottleStoreTest, TwoKeysAreReadAtOnceEachWithItsOwnState) {
  store().record_throttle_failure("client:a", 1000, kRule);
  store().record_throttle_failure("client:a", 1001, kRule);
  store().record_throttle_failure("client:a", 1002, kRule);  // locked
  store().record_throttle_failure("client-addr:192.0.2.1", 1003, kRule);
  auto both = same_data().find_throttles("client:a", "client-addr:192.0.2.1");
  EXPECT_EQ(both[0].failures, 3);
  EXPECT_EQ(both[0].locked_until, 1004);
  EXPECT_EQ(both[1].failures, 1);
  EXPECT_EQ(both[1].last_failure_at, 1003);
  EXPECT_EQ(both[1].locked_until, 0);
  // Order follows the arguments; an unknown key reads as zero; a key asked twice gets its state twice.
  auto swapped = store().find_throttles("client:nobody", "client:a");
  EXPECT_EQ(swapped[0].failures, 0);
  EXPECT_EQ(swapped[1].failures, 3);
  auto twice = store().find_throttles("client:a", "client:a");
  EXPECT_EQ(twice[0].failures, 3);
  EXPECT_EQ(twice[1].failures, 3);
}

TEST_P(ThrottleStoreTest, LocksAfterMaxFailuresAndDoublesUpToTheCap) {
  const std::string key = "login-user:alice";
  EXPECT_EQ(store().record_throttle_failure(key, 1000, kRule).locked_until, 0);
  EXPECT_EQ(store().record_throttle_failure(key, 1001, kRule).locked_until, 0);
  EXPECT_EQ(store().record_throttle_failure(key, 1002, kRule).locked_until, 1002 + 2);
  EXPECT_EQ(store().record_throttle_failure(key, 1010, kRule).locked_until, 1010 + 4);
  EXPECT_EQ(store().record_throttle_failure(key, 1020, kRule).locked_until, 1020 + 8);
  EXPECT_EQ(store().record_throttle_failure(key, 1030, kRule).locked_until, 1030 + 16);
  EXPECT_EQ(store().record_throttle_failure(key, 1050, kRule).locked_until, 1050 + 16);  // capped
  auto s = same_data().find_throttle(key);
  EXPECT_EQ(s.failures, 7);
  EXPECT_EQ(s.last_failure_at, 1050);
  EXPECT_EQ(s.locked_until, 1066);
}

TEST_P(ThrottleStoreTest, AQuietWindowForgetsEarlierFailures) {
  const std::string key = "login-addr:192.0.2.1";
  store().record_throttle_failure(key, 1000, kRule);
  store().record_throttle_failure(key, 1050, kRule);
  auto s = store().record_throttle_failure(key, 1150, kRule);  // 100 s after the last one
  EXPECT_EQ(s.failures, 1);
  EXPECT_EQ(s.locked_until, 0);
}

TEST_P(ThrottleStoreTest, KeysAreIndependentAndClearForgetsOne) {
  for (int i = 0; i < 3; ++i) store().record_throttle_failure("a", 1000 + i, kRule);
  store().record_throttle_failure("b", 1000, kRule);
  EXPECT_GT(store().find_throttle("a").locked_until, 0);
  EXPECT_EQ(store().find_throttle("b").failures, 1);
  same_data().clear_throttle("a");
  EXPECT_EQ(store().find_throttle("a").failures, 0);
  EXPECT_EQ(store().find_throttle("a").locked_until, 0);
  EXPECT_EQ(store().find_throttle("b").failures, 1);
  store().clear_throttle("never-seen");  // fine
}

TEST_P(ThrottleStoreTest, ConcurrentFailuresFromSeveralHandlesAreAllCounted) {
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  auto stores = handles(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) stores[t]->record_throttle_failure("shared", 1000, kRule);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(store().find_throttle("shared").failures, kThreads * kEach);
}

INSTANTIATE_TEST_SUITE_P(Backends, ThrottleStoreTest, all_backends(), backend_name);

}  // namespace
}  // namespace latchkey::store::testing
