// The storage contract of store.h, run against every backend (memory, SQLite, PostgreSQL).
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "store/fields.h"
#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

constexpr Timestamp kNow = 1'700'000'100;

// Runs `body(i)` on `count` threads started together, and joins them.
template <typename Body>
void run_concurrently(int count, Body body) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      body(i);
    });
  }
  go.store(true);
  for (auto& t : threads) t.join();
}

// ---- clients ----

TEST_P(StoreTest, ClientRoundTripsEveryField) {
  Client c = sample_client("client-1");
  // List elements that a space- or comma-joined encoding would get wrong.
  c.redirect_uris = {"https://a.example/cb", "", "with \"quotes\" and \\ backslash", "line\nbreak\ttab",
                     "ünïcødé ✓ 😀", "a,b c"};
  c.audiences = {};
  store().put_client(c);
  auto found = store().find_client("client-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(c));
}

TEST_P(StoreTest, PublicClientWithoutSecretRoundTrips) {
  Client c = sample_client("cli");
  c.is_public = true;
  c.secret_hash.clear();
  store().put_client(c);
  auto found = store().find_client("cli");
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->is_public);
  EXPECT_EQ(found->secret_hash, "");
}

TEST_P(StoreTest, UnknownClientIsNotFound) { EXPECT_FALSE(store().find_client("nobody")); }

TEST_P(StoreTest, DuplicateClientIdThrowsAndKeepsTheFirst) {
  store().put_client(sample_client("dup"));
  Client other = sample_client("dup");
  other.name = "Impostor";
  EXPECT_THROW(store().put_client(other), StoreError);
  EXPECT_EQ(store().find_client("dup")->name, "Client dup");
}

TEST_P(StoreTest, ListClientsIsOrderedById) {
  EXPECT_TRUE(store().list_clients().empty());
  for (const char* id : {"b", "c", "a"}) store().put_client(sample_client(id));
  auto clients = store().list_clients();
  ASSERT_EQ(clients.size(), 3u);
  EXPECT_EQ(clients[0].id, "a");
  EXPECT_EQ(clients[1].id, "b");
  EXPECT_EQ(clients[2].id, "c");
  EXPECT_EQ(fields(clients[0]), fields(sample_client("a")));
}

TEST_P(StoreTest, DeleteClient) {
  store().put_client(sample_client("gone"));
  store().put_client(sample_client("kept"));
  EXPECT_TRUE(store().delete_client("gone"));
  EXPECT_FALSE(store().find_client("gone"));
  EXPECT_TRUE(store().find_client("kept"));
  EXPECT_FALSE(store().delete_client("gone"));
  // The id is free again.
  EXPECT_NO_THROW(store().put_client(sample_client("gone")));
}

// ---- users ----

TEST_P(StoreTest, UserRoundTripsAndIsFoundByUsername) {
  User u = sample_user("u-1", "alice");
  store().put_user(u);
  auto by_id = store().find_user("u-1");
  ASSERT_TRUE(by_id);
  EXPECT_EQ(fields(*by_id), fields(u));
  auto by_name = store().find_user_by_username("alice");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(fields(*by_name), fields(u));
  EXPECT_FALSE(store().find_user_by_username("Alice"));  // exact match, case included
  EXPECT_FALSE(store().find_user_by_username("bob"));
  EXPECT_FALSE(store().find_user("u-2"));
}

TEST_P(StoreTest, DuplicateUserIdThrows) {
  store().put_user(sample_user("u-1", "alice"));
  EXPECT_THROW(store().put_user(sample_user("u-1", "bob")), StoreError);
  EXPECT_FALSE(store().find_user_by_username("bob"));
}

TEST_P(StoreTest, DuplicateUsernameThrows) {
  store().put_user(sample_user("u-1", "alice"));
  EXPECT_THROW(store().put_user(sample_user("u-2", "alice")), StoreError);
  EXPECT_FALSE(store().find_user("u-2"));
  EXPECT_EQ(store().find_user_by_username("alice")->id, "u-1");
}

TEST_P(StoreTest, ListUsersIsOrderedById) {
  store().put_user(sample_user("u-2", "bob"));
  store().put_user(sample_user("u-1", "carol"));
  auto users = store().list_users();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].id, "u-1");
  EXPECT_EQ(users[1].id, "u-2");
}

TEST_P(StoreTest, DeleteUserEndsOnlyThatUsersSessions) {
  store().put_user(sample_user("u-1", "alice"));
  store().put_user(sample_user("u-2", "bob"));
  store().put_session({.id_hash = "s-alice", .user_id = "u-1", .auth_time = kNow, .created_at = kNow,
                       .expires_at = kNow + 3600});
  store().put_session({.id_hash = "s-bob", .user_id = "u-2", .auth_time = kNow, .created_at = kNow,
                       .expires_at = kNow + 3600});
  EXPECT_TRUE(store().delete_user("u-1"));
  EXPECT_FALSE(store().find_user("u-1"));
  EXPECT_FALSE(store().find_user_by_username("alice"));
  EXPECT_FALSE(store().find_session("s-alice", kNow));
  EXPECT_TRUE(store().find_session("s-bob", kNow));
  EXPECT_FALSE(store().delete_user("u-1"));
  // The username is free again.
  EXPECT_NO_THROW(store().put_user(sample_user("u-3", "alice")));
}

// ---- sessions ----

