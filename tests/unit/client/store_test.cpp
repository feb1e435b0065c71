#include "client/store.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <thread>

#include "fakes.h"

namespace latchkey::client {
namespace {

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

StoredTokens sample_tokens() {
  StoredTokens t;
  t.access_token = "at";
  t.refresh_token = "rt";
  t.expires_at = 1000;
  t.scope = "openid";
  t.subject = "sub";
  t.client_secret = "s3cret";
  return t;
}

TEST(TokenStore, WritesPrivateDirectoriesAndFiles) {
  testing::TempDir tmp;
  ::umask(022);  // a permissive umask must not widen anything
  TokenStore store(tmp.path() / "home");
  ASSERT_TRUE(store.save_tokens("default", sample_tokens()).has_value());
  EXPECT_EQ(mode_of(tmp.path() / "home"), 0700u);
  EXPECT_EQ(mode_of(tmp.path() / "home" / "credentials"), 0700u);
  EXPECT_EQ(mode_of(store.credentials_path("default")), 0600u);
  Profile p;
  p.issuer = "https://idp.example";
  p.client_id = "cli";
  ASSERT_TRUE(store.save_profile(p).has_value());
  EXPECT_EQ(mode_of(store.profile_path("default")), 0600u);
}

TEST(TokenStore, RoundTrip) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  ASSERT_TRUE(store.save_tokens("work", sample_tokens()).has_value());
  auto loaded = store.load_tokens("work");
  ASSERT_TRUE(loaded.has_value() && loaded->has_value());
  EXPECT_EQ((*loaded)->access_token, "at");
  EXPECT_EQ((*loaded)->refresh_token, "rt");
  EXPECT_EQ((*loaded)->expires_at, 1000);
  EXPECT_EQ((*loaded)->client_secret, "s3cret");
  auto missing = store.load_tokens("other");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());

  Profile p;
  p.name = "work";
  p.issuer = "https://idp.example";
  p.client_id = "cli";
  p.scope = "openid email";
  p.redirect_ports = {8250, 8251};
  ASSERT_TRUE(store.save_profile(p).has_value());
  auto lp = store.load_profile("work");
  ASSERT_TRUE(lp.has_value() && lp->has_value());
  EXPECT_EQ((*lp)->scope, "openid email");
  EXPECT_EQ((*lp)->redirect_ports, (std::vector<std::uint16_t>{8250, 8251}));
  auto names = store.list_profiles();
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, std::vector<std::string>{"work"});
}

TEST(TokenStore, AtomicWriteLeavesNoTemporaryFiles) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store.save_tokens("default", sample_tokens()).has_value());
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path() / "credentials"))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"default.json"}));
}

TEST(TokenStore, AtomicWriteReplacesTheInodeSoReadersSeeWholeFiles) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  ASSERT_TRUE(store.save_tokens("default", sample_tokens()).has_value());
  std::ifstream reader(store.credentials_path("default"));  // an open reader keeps the old file
  std::string before((std::istreambuf_iterator<char>(reader)), std::istreambuf_iterator<char>());
  struct stat a {}, b {};
  ::stat(store.credentials_path("default").c_str(), &a);
  auto t = sample_tokens();
  t.access_token = "new";
  ASSERT_TRUE(store.save_tokens("default", t).has_value());
  ::stat(store.credentials_path("default").c_str(), &b);
  EXPECT_NE(a.st_ino, b.st_ino);  // renamed over, not rewritten in place
  EXPECT_NE(before.find("\"at\""), std::string::npos);
}

TEST(TokenStore, CorruptFileIsAOneLineErrorWithPathAndRemedy) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  std::filesystem::create_directories(tmp.path() / "credentials");
  std::ofstream(store.credentials_path("default")) << "{\"access_token\": \"trunc";
  auto r = store.load_tokens("default");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::local);
  EXPECT_NE(r.error().what.find(store.credentials_path("default").string()), std::string::npos);
  EXPECT_NE(r.error().todo.find("latchkey auth login"), std::string::npos);
  EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
}

TEST(TokenStore, ProfileNamesCannotEscapeTheDirectory) {
  EXPECT_TRUE(is_valid_profile_name("work-2.eu_west"));
  EXPECT_FALSE(is_valid_profile_name("../etc"));
  EXPECT_FALSE(is_valid_profile_name(".hidden"));
  EXPECT_FALSE(is_valid_profile_name("a/b"));
  EXPECT_FALSE(is_valid_profile_name(""));
}

TEST(TokenStore, LockExcludesAnotherThread) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  auto first = store.lock("default");
  ASSERT_TRUE(first.has_value());
  std::atomic<bool> acquired{false};
  std::thread other([&] {
    auto second = store.lock("default");  // a separate open file description: flock excludes it
    acquired = second.has_value();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(acquired.load());
  { auto release = std::move(*first); }
  other.join();
  EXPECT_TRUE(acquired.load());
}

TEST(TokenStore, LockExcludesAnotherProcess) {
  testing::TempDir tmp;
  TokenStore store(tmp.path());
  auto held = store.lock("default");
  ASSERT_TRUE(held.has_value());
  auto lock_path = tmp.path() / "credentials" / "default.lock";
  pid_t child = ::fork();
  if (child == 0) {
    int fd = ::open(lock_path.c_str(), O_RDWR);
    bool blocked = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::_exit(blocked ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "another process could take the lock";
}

}  // namespace
}  // namespace latchkey::client
