#pragma once
// The on-disk state of the CLI under $LATCHKEY_HOME (default ~/.latchkey):
//   profiles/<name>.json     issuer, client and scopes: what a second login needs (no secrets)
//   credentials/<name>.json  tokens, and the client secret when there is one (0600)
//   credentials/<name>.lock  held (flock) across read -> refresh -> write
//   cache/                   provider metadata
// Directories are 0700, files 0600, every write goes to a temporary file that is renamed over
// the old one, so a reader sees the old file or the new one, never half of one.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/error.h"
#include "util/clock.h"

namespace latchkey::client {

struct Profile {
  std::string name = "default";
  std::string issuer;
  std::string client_id;
  std::string scope;     // space separated
  std::string audience;  // space separated; sent as `audience`
  std::string prompt;    // OIDC prompt values, space separated (e.g. "consent"); empty: none sent
  std::vector<std::uint16_t> redirect_ports;
  std::string redirect_uri;
  std::string cacert;
  // Explicit endpoints (when the provider has no discovery document); empty = discovered.
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string device_authorization_endpoint;
  std::string revocation_endpoint;
  std::string jwks_uri;
};

struct StoredTokens {
  std::string access_token;
  std::string token_type = "Bearer";
  util::Timestamp expires_at = 0;  // 0: unknown (no expires_in, and not a JWT with exp)
  std::string refresh_token;
  std::string id_token;
  std::string scope;
  std::string subject;  // from the validated id_token
  util::Timestamp obtained_at = 0;
  std::string client_secret;  // confidential clients only
  // When to refresh: client::needs_refresh (it also covers tokens of unknown lifetime).
};

bool is_valid_profile_name(std::string_view name);

// Creates `dir` (and parents) and sets it to 0700. False on failure.
bool ensure_private_dir(const std::filesystem::path& dir);
// Writes `content` to `path` with mode 0600 via a unique temporary file in the same directory,
// fsync, then rename(2).
Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content);

// An exclusive flock on a lock file; released by the destructor (or by the process dying, so a
// crash never leaves a stale lock).
class FileLock {
 public:
  static Result<FileLock> acquire(const std::filesystem::path& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

class TokenStore {
 public:
  explicit TokenStore(std::filesystem::path home) : home_(std::move(home)) {}
  // $LATCHKEY_HOME, else $HOME/.latchkey.
  static std::filesystem::path default_home();

  const std::filesystem::path& home() const { return home_; }
  std::filesystem::path cache_dir() const { return home_ / "cache"; }
  std::filesystem::path credentials_path(std::string_view profile) const;
  std::filesystem::path profile_path(std::string_view profile) const;

  Result<std::optional<Profile>> load_profile(std::string_view name) const;
  Result<void> save_profile(const Profile& profile) const;
  Result<std::vector<std::string>> list_profiles() const;

  Result<std::optional<StoredTokens>> load_tokens(std::string_view profile) const;
  Result<void> save_tokens(std::string_view profile, const StoredTokens& tokens) const;
  Result<void> delete_tokens(std::string_view profile) const;

  // Hold this while reading, refreshing and writing one profile's tokens.
  Result<FileLock> lock(std::string_view profile) const;

 private:
  Result<void> ensure_dir(const std::filesystem::path& dir) const;
  std::filesystem::path home_;
};

}  // namespace latchkey::client