TEST_P(StoreTest, SessionIsFoundUntilItExpires) {
  Session s{.id_hash = "s-1", .user_id = "u-1", .auth_time = kNow - 5, .created_at = kNow, .expires_at = kNow + 60};
  store().put_session(s);
  auto found = store().find_session("s-1", kNow);
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(s));
  EXPECT_TRUE(store().find_session("s-1", kNow + 59));
  EXPECT_FALSE(store().find_session("s-1", kNow + 60));  // expired at expires_at
  EXPECT_FALSE(store().find_session("s-1", kNow + 3600));
  EXPECT_FALSE(store().find_session("s-unknown", kNow));
}

TEST_P(StoreTest, DeleteSession) {
  store().put_session({.id_hash = "s-1", .user_id = "u-1", .auth_time = kNow, .created_at = kNow,
                       .expires_at = kNow + 60});
  store().delete_session("s-1");
  EXPECT_FALSE(store().find_session("s-1", kNow));
  EXPECT_NO_THROW(store().delete_session("s-1"));  // deleting what is gone is fine
}

TEST_P(StoreTest, DuplicateSessionThrows) {
  Session s{.id_hash = "s-1", .user_id = "u-1", .auth_time = kNow, .created_at = kNow, .expires_at = kNow + 60};
  store().put_session(s);
  s.user_id = "u-2";
  EXPECT_THROW(store().put_session(s), StoreError);
  EXPECT_EQ(store().find_session("s-1", kNow)->user_id, "u-1");
}

// ---- consents ----

TEST_P(StoreTest, ConsentIsStoredPerUserAndClientAndReplaced) {
  EXPECT_FALSE(store().find_consent("u-1", "c-1"));
  Consent first{.user_id = "u-1", .client_id = "c-1", .scopes = {"openid"}, .audiences = {}, .granted_at = kNow};
  store().put_consent(first);
  auto found = store().find_consent("u-1", "c-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(first));

  Consent wider{.user_id = "u-1",
                .client_id = "c-1",
                .scopes = {"openid", "email"},
                .audiences = {"https://api.example"},
                .granted_at = kNow + 10};
  store().put_consent(wider);
  found = store().find_consent("u-1", "c-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(wider));

  EXPECT_FALSE(store().find_consent("u-1", "c-2"));
  EXPECT_FALSE(store().find_consent("u-2", "c-1"));
}

// ---- interactions ----

TEST_P(StoreTest, InteractionIsFoundUntilItExpires) {
  Interaction i{.id_hash = "i-1",
                .browser_hash = "b-1",
                .request_json = R"({"client_id":"c-1","scope":"openid","state":"ü\"x"})",
                .created_at = kNow,
                .expires_at = kNow + 600};
  store().put_interaction(i);
  auto found = store().find_interaction("i-1", kNow);
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(i));
  EXPECT_TRUE(store().find_interaction("i-1", kNow + 599));
  EXPECT_FALSE(store().find_interaction("i-1", kNow + 600));
  EXPECT_FALSE(store().find_interaction("i-2", kNow));
}

TEST_P(StoreTest, DeleteInteraction) {
  store().put_interaction({.id_hash = "i-1", .browser_hash = "b", .request_json = "{}", .created_at = kNow,
                           .expires_at = kNow + 600});
  store().delete_interaction("i-1");
  EXPECT_FALSE(store().find_interaction("i-1", kNow));
  EXPECT_NO_THROW(store().delete_interaction("i-1"));
}

TEST_P(StoreTest, DuplicateInteractionThrows) {
  Interaction i{.id_hash = "i-1", .browser_hash = "b", .request_json = "{}", .created_at = kNow,
                .expires_at = kNow + 600};
  store().put_interaction(i);
  EXPECT_THROW(store().put_interaction(i), StoreError);
}

// ---- authorization codes ----

TEST_P(StoreTest, CodeIsConsumedOnceThenReportedAsUsed) {
  AuthorizationCode code = sample_code("code-1", "grant-1");
  store().put_code(code);

  ConsumeResult first = store().consume_code("code-1", kNow);
  EXPECT_EQ(first.outcome, ConsumeOutcome::consumed);
  ASSERT_TRUE(first.code);
  EXPECT_EQ(fields(*first.code), fields(code));

  // A reuse still returns the code, so the caller can revoke its grant (RFC 6749 §4.1.2).
  ConsumeResult second = store().consume_code("code-1", kNow + 1);
  EXPECT_EQ(second.outcome, ConsumeOutcome::already_used);
  ASSERT_TRUE(second.code);
  EXPECT_EQ(second.code->grant_id, "grant-1");
  EXPECT_EQ(fields(*second.code), fields(code));

  EXPECT_EQ(store().consume_code("code-1", kNow + 2).outcome, ConsumeOutcome::already_used);
}

TEST_P(StoreTest, UnknownCodeIsNotFound) {
  ConsumeResult result = store().consume_code("never-issued", kNow);
  EXPECT_EQ(result.outcome, ConsumeOutcome::not_found);
  EXPECT_FALSE(result.code);
}

TEST_P(StoreTest, ExpiredUnusedCodeIsStillConsumed) {
  // Expiry is the caller's rule (store.h); the store only guards single use.
  AuthorizationCode code = sample_code("old", "g");
  code.expires_at = kNow - 1;
  store().put_code(code);
  EXPECT_EQ(store().consume_code("old", kNow).outcome, ConsumeOutcome::consumed);
}

