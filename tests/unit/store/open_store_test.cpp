#include "store/open_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/store_fixture.h"

namespace latchkey::store::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string error_of(const std::string& url) {
  try {
    open_store(url);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

TEST(OpenStore, MemoryUrlGivesAWorkingStore) {
  auto store = open_store("memory:");
  store->migrate();
  store->put_client(sample_client("c"));
  EXPECT_TRUE(store->find_client("c"));
}

TEST(OpenStore, SqlitePathOpensTheFileWithoutMigrating) {
  TempDir dir;
  auto store = open_store("sqlite:" + dir.file("a.db"));
  EXPECT_THROW(store->list_clients(), StoreError);  // the server runs `migrate` explicitly
  store->migrate();
  EXPECT_TRUE(store->list_clients().empty());
}

TEST(OpenStore, SqliteDurabilityIsNormalUnlessFullIsAsked) {
  TempDir dir;
  auto normal = open_store("sqlite:" + dir.file("n.db"));
  EXPECT_EQ(dynamic_cast<sqlite::SqliteStore&>(*normal).synchronous_mode(), 1);
  auto full = open_store("sqlite:" + dir.file("f.db") + "?synchronous=full");
  EXPECT_EQ(dynamic_cast<sqlite::SqliteStore&>(*full).synchronous_mode(), 2);
  full->migrate();
  EXPECT_TRUE(std::filesystem::exists(dir.file("f.db")));  // the parameter is not part of the file name
  auto explicit_normal = open_store("sqlite:///" + dir.file("e.db").substr(1) + "?synchronous=normal");
  EXPECT_EQ(dynamic_cast<sqlite::SqliteStore&>(*explicit_normal).synchronous_mode(), 1);
  try {
    open_store("sqlite:" + dir.file("x.db") + "?synchronous=off");
    FAIL() << "synchronous=off accepted";
  } catch (const StoreError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("synchronous=full or synchronous=normal"));
  }
}

TEST(OpenStore, SqliteUrlWithAbsolutePath) {
  TempDir dir;
  std::string path = dir.file("b.db");
  ASSERT_TRUE(path.starts_with("/"));
  open_store("sqlite://" + path)->migrate();
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(OpenStore, BadUrlsAreNamedInTheError) {
  EXPECT_THAT(error_of("sqlite:"), HasSubstr("names no file"));
  EXPECT_THAT(error_of("sqlite://host/x.db"), HasSubstr("no host"));
  EXPECT_THAT(error_of("mysql://db/x"), HasSubstr("unsupported database URL 'mysql://db/x'"));
  EXPECT_THAT(error_of("latchkey.db"), HasSubstr("sqlite:PATH"));
  EXPECT_THAT(error_of("sqlite::memory:"), HasSubstr("memory:"));
}

TEST(OpenStore, PostgresUrlsReachTheBackendAndErrorsDoNotEchoThePassword) {
  // A bad pool_max fails before any connection is attempted (no sockets here; the PostgreSQL tests
  // in postgres_store_test.cpp connect).
  for (const char* url : {"postgresql://admin:hunter2@db.example/latchkey?pool_max=0",
                          "postgres://admin:hunter2@db.example/latchkey?sslmode=disable&pool_max=lots"}) {
    std::string error = error_of(url);
    EXPECT_THAT(error, HasSubstr("pool_max")) << url;
    EXPECT_THAT(error, Not(HasSubstr("hunter2"))) << url;
  }
}

}  // namespace
}  // namespace latchkey::store::testing
