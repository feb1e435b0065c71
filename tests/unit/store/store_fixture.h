#pragma once
// The shared storage suite runs every test against every backend (DESIGN.md "Storage": one suite,
// all backends). A backend is a factory; SQLite gets a fresh database file per test, PostgreSQL a
// fresh schema per test.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "store/memory/memory_store.h"
#include "store/postgres/postgres_store.h"
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

// postgres runs when LATCHKEY_TEST_POSTGRES_URL names a server (tests/postgres starts a throwaway
// one and sets it; without it these tests are skipped, saying so). postgres_serializable is the
// same server with every transaction SERIALIZABLE, as on CockroachDB-like databases, so that the
// retry on serialization failures is exercised by the whole suite.
enum class Backend { memory, sqlite, postgres, postgres_serializable };

inline const char* backend_label(Backend backend) {
  switch (backend) {
    case Backend::memory: return "memory";
    case Backend::sqlite: return "sqlite";
    case Backend::postgres: return "postgres";
    case Backend::postgres_serializable: return "postgres_serializable";
  }
  return "?";
}

inline void PrintTo(Backend backend, std::ostream* out) { *out << backend_label(backend); }

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) { return backend_label(info.param); }

inline auto all_backends() {
  return ::testing::Values(Backend::memory, Backend::sqlite, Backend::postgres, Backend::postgres_serializable);
}

// The server URL for PostgreSQL tests, or empty when none is configured.
inline std::string postgres_test_url() {
  const char* url = std::getenv("LATCHKEY_TEST_POSTGRES_URL");
  return url != nullptr ? url : "";
}

inline constexpr const char* kPostgresNotConfigured =
    "PostgreSQL not configured: set LATCHKEY_TEST_POSTGRES_URL (ctest -R store_postgres starts a server and does)";

// A schema of its own on the test server, dropped at the end; store_url() puts it first on the
// search_path, so every store opened with that URL works inside it.
class PostgresSchema {
 public:
  explicit PostgresSchema(std::string server_url, std::string extra_options = {})
      : server_url_(std::move(server_url)), extra_options_(std::move(extra_options)) {
    static std::atomic<int> counter{0};
    name_ = "lk_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
    postgres::run_sql(server_url_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
  }
  ~PostgresSchema() {
    try {
      postgres::run_sql(server_url_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (const std::exception&) {
      // A test that stopped the server leaves the schema behind; the server is throwaway.
    }
  }
  PostgresSchema(const PostgresSchema&) = delete;
  PostgresSchema& operator=(const PostgresSchema&) = delete;

  std::string store_url(const std::string& more_parameters = {}) const {
    std::string url = server_url_ + (server_url_.find('?') == std::string::npos ? "?" : "&") +
                      "options=-csearch_path%3D" + name_ + extra_options_;
    if (!more_parameters.empty()) url += "&" + more_parameters;
    return url;
  }
  const std::string& name() const { return name_; }

 private:
  std::string server_url_;
  std::string extra_options_;
  std::string name_;
};

inline constexpr const char* kSerializableOption = "%20-cdefault_transaction_isolation%3Dserializable";

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (is_postgres()) {
      if (postgres_test_url().empty()) GTEST_SKIP() << kPostgresNotConfigured;
      schema_ = std::make_unique<PostgresSchema>(
          postgres_test_url(), GetParam() == Backend::postgres_serializable ? kSerializableOption : "");
    }
    store_ = open_new();
  }

  void TearDown() override {
    // Close every connection before the schema is dropped.
    extra_.clear();
    second_.reset();
    store_.reset();
    schema_.reset();
  }

  bool is_postgres() const {
    return GetParam() == Backend::postgres || GetParam() == Backend::postgres_serializable;
  }

  // Another handle on the same data: a second store object on the same file or schema (its own
  // connections); for the memory backend the same object (it has no other way to share data).
  Store& same_data() {
    if (GetParam() == Backend::memory) return *store_;
    if (!second_) second_ = open_existing();
    return *second_;
  }

  // `count` handles on the same data, for races across connections: the test's store and count - 1
  // further store objects on the same file or schema (each with its own connections, as separate
  // processes would have); for the memory backend the same object `count` times.
  std::vector<Store*> handles(int count) {
    std::vector<Store*> out{store_.get()};
    for (int i = 1; i < count; ++i) {
      if (GetParam() == Backend::memory) {
        out.push_back(store_.get());
      } else {
        extra_.push_back(open_existing());
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
      store = open_existing();
    }
    store->migrate();
    return store;
  }

  std::unique_ptr<Store> open_existing() {
    if (is_postgres()) return postgres::PostgresStore::open(schema_->store_url());
    return sqlite::SqliteStore::open(db_path());
  }

  std::string db_path() const { return dir_.file("latchkey.db"); }

  Store& store() { return *store_; }

  TempDir dir_;
  std::unique_ptr<PostgresSchema> schema_;
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