TEST_P(StoreTest, PuttingAUsedCodeAgainThrowsAndDoesNotReviveIt) {
  store().put_code(sample_code("code-1", "g"));
  ASSERT_EQ(store().consume_code("code-1", kNow).outcome, ConsumeOutcome::consumed);
  EXPECT_THROW(store().put_code(sample_code("code-1", "g")), StoreError);
  EXPECT_EQ(store().consume_code("code-1", kNow).outcome, ConsumeOutcome::already_used);
}

TEST_P(StoreTest, SixteenThreadsConsumingOneCodeExactlyOneWins) {
  store().put_code(sample_code("race", "grant-race"));
  std::atomic<int> consumed{0};
  std::atomic<int> already_used{0};
  std::atomic<int> other{0};
  run_concurrently(16, [&](int) {
    ConsumeResult r = store().consume_code("race", kNow);
    if (r.outcome == ConsumeOutcome::consumed) ++consumed;
    else if (r.outcome == ConsumeOutcome::already_used && r.code && r.code->grant_id == "grant-race") ++already_used;
    else ++other;
  });
  EXPECT_EQ(consumed.load(), 1);
  EXPECT_EQ(already_used.load(), 15);
  EXPECT_EQ(other.load(), 0);
}

TEST_P(StoreTest, ConsumingThroughTwoStoreObjectsExactlyOneWins) {
  // For SQLite: two SqliteStore objects on one file, i.e. separate connections (as two processes).
  Store& other_handle = same_data();
  for (int round = 0; round < 5; ++round) {
    std::string hash = "race-" + std::to_string(round);
    store().put_code(sample_code(hash, "g"));
    std::atomic<int> consumed{0};
    std::atomic<int> already_used{0};
    run_concurrently(16, [&](int i) {
      Store& s = (i % 2 == 0) ? store() : other_handle;
      ConsumeResult r = s.consume_code(hash, kNow);
      if (r.outcome == ConsumeOutcome::consumed) ++consumed;
      if (r.outcome == ConsumeOutcome::already_used) ++already_used;
    });
    EXPECT_EQ(consumed.load(), 1) << "round " << round;
    EXPECT_EQ(already_used.load(), 15) << "round " << round;
  }
}

// ---- grants and tokens ----

TEST_P(StoreTest, GrantRoundTrips) {
  Grant g = sample_grant("grant-1");
  store().put_grant(g);
  auto found = store().find_grant("grant-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(g));
  EXPECT_FALSE(store().find_grant("grant-2"));
  EXPECT_THROW(store().put_grant(g), StoreError);
}

TEST_P(StoreTest, RefreshTokenRoundTrips) {
  RefreshToken t{.token_hash = "rt-1", .grant_id = "grant-1", .created_at = kNow, .expires_at = kNow + 86400,
                 .used_at = 0};
  store().put_refresh_token(t);
  auto found = store().find_refresh_token("rt-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(t));
  EXPECT_FALSE(store().find_refresh_token("rt-2"));
  EXPECT_THROW(store().put_refresh_token(t), StoreError);
}

TEST_P(StoreTest, RevokedAccessTokenRoundTrips) {
  // Access tokens are stateless: the only rows are revocations (RFC 7009).
  AccessTokenRecord user_token{.jti = "jti-1", .grant_id = "grant-1", .client_id = "c-1", .expires_at = kNow + 300,
                               .revoked_at = kNow};
  AccessTokenRecord client_token{.jti = "jti-2", .grant_id = "", .client_id = "c-2", .expires_at = kNow + 200,
                                 .revoked_at = kNow + 1};
  EXPECT_FALSE(store().find_access_token("jti-1"));
  store().revoke_access_token(user_token);
  store().revoke_access_token(client_token);
  ASSERT_TRUE(store().find_access_token("jti-1"));
  EXPECT_EQ(fields(*store().find_access_token("jti-1")), fields(user_token));
  EXPECT_EQ(fields(*store().find_access_token("jti-2")), fields(client_token));
  EXPECT_FALSE(store().find_access_token("jti-3"));
}

TEST_P(StoreTest, RevokeGrantCascadesToItsTokensOnly) {
  store().put_grant(sample_grant("grant-1"));
  store().put_grant(sample_grant("grant-2"));
  store().put_refresh_token({.token_hash = "rt-live", .grant_id = "grant-1", .created_at = kNow,
                             .expires_at = kNow + 86400, .used_at = 0});
  store().put_refresh_token({.token_hash = "rt-rotated", .grant_id = "grant-1", .created_at = kNow - 100,
                             .expires_at = kNow + 86400, .used_at = kNow - 50});
  store().put_refresh_token({.token_hash = "rt-other", .grant_id = "grant-2", .created_at = kNow,
                             .expires_at = kNow + 86400, .used_at = 0});
  // A revocation recorded earlier keeps its time (access tokens of a revoked grant are inactive
  // through the grant; rows written before access tokens became stateless: sqlite_store_test).
  store().revoke_access_token({.jti = "at-1", .grant_id = "grant-1", .client_id = "client-1",
                               .expires_at = kNow + 300, .revoked_at = kNow - 10});

  EXPECT_TRUE(store().revoke_grant("grant-1", kNow));

  EXPECT_EQ(store().find_grant("grant-1")->revoked_at, kNow);
  EXPECT_EQ(store().find_refresh_token("rt-live")->used_at, kNow);
  EXPECT_EQ(store().find_refresh_token("rt-rotated")->used_at, kNow - 50);  // keeps its rotation time
  EXPECT_EQ(store().find_access_token("at-1")->revoked_at, kNow - 10);

  EXPECT_EQ(store().find_grant("grant-2")->revoked_at, 0);
  EXPECT_EQ(store().find_refresh_token("rt-other")->used_at, 0);
}

TEST_P(StoreTest, RevokeGrantIsIdempotentAndKeepsTheFirstTime) {
  store().put_grant(sample_grant("grant-1"));
  EXPECT_TRUE(store().revoke_grant("grant-1", kNow));
  EXPECT_TRUE(store().revoke_grant("grant-1", kNow + 100));
  EXPECT_EQ(store().find_grant("grant-1")->revoked_at, kNow);
}

TEST_P(StoreTest, RevokeUnknownGrantReturnsFalse) {
  store().revoke_access_token({.jti = "at-cc", .grant_id = "", .client_id = "c", .expires_at = kNow + 300,
                               .revoked_at = kNow - 10});
  EXPECT_FALSE(store().revoke_grant("no-such-grant", kNow));
  EXPECT_FALSE(store().revoke_grant("", kNow));
  EXPECT_EQ(store().find_access_token("at-cc")->revoked_at, kNow - 10);
}

TEST_P(StoreTest, CodeReuseFlowRevokesWhatTheFirstUseIssued) {
  // The sequence the token endpoint follows on a reused code (RFC 6749 §4.1.2).
  store().put_code(sample_code("code-1", "grant-1"));
  ASSERT_EQ(store().consume_code("code-1", kNow).outcome, ConsumeOutcome::consumed);
  store().put_grant(sample_grant("grant-1"));
  store().put_refresh_token({.token_hash = "rt-1", .grant_id = "grant-1", .created_at = kNow,
                             .expires_at = kNow + 86400, .used_at = 0});
  ConsumeResult reuse = store().consume_code("code-1", kNow + 5);
  ASSERT_EQ(reuse.outcome, ConsumeOutcome::already_used);
  EXPECT_TRUE(store().revoke_grant(reuse.code->grant_id, kNow + 5));
  EXPECT_EQ(store().find_refresh_token("rt-1")->used_at, kNow + 5);
  EXPECT_EQ(store().find_grant("grant-1")->revoked_at, kNow + 5);
}

// ---- keys and secrets ----

TEST_P(StoreTest, FirstKeyIsInsertedAndASecondActiveOneRefused) {
  EXPECT_TRUE(store().list_keys().empty());
  SigningKey first = sample_key("k1", kNow);
  EXPECT_TRUE(store().insert_key_if_none_active(first));
  EXPECT_FALSE(store().insert_key_if_none_active(sample_key("k2", kNow + 1)));
  auto keys = store().list_keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(fields(keys[0]), fields(first));
}

TEST_P(StoreTest, RetiredKeysDoNotBlockANewActiveKey) {
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("old", kNow - 100, /*retired_at=*/kNow - 10)));
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("new", kNow)));
  EXPECT_FALSE(store().insert_key_if_none_active(sample_key("newer", kNow + 1)));
}

