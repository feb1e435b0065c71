#pragma once
// The shared storage suite runs every test against every backend (DESIGN.md "Storage": one suite,
// all backends). A backend is a factory; SQLite gets a fresh database file per test.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "store/memory/memory_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace latchkey::store::testing {

// A directory under the system temp dir, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "latchkey-store-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

enum class Backend { memory, sqlite };

inline void PrintTo(Backend backend, std::ostream* out) {
  *out << (backend == Backend::memory ? "memory" : "sqlite");
}

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::memory ? "memory" : "sqlite";
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { store_ = open_new(); }

  // Another handle on the same data: a second SqliteStore on the same file (its own connections);
  // for the memory backend the same object (it has no other way to share data).
  Store& same_data() {
    if (GetParam() == Backend::memory) return *store_;
    if (!second_) second_ = sqlite::SqliteStore::open(db_path());
    return *second_;
  }

  // `count` handles on the same data, for races across connections: for SQLite the test's store and
  // count - 1 further SqliteStore objects on the same file (each with its own connections, as
  // separate processes would have); for the memory backend the same object `count` times.
  std::vector<Store*> handles(int count) {
    std::vector<Store*> out{store_.get()};
    for (int i = 1; i < count; ++i) {
      if (GetParam() == Backend::memory) {
        out.push_back(store_.get());
      } else {
        extra_.push_back(sqlite::SqliteStore::open(db_path()));
        out.push_back(extra_.back().get());
      }
    }
    return out;
  }

  std::unique_ptr<Store> open_new() {
    std::unique_ptr<Store> store;
    if (GetParam() == Backend::memory) {
      store = std::make_unique<memory::MemoryStore>();
    } else {
      store = sqlite::SqliteStore::open(db_path());
    }
    store->migrate();
    return store;
  }

  std::string db_path() const { return dir_.file("latchkey.db"); }

  Store& store() { return *store_; }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Store> second_;
  std::vector<std::unique_ptr<Store>> extra_;
};

// Sample records with every field set to a distinct value, so a swapped column shows.
inline Client sample_client(const std::string& id) {
  return Client{.id = id,
                .name = "Client " + id,
                .secret_hash = "hash-of-" + id,
                .is_public = false,
                .redirect_uris = {"https://app.example/cb", "https://app.example/cb?x=1 2"},
                .scopes = {"openid", "profile", "offline_access"},
                .grant_types = {"authorization_code", "refresh_token"},
                .audiences = {"https://api.example"},
                .created_at = 1'700'000'001,
                .web_origins = {"https://app.example", "http://localhost:8080"},
                .allowed_claims = {"roles"}};
}

inline User sample_user(const std::string& id, const std::string& username) {
  return User{.id = id,
              .username = username,
              .password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
              .email = username + "@example.com",
              .name = "User " + username,
              .created_at = 1'700'000'002,
              .roles = {"reader"},
              .groups = {"staff", "team a"}};
}

inline AuthorizationCode sample_code(const std::string& code_hash, const std::string& grant_id) {
  return AuthorizationCode{.code_hash = code_hash,
                           .client_id = "client-1",
                           .user_id = "user-1",
                           .grant_id = grant_id,
                           .redirect_uri = "http://127.0.0.1:49152/callback",
                           .redirect_uri_in_request = false,
                           .code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                           .code_challenge_method = "S256",
                           .scopes = {"openid", "email"},
                           .audiences = {"https://api.example", "urn:other"},
                           .nonce = "n-0S6_WzA2Mj",
                           .session_id_hash = "session-hash",
                           .auth_time = 1'700'000'010,
                           .created_at = 1'700'000'020,
                           .expires_at = 1'700'000'620};
}

inline Grant sample_grant(const std::string& id) {
  return Grant{.id = id,
               .client_id = "client-1",
               .user_id = "user-1",
               .scopes = {"openid", "offline_access"},
               .audiences = {"https://api.example"},
               .nonce = "nonce-1",
               .auth_time = 1'700'000'010,
               .created_at = 1'700'000'020,
               .expires_at = 1'702'592'020,
               .revoked_at = 0};
}

inline SigningKey sample_key(const std::string& kid, Timestamp created_at, Timestamp retired_at = 0) {
  return SigningKey{.kid = kid,
                    .alg = "ES256",
                    .private_key_sealed = "sealed-" + kid,
                    .public_jwk = R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"("})",
                    .created_at = created_at,
                    .retired_at = retired_at};
}

inline DeviceCode sample_device_code(const std::string& device_code_hash, const std::string& user_code_hash,
                                     Timestamp created_at = 1'700'000'000) {
  return DeviceCode{.device_code_hash = device_code_hash,
                    .user_code_hash = user_code_hash,
                    .client_id = "tv-client",
                    .scopes = {"openid", "offline_access"},
                    .audiences = {"https://api.example"},
                    .created_at = created_at,
                    .expires_at = created_at + 600,
                    .interval = 5,
                    .last_polled_at = 0,
                    .status = "pending",
                    .user_id = "",
                    .auth_time = 0};
}

}  // namespace latchkey::store::testing
