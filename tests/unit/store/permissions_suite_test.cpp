// Storage of what issue 10 added, run against every backend: clients' web origins (CORS) and
// allowed claims, users' roles and groups.
#include <gmock/gmock.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/fields.h"
#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

class PermissionsStoreTest : public StoreTest {};

TEST_P(PermissionsStoreTest, WebOriginsAndAllowedClaimsRoundTrip) {
  Client c = sample_client("spa");
  c.web_origins = {"https://spa.example", "http://127.0.0.1:8000"};
  c.allowed_claims = {"roles", "groups"};
  store().put_client(c);
  auto found = store().find_client("spa");
  ASSERT_TRUE(found);
  EXPECT_EQ(fields(*found), fields(c));
  EXPECT_EQ(fields(store().list_clients().at(0)), fields(c));
}

TEST_P(PermissionsStoreTest, AClientWithoutOriginsOrClaimsKeepsEmptyLists) {
  Client c = sample_client("backend");
  c.web_origins = {};
  c.allowed_claims = {};
  store().put_client(c);
  EXPECT_THAT(store().find_client("backend")->web_origins, IsEmpty());
  EXPECT_THAT(store().find_client("backend")->allowed_claims, IsEmpty());
}

TEST_P(PermissionsStoreTest, WebOriginLookupIsExactAndFollowsDeletion) {
  Client a = sample_client("a");
  a.web_origins = {"https://spa.example"};
  Client b = sample_client("b");
  b.web_origins = {"https://other.example:8443", "https://spa.example"};
  store().put_client(a);
  store().put_client(b);
  EXPECT_TRUE(store().has_client_with_web_origin("https://spa.example"));
  EXPECT_TRUE(store().has_client_with_web_origin("https://other.example:8443"));
  // Exact: no prefix, no case folding, no default port games (origins are normalized on the way in).
  EXPECT_FALSE(store().has_client_with_web_origin("https://spa.example.evil"));
  EXPECT_FALSE(store().has_client_with_web_origin("https://spa.exampl"));
  EXPECT_FALSE(store().has_client_with_web_origin("https://SPA.example"));
  EXPECT_FALSE(store().has_client_with_web_origin("https://other.example"));
  EXPECT_FALSE(store().has_client_with_web_origin(""));
  EXPECT_FALSE(store().has_client_with_web_origin("%"));  // no LIKE patterns
  ASSERT_TRUE(store().delete_client("b"));
  EXPECT_FALSE(store().has_client_with_web_origin("https://other.example:8443"));
  EXPECT_TRUE(store().has_client_with_web_origin("https://spa.example"));
}

TEST_P(PermissionsStoreTest, UserRolesAndGroupsRoundTrip) {
  User u = sample_user("u-1", "alice");
  u.roles = {"admin", "ünïcødé role", "with \"quotes\""};
  u.groups = {"/engineering/backend", ""};
  store().put_user(u);
  EXPECT_EQ(fields(*store().find_user("u-1")), fields(u));
  EXPECT_EQ(fields(*store().find_user_by_username("alice")), fields(u));
  EXPECT_EQ(fields(store().list_users().at(0)), fields(u));
}

TEST_P(PermissionsStoreTest, AddingRolesAppendsOnceAndRemovingTakesOnlyThatRole) {
  User u = sample_user("u-1", "alice");
  u.roles = {};
  store().put_user(u);
  EXPECT_TRUE(store().add_user_role("u-1", "admin"));
  EXPECT_TRUE(store().add_user_role("u-1", "reader"));
  EXPECT_TRUE(store().add_user_role("u-1", "admin"));  // already there: no repeat
  EXPECT_THAT(store().find_user("u-1")->roles, ElementsAre("admin", "reader"));
  EXPECT_TRUE(store().remove_user_role("u-1", "admin"));
  EXPECT_TRUE(store().remove_user_role("u-1", "nobody"));  // absent: nothing changes
  EXPECT_THAT(store().find_user("u-1")->roles, ElementsAre("reader"));
  // Groups are a separate list.
  EXPECT_THAT(store().find_user("u-1")->groups, ElementsAre("staff", "team a"));
}

TEST_P(PermissionsStoreTest, GroupsAreChangedIndependentlyOfRoles) {
  store().put_user(sample_user("u-1", "alice"));
  EXPECT_TRUE(store().add_user_group("u-1", "admins"));
  EXPECT_TRUE(store().remove_user_group("u-1", "staff"));
  auto u = store().find_user("u-1");
  EXPECT_THAT(u->groups, ElementsAre("team a", "admins"));
  EXPECT_THAT(u->roles, ElementsAre("reader"));
}

TEST_P(PermissionsStoreTest, UnknownUserIsReportedAndNothingIsCreated) {
  EXPECT_FALSE(store().add_user_role("ghost", "admin"));
  EXPECT_FALSE(store().remove_user_role("ghost", "admin"));
  EXPECT_FALSE(store().add_user_group("ghost", "g"));
  EXPECT_FALSE(store().remove_user_group("ghost", "g"));
  EXPECT_FALSE(store().find_user("ghost"));
  EXPECT_THAT(store().list_users(), IsEmpty());
}

TEST_P(PermissionsStoreTest, ChangesAreSeenThroughAnotherHandle) {
  store().put_user(sample_user("u-1", "alice"));
  ASSERT_TRUE(store().add_user_role("u-1", "admin"));
  EXPECT_THAT(same_data().find_user("u-1")->roles, ElementsAre("reader", "admin"));
}

TEST_P(PermissionsStoreTest, ConcurrentAddsThroughSeveralHandlesAreAllKept) {
  User u = sample_user("u-1", "alice");
  u.roles = {};
  store().put_user(u);
  constexpr int kThreads = 8;
  auto stores = handles(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::vector<std::string> expected;
  for (int i = 0; i < kThreads; ++i) {
    expected.push_back("role-" + std::to_string(i));
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      stores[i]->add_user_role("u-1", "role-" + std::to_string(i));
    });
  }
  go.store(true);
  for (auto& t : threads) t.join();
  // A read-modify-write without the write lock would lose some of them.
  EXPECT_THAT(store().find_user("u-1")->roles, UnorderedElementsAreArray(expected));
}

TEST_P(PermissionsStoreTest, DeletingAUserDropsTheirRolesWithThem) {
  store().put_user(sample_user("u-1", "alice"));
  ASSERT_TRUE(store().add_user_role("u-1", "admin"));
  ASSERT_TRUE(store().delete_user("u-1"));
  User again = sample_user("u-1", "alice");
  again.roles = {};
  again.groups = {};
  store().put_user(again);
  EXPECT_THAT(store().find_user("u-1")->roles, IsEmpty());
  EXPECT_THAT(store().find_user("u-1")->groups, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Backends, PermissionsStoreTest, all_backends(), backend_name);

}  // namespace
}  // namespace latchkey::store::testing