TEST_P(StoreTest, ListKeysIsNewestFirst) {
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("middle", kNow - 50, kNow - 1)));
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("oldest", kNow - 100, kNow - 2)));
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("tie-first", kNow - 50, kNow - 3)));
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("newest", kNow)));
  auto keys = store().list_keys();
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[0].kid, "newest");
  EXPECT_EQ(keys[1].kid, "tie-first");  // same created_at as "middle": the later insertion first
  EXPECT_EQ(keys[2].kid, "middle");
  EXPECT_EQ(keys[3].kid, "oldest");
}

TEST_P(StoreTest, DuplicateKidThrows) {
  EXPECT_TRUE(store().insert_key_if_none_active(sample_key("k1", kNow, kNow)));
  EXPECT_THROW(store().insert_key_if_none_active(sample_key("k1", kNow)), StoreError);
}

TEST_P(StoreTest, ConcurrentFirstKeyInsertsCreateExactlyOneKey) {
  Store& other_handle = same_data();
  std::atomic<int> inserted{0};
  run_concurrently(16, [&](int i) {
    Store& s = (i % 2 == 0) ? store() : other_handle;
    if (s.insert_key_if_none_active(sample_key("k" + std::to_string(i), kNow))) ++inserted;
  });
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_EQ(store().list_keys().size(), 1u);
}

TEST_P(StoreTest, SecretFirstWriterWins) {
  EXPECT_EQ(store().put_secret_if_absent("csrf", "first"), "first");
  EXPECT_EQ(store().put_secret_if_absent("csrf", "second"), "first");
  EXPECT_EQ(store().put_secret_if_absent("other", "x"), "x");
}

TEST_P(StoreTest, SecretKeepsBinaryBytes) {
  std::string raw("\0\x01\xff\x80 key\0end", 13);
  EXPECT_EQ(store().put_secret_if_absent("mac-key", raw), raw);
  EXPECT_EQ(store().put_secret_if_absent("mac-key", "replacement"), raw);
}

TEST_P(StoreTest, ConcurrentSecretWritersAllSeeOneValue) {
  Store& other_handle = same_data();
  std::vector<std::string> seen(16);
  run_concurrently(16, [&](int i) {
    Store& s = (i % 2 == 0) ? store() : other_handle;
    seen[static_cast<std::size_t>(i)] = s.put_secret_if_absent("race", "value-" + std::to_string(i));
  });
  for (const auto& v : seen) EXPECT_EQ(v, seen[0]);
  EXPECT_TRUE(seen[0].starts_with("value-"));
}

// ---- refresh-token rotation and access-token revocation ----

RefreshToken live_refresh(const std::string& hash, const std::string& grant_id = "grant-1") {
  return {.token_hash = hash, .grant_id = grant_id, .created_at = kNow - 100, .expires_at = kNow + 86400,
          .used_at = 0};
}

TEST_P(StoreTest, AGrantAndItsFirstRefreshTokenAreStoredTogetherOrNotAtAll) {
  store().put_grant_and_refresh_token(sample_grant("grant-1"), live_refresh("rt-1", "grant-1"));
  ASSERT_TRUE(same_data().find_grant("grant-1"));
  ASSERT_TRUE(same_data().find_refresh_token("rt-1"));
  EXPECT_EQ(fields(*same_data().find_refresh_token("rt-1")), fields(live_refresh("rt-1", "grant-1")));

  // A clash of the refresh token leaves no grant behind.
  EXPECT_THROW(store().put_grant_and_refresh_token(sample_grant("grant-2"), live_refresh("rt-1", "grant-2")),
               StoreError);
  EXPECT_FALSE(same_data().find_grant("grant-2"));
  EXPECT_EQ(same_data().find_refresh_token("rt-1")->grant_id, "grant-1");
  // A clash of the grant stores no refresh token.
  EXPECT_THROW(store().put_grant_and_refresh_token(sample_grant("grant-1"), live_refresh("rt-9", "grant-1")),
               StoreError);
  EXPECT_FALSE(same_data().find_refresh_token("rt-9"));
}

TEST_P(StoreTest, RotateLiveRefreshTokenMarksItUsedAndStoresTheNext) {
  RefreshToken old = live_refresh("rt-1");
  store().put_refresh_token(old);
  RefreshToken next = live_refresh("rt-2");
  next.created_at = kNow;

  RotateResult r = store().rotate_refresh_token("rt-1", next, kNow);

  ASSERT_EQ(r.outcome, RotateOutcome::rotated);
  ASSERT_TRUE(r.old);
  RefreshToken old_after = old;
  old_after.used_at = kNow;
  EXPECT_EQ(fields(*r.old), fields(old_after));
  EXPECT_EQ(fields(*store().find_refresh_token("rt-1")), fields(old_after));
  ASSERT_TRUE(store().find_refresh_token("rt-2"));
  EXPECT_EQ(fields(*store().find_refresh_token("rt-2")), fields(next));
}

TEST_P(StoreTest, RotatingAUsedRefreshTokenIsAlreadyUsedWithTheOldRecord) {
  store().put_refresh_token(live_refresh("rt-1", "grant-7"));
  ASSERT_EQ(store().rotate_refresh_token("rt-1", live_refresh("rt-2", "grant-7"), kNow).outcome,
            RotateOutcome::rotated);

  RotateResult again = store().rotate_refresh_token("rt-1", live_refresh("rt-3", "grant-7"), kNow + 30);

  EXPECT_EQ(again.outcome, RotateOutcome::already_used);
  ASSERT_TRUE(again.old);
  EXPECT_EQ(again.old->token_hash, "rt-1");
  EXPECT_EQ(again.old->grant_id, "grant-7");  // what the caller revokes
  EXPECT_EQ(again.old->used_at, kNow);        // the first use's time, unchanged
  EXPECT_FALSE(store().find_refresh_token("rt-3"));
  EXPECT_EQ(store().find_refresh_token("rt-2")->used_at, 0);
}

TEST_P(StoreTest, RotatingAnUnknownRefreshTokenIsNotFoundAndStoresNothing) {
  RotateResult r = store().rotate_refresh_token("no-such", live_refresh("rt-next"), kNow);
  EXPECT_EQ(r.outcome, RotateOutcome::not_found);
  EXPECT_FALSE(r.old);
  EXPECT_FALSE(store().find_refresh_token("rt-next"));
}

TEST_P(StoreTest, RotatingATokenOfARevokedGrantIsAlreadyUsed) {
  store().put_grant(sample_grant("grant-1"));
  store().put_refresh_token(live_refresh("rt-1"));
  ASSERT_TRUE(store().revoke_grant("grant-1", kNow));
  EXPECT_EQ(store().rotate_refresh_token("rt-1", live_refresh("rt-2"), kNow + 1).outcome,
            RotateOutcome::already_used);
  EXPECT_FALSE(store().find_refresh_token("rt-2"));
}

TEST_P(StoreTest, RotationWhoseNextTokenClashesThrowsAndLeavesTheOldTokenLive) {
  store().put_refresh_token(live_refresh("rt-1"));
  store().put_refresh_token(live_refresh("rt-taken"));
  EXPECT_THROW(store().rotate_refresh_token("rt-1", live_refresh("rt-taken"), kNow), StoreError);
  EXPECT_EQ(store().find_refresh_token("rt-1")->used_at, 0);
  EXPECT_EQ(store().rotate_refresh_token("rt-1", live_refresh("rt-2"), kNow).outcome, RotateOutcome::rotated);
}

TEST_P(StoreTest, ThirtyTwoThreadsRotatingOneRefreshTokenExactlyOneWins) {
  // For SQLite: four SqliteStore objects on one file, i.e. separate connections (as processes).
  std::vector<Store*> stores = handles(4);
  for (int round = 0; round < 3; ++round) {
    std::string old_hash = "rt-race-" + std::to_string(round);
    store().put_refresh_token(live_refresh(old_hash, "grant-race"));
    std::atomic<int> rotated{0};
    std::atomic<int> already_used{0};
    std::atomic<int> other{0};
    run_concurrently(32, [&](int i) {
      Store& s = *stores[static_cast<std::size_t>(i) % stores.size()];
      std::string next_hash = old_hash + "-next-" + std::to_string(i);
      RotateResult r = s.rotate_refresh_token(old_hash, live_refresh(next_hash, "grant-race"), kNow);
      if (r.outcome == RotateOutcome::rotated && r.old && r.old->used_at == kNow) ++rotated;
      else if (r.outcome == RotateOutcome::already_used && r.old && r.old->grant_id == "grant-race") ++already_used;
      else ++other;
    });
    EXPECT_EQ(rotated.load(), 1) << "round " << round;
    EXPECT_EQ(already_used.load(), 31) << "round " << round;
    EXPECT_EQ(other.load(), 0) << "round " << round;
    int stored_next = 0;
    for (int i = 0; i < 32; ++i) {
      if (store().find_refresh_token(old_hash + "-next-" + std::to_string(i))) ++stored_next;
    }
    EXPECT_EQ(stored_next, 1) << "round " << round;
  }
}

TEST_P(StoreTest, RevokeAccessTokenUpsertsOneRowAndKeepsTheFirstTime) {
  AccessTokenRecord first{.jti = "at-1", .grant_id = "grant-1", .client_id = "c", .expires_at = kNow + 300,
                          .revoked_at = kNow};
  store().revoke_access_token(first);
  EXPECT_FALSE(store().find_access_token("at-2"));  // only the revoked jti has a row
  // Idempotent: a second revocation (another instance, a retry) changes nothing of the row.
  AccessTokenRecord again = first;
  again.grant_id = "grant-other";
  again.expires_at = kNow + 999;
  again.revoked_at = kNow + 50;
  store().revoke_access_token(again);
  ASSERT_TRUE(store().find_access_token("at-1"));
  EXPECT_EQ(fields(*store().find_access_token("at-1")), fields(first));
}

TEST_P(StoreTest, ConcurrentRevocationsOfOneAccessTokenLeaveOneRow) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      store().revoke_access_token({.jti = "at-race", .grant_id = "g", .client_id = "c", .expires_at = kNow + 300,
                                   .revoked_at = kNow + i});
    });
  }
  for (auto& t : threads) t.join();
  auto row = store().find_access_token("at-race");
  ASSERT_TRUE(row);
  EXPECT_GE(row->revoked_at, kNow);
  EXPECT_LT(row->revoked_at, kNow + 8);
}

// ---- device codes (RFC 8628) ----

TEST_P(StoreTest, DeviceCodeRoundTripsEveryField) {
  DeviceCode d = sample_device_code("dc-1", "uc-1");
  d.interval = 10;
  d.last_polled_at = kNow - 3;
  d.status = "approved";
  d.user_id = "user-1";
  d.auth_time = kNow - 20;
  store().put_device_code(d);
  auto found = store().find_device_code("dc-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(d));
  EXPECT_FALSE(store().find_device_code("dc-2"));
}

TEST_P(StoreTest, DuplicateDeviceCodeHashThrowsAndKeepsTheFirst) {
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  EXPECT_THROW(store().put_device_code(sample_device_code("dc-1", "uc-other")), StoreError);
  EXPECT_EQ(store().find_device_code("dc-1")->user_code_hash, "uc-1");
}

TEST_P(StoreTest, ALiveUserCodeIsNotGivenToASecondDeviceCode) {
  DeviceCode first = sample_device_code("dc-1", "uc-1", kNow);
  store().put_device_code(first);
  EXPECT_THROW(store().put_device_code(sample_device_code("dc-2", "uc-1", kNow + 1)), StoreError);
  EXPECT_FALSE(store().find_device_code("dc-2"));
  // Once the first one expired, its user code may be drawn again.
  store().put_device_code(sample_device_code("dc-3", "uc-1", first.expires_at));
  EXPECT_EQ(store().find_pending_device_code_by_user_code("uc-1", first.expires_at)->device_code_hash, "dc-3");
}

TEST_P(StoreTest, PendingDeviceCodeIsFoundByUserCodeUntilItExpires) {
  DeviceCode d = sample_device_code("dc-1", "uc-1");
  store().put_device_code(d);
  auto found = store().find_pending_device_code_by_user_code("uc-1", kNow);
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(d));
  EXPECT_TRUE(store().find_pending_device_code_by_user_code("uc-1", d.expires_at - 1));
  EXPECT_FALSE(store().find_pending_device_code_by_user_code("uc-1", d.expires_at));
  EXPECT_FALSE(store().find_pending_device_code_by_user_code("uc-2", kNow));
  EXPECT_FALSE(store().find_pending_device_code_by_user_code("dc-1", kNow));  // not by the device code
}

TEST_P(StoreTest, DecidedDeviceCodeIsNoLongerFoundByUserCode) {
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  store().put_device_code(sample_device_code("dc-2", "uc-2"));
  ASSERT_TRUE(store().decide_device_code("uc-1", true, "user-1", kNow, kNow));
  ASSERT_TRUE(store().decide_device_code("uc-2", false, "user-1", kNow, kNow));
  EXPECT_FALSE(store().find_pending_device_code_by_user_code("uc-1", kNow));
  EXPECT_FALSE(store().find_pending_device_code_by_user_code("uc-2", kNow));
}

TEST_P(StoreTest, UpdateDevicePollRecordsTimeAndInterval) {
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  store().put_device_code(sample_device_code("dc-2", "uc-2"));
  store().update_device_poll("dc-1", kNow, 10);
  auto d = store().find_device_code("dc-1");
  EXPECT_EQ(d->last_polled_at, kNow);
  EXPECT_EQ(d->interval, 10);
  EXPECT_EQ(d->status, "pending");
  store().update_device_poll("dc-1", kNow + 10, 15);
  EXPECT_EQ(store().find_device_code("dc-1")->last_polled_at, kNow + 10);
  EXPECT_EQ(store().find_device_code("dc-1")->interval, 15);
  EXPECT_EQ(store().find_device_code("dc-2")->last_polled_at, 0);
  EXPECT_EQ(store().find_device_code("dc-2")->interval, 5);
  EXPECT_NO_THROW(store().update_device_poll("dc-unknown", kNow, 5));
}

TEST_P(StoreTest, ApprovingADeviceCodeRecordsTheUserOnce) {
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  EXPECT_TRUE(store().decide_device_code("uc-1", true, "user-1", kNow - 5, kNow));
  auto d = store().find_device_code("dc-1");
  EXPECT_EQ(d->status, "approved");
  EXPECT_EQ(d->user_id, "user-1");
  EXPECT_EQ(d->auth_time, kNow - 5);
  // Decided once: neither a second approval (another user) nor a denial changes it.
  EXPECT_FALSE(store().decide_device_code("uc-1", true, "user-2", kNow, kNow + 1));
  EXPECT_FALSE(store().decide_device_code("uc-1", false, "user-2", kNow, kNow + 1));
  d = store().find_device_code("dc-1");
  EXPECT_EQ(d->status, "approved");
  EXPECT_EQ(d->user_id, "user-1");
}

TEST_P(StoreTest, DenyingADeviceCodeIsFinal) {
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  EXPECT_TRUE(store().decide_device_code("uc-1", false, "user-1", kNow, kNow));
  auto d = store().find_device_code("dc-1");
  EXPECT_EQ(d->status, "denied");
  EXPECT_EQ(d->user_id, "");
  EXPECT_EQ(d->auth_time, 0);
  EXPECT_FALSE(store().decide_device_code("uc-1", true, "user-1", kNow, kNow + 1));
  EXPECT_EQ(store().find_device_code("dc-1")->status, "denied");
  EXPECT_FALSE(store().consume_device_code("dc-1"));
}

TEST_P(StoreTest, AnExpiredOrUnknownDeviceCodeCannotBeDecided) {
  DeviceCode d = sample_device_code("dc-1", "uc-1");
  store().put_device_code(d);
  EXPECT_FALSE(store().decide_device_code("uc-1", true, "user-1", kNow, d.expires_at));
  EXPECT_FALSE(store().decide_device_code("uc-1", false, "user-1", kNow, d.expires_at + 100));
  EXPECT_EQ(store().find_device_code("dc-1")->status, "pending");
  EXPECT_FALSE(store().decide_device_code("uc-unknown", true, "user-1", kNow, kNow));
  EXPECT_TRUE(store().decide_device_code("uc-1", true, "user-1", kNow, d.expires_at - 1));
}

TEST_P(StoreTest, OnlyAnApprovedDeviceCodeIsConsumedAndOnlyOnce) {
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  EXPECT_FALSE(store().consume_device_code("dc-1"));  // still pending
  EXPECT_EQ(store().find_device_code("dc-1")->status, "pending");
  ASSERT_TRUE(store().decide_device_code("uc-1", true, "user-1", kNow, kNow));
  EXPECT_TRUE(store().consume_device_code("dc-1"));
  EXPECT_FALSE(store().consume_device_code("dc-1"));
  auto d = store().find_device_code("dc-1");
  EXPECT_EQ(d->status, "consumed");
  EXPECT_EQ(d->user_id, "user-1");
  EXPECT_FALSE(store().consume_device_code("dc-unknown"));
}

TEST_P(StoreTest, ConcurrentDecisionsOnOneUserCodeExactlyOneWins) {
  std::vector<Store*> stores = handles(4);
  store().put_device_code(sample_device_code("dc-1", "uc-1"));
  std::atomic<int> decided{0};
  run_concurrently(16, [&](int i) {
    Store& s = *stores[static_cast<std::size_t>(i) % stores.size()];
    if (s.decide_device_code("uc-1", i % 2 == 0, "user-" + std::to_string(i), kNow, kNow)) ++decided;
  });
  EXPECT_EQ(decided.load(), 1);
  EXPECT_NE(store().find_device_code("dc-1")->status, "pending");
}

TEST_P(StoreTest, ConcurrentConsumersOfOneDeviceCodeExactlyOneWins) {
  std::vector<Store*> stores = handles(4);
  for (int round = 0; round < 3; ++round) {
    std::string n = std::to_string(round);
    store().put_device_code(sample_device_code("dc-" + n, "uc-" + n));
    ASSERT_TRUE(store().decide_device_code("uc-" + n, true, "user-1", kNow, kNow));
    std::atomic<int> consumed{0};
    run_concurrently(32, [&](int i) {
      if (stores[static_cast<std::size_t>(i) % stores.size()]->consume_device_code("dc-" + n)) ++consumed;
    });
    EXPECT_EQ(consumed.load(), 1) << "round " << round;
  }
}

// ---- key rotation ----

TEST_P(StoreTest, RotateKeyRetiresTheActiveKeyAndTheNewOneIsActive) {
  SigningKey first = sample_key("k1", kNow - 100);
  ASSERT_TRUE(store().insert_key_if_none_active(first));
  SigningKey second = sample_key("k2", kNow);
  store().rotate_key(second, kNow);
  SigningKey third = sample_key("k3", kNow + 10);
  store().rotate_key(third, kNow + 10);

  auto keys = store().list_keys();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(fields(keys[0]), fields(third));  // newest first, active
  SigningKey second_retired = second;
  second_retired.retired_at = kNow + 10;
  EXPECT_EQ(fields(keys[1]), fields(second_retired));
  SigningKey first_retired = first;
  first_retired.retired_at = kNow;  // retired by the first rotation, not again by the second
  EXPECT_EQ(fields(keys[2]), fields(first_retired));
  EXPECT_FALSE(store().insert_key_if_none_active(sample_key("k4", kNow + 20)));
}

TEST_P(StoreTest, RotateKeyWithoutAnyKeyInsertsAnActiveOne) {
  SigningKey next = sample_key("k1", kNow);
  next.retired_at = kNow - 1;  // rotate_key makes `next` the active key whatever it carries
  store().rotate_key(next, kNow);
  auto keys = store().list_keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].kid, "k1");
  EXPECT_EQ(keys[0].retired_at, 0);
}

TEST_P(StoreTest, RotateKeyWithATakenKidThrowsAndKeepsTheActiveKey) {
  ASSERT_TRUE(store().insert_key_if_none_active(sample_key("old", kNow - 200, kNow - 100)));
  ASSERT_TRUE(store().insert_key_if_none_active(sample_key("k1", kNow - 50)));
  EXPECT_THROW(store().rotate_key(sample_key("old", kNow), kNow), StoreError);
  EXPECT_THROW(store().rotate_key(sample_key("k1", kNow), kNow), StoreError);
  auto keys = store().list_keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].kid, "k1");
  EXPECT_EQ(keys[0].retired_at, 0);
  EXPECT_EQ(keys[1].retired_at, kNow - 100);
}

TEST_P(StoreTest, ConcurrentKeyRotationsLeaveExactlyOneActiveKey) {
  std::vector<Store*> stores = handles(4);
  ASSERT_TRUE(store().insert_key_if_none_active(sample_key("k-first", kNow)));
  std::atomic<int> failed{0};
  run_concurrently(16, [&](int i) {
    try {
      stores[static_cast<std::size_t>(i) % stores.size()]->rotate_key(sample_key("k" + std::to_string(i), kNow + 1),
                                                                      kNow + 1);
    } catch (const StoreError&) {
      ++failed;
    }
  });
  EXPECT_EQ(failed.load(), 0);
  auto keys = store().list_keys();
  EXPECT_EQ(keys.size(), 17u);
  EXPECT_EQ(std::count_if(keys.begin(), keys.end(), [](const SigningKey& k) { return k.retired_at == 0; }), 1);
}

TEST_P(StoreTest, DeleteKeyRemovesOnlyThatKey) {
  ASSERT_TRUE(store().insert_key_if_none_active(sample_key("retired", kNow - 100, kNow - 10)));
  ASSERT_TRUE(store().insert_key_if_none_active(sample_key("active", kNow)));
  EXPECT_TRUE(store().delete_key("retired"));
  EXPECT_FALSE(store().delete_key("retired"));
  EXPECT_FALSE(store().delete_key("unknown"));
  auto keys = store().list_keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].kid, "active");
}

// ---- schema ----

TEST_P(StoreTest, MigrateIsIdempotentAndKeepsData) {
  store().put_client(sample_client("c-1"));
  EXPECT_NO_THROW(store().migrate());
  EXPECT_NO_THROW(store().migrate());
  EXPECT_TRUE(store().find_client("c-1"));
}

TEST_P(StoreTest, ManyThreadsMixingOperationsStayConsistent) {
  run_concurrently(8, [&](int i) {
    std::string n = std::to_string(i);
    store().put_user(sample_user("u-" + n, "user-" + n));
    store().put_session({.id_hash = "s-" + n, .user_id = "u-" + n, .auth_time = kNow, .created_at = kNow,
                         .expires_at = kNow + 60});
    store().put_grant(sample_grant("g-" + n));
    for (int k = 0; k < 5; ++k) {
      store().put_refresh_token({.token_hash = "rt-" + n + "-" + std::to_string(k), .grant_id = "g-" + n,
                                 .created_at = kNow, .expires_at = kNow + 60, .used_at = 0});
    }
    store().revoke_grant("g-" + n, kNow);
  });
  EXPECT_EQ(store().list_users().size(), 8u);
  for (int i = 0; i < 8; ++i) {
    std::string n = std::to_string(i);
    EXPECT_TRUE(store().find_session("s-" + n, kNow));
    EXPECT_EQ(store().find_refresh_token("rt-" + n + "-4")->used_at, kNow);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, all_backends(), backend_name);

}  // namespace
}  // namespace latchkey::store::testing
