// What every command shares: flags, configuration, the store, the key-encryption key, stdin.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>
#include <sstream>

#include "server/commands.h"
#include "server/dev.h"
#include "store/open_store.h"
#include "util/base64url.h"
#include "util/strings.h"

namespace latchkey::server {

namespace {
constexpr const char* kSeeDocs = "see docs/configuration.md";

// Accepts the key with or without '=' padding and surrounding whitespace (files end in '\n').
std::optional<std::string> decode_key_text(std::string_view text) {
  std::string trimmed = util::trim(text);
  while (trimmed.ends_with('=')) trimmed.pop_back();
  auto raw = util::base64url_decode(trimmed);
  if (!raw || raw->size() != 32) return std::nullopt;
  return raw;
}

const char* kGenerateHint = "generate one with: openssl rand 32 | basenc --base64url";
}  // namespace

void add_common_flags(CLI::App& command, CommonFlags& flags) {
  command.add_option("--config", flags.config_file, "TOML configuration file (see docs/configuration.md)");
  command.add_option("--database", flags.database_url, "database URL: sqlite:PATH or postgresql://...");
  command.add_flag("--dev", flags.dev,
                   "development mode: sqlite:latchkey-dev.db, a generated key-encryption key, http issuer allowed");
}

ServerConfig load_server_config(const CommonFlags& flags) {
  ConfigSources sources;
  if (!flags.config_file.empty()) sources.file = flags.config_file;
  sources.environment = process_environment();
  if (!flags.listen.empty()) sources.flags.listen = flags.listen;
  if (!flags.issuer.empty()) sources.flags.issuer = flags.issuer;
  if (!flags.database_url.empty()) sources.flags.database_url = flags.database_url;
  sources.flags.dev = flags.dev;
  auto config = load_config(sources);
  if (!config) throw CommandError(config.error(), kSeeDocs);
  if (config->dev && config->key_encryption_key.empty() && config->key_encryption_key_file.empty())
    ensure_dev_key_file(*config);
  return std::move(*config);
}

namespace {

std::unique_ptr<store::Store> open_and_migrate(const ServerConfig& config) {
  std::unique_ptr<store::Store> store;
  try {
    store = store::open_store(config.database_url);
  } catch (const store::StoreUnavailable&) {
    throw;
  } catch (const store::StoreError& e) {
    // Not echoing the URL: a postgresql:// one may carry a password; the error names what is wrong.
    throw CommandError(std::string("cannot open the database: ") + e.what(),
                       "check --database / database.url (sqlite:PATH or postgresql://...)");
  }
  try {
    store->migrate();
  } catch (const store::StoreUnavailable&) {
    throw;
  } catch (const store::StoreError& e) {
    throw CommandError(std::string("cannot migrate the database: ") + e.what(),
                       "check that it is a Latchkey database and that we may write to it");
  }
  return store;
}

}  // namespace

std::unique_ptr<store::Store> open_migrated_store(const ServerConfig& config, std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (auto pause = std::chrono::milliseconds{250};; pause = std::min(pause * 2, std::chrono::milliseconds{4000})) {
    try {
      return open_and_migrate(config);
    } catch (const store::StoreUnavailable& e) {
      if (std::chrono::steady_clock::now() + pause >= deadline)
        throw CommandError(std::string("cannot reach the database: ") + e.what(),
                           "check that the database server is running and database.url points at it");
      std::cerr << "latchkey-server: waiting for the database: " << e.what() << std::endl;
      std::this_thread::sleep_for(pause);
    }
  }
}

namespace {

// One key-encryption key from its variable (text, named env_name in errors) or its file (named file_key).
std::optional<std::string> read_key_encryption_key(const std::string& text, std::string_view env_name,
                                                   const std::string& file, std::string_view file_key) {
  if (!text.empty()) {
    auto key = decode_key_text(text);
    if (!key) throw CommandError(std::string(env_name) + " is not the base64url encoding of 32 bytes", kGenerateHint);
    return *key;
  }
  if (file.empty()) return std::nullopt;
  const std::string what = std::string(file_key) + " " + file;
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0)
    throw CommandError("cannot read " + what + ": " + std::strerror(errno),
                       "create it (mode 0600) holding a base64url key; " + std::string(kGenerateHint));
  // The file unlocks every signing key: like ssh, refuse it when others may read it.
  if (info.st_mode & (S_IRWXG | S_IRWXO))
    throw CommandError(what + " is accessible by group or others", "run: chmod 600 " + file);
  std::ifstream in(file, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw CommandError("cannot read " + what, "check its permissions");
  auto key = decode_key_text(content);
  if (!key) throw CommandError(what + " does not hold the base64url encoding of 32 bytes", kGenerateHint);
  return *key;
}

}  // namespace

std::string load_key_encryption_key(const ServerConfig& config) {
  auto key = read_key_encryption_key(config.key_encryption_key, kKeyEncryptionKeyEnv, config.key_encryption_key_file,
                                     "keys.encryption_key_file");
  if (!key)
    throw CommandError(
        "no key-encryption key: set LATCHKEY_KEY_ENCRYPTION_KEY or keys.encryption_key_file (see docs/configuration.md)",
        std::string(kGenerateHint) + ", or use --dev for a local trial");
  return *key;
}

std::vector<std::string> load_key_encryption_keys(const ServerConfig& config) {
  std::vector<std::string> keys{load_key_encryption_key(config)};
  if (auto previous = read_key_encryption_key(config.previous_key_encryption_key, kPreviousKeyEncryptionKeyEnv,
                                              config.previous_key_encryption_key_file,
                                              "keys.previous_encryption_key_file")) {
    if (*previous == keys.front())
      throw CommandError("the previous key-encryption key is the current one",
                         "during a rotation, the previous key is the one being replaced");
    keys.push_back(std::move(*previous));
  }
  return keys;
}

std::string read_stdin_secret() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (text.ends_with('\n')) text.pop_back();
  if (text.ends_with('\r')) text.pop_back();
  return text;
}

std::string format_time(store::Timestamp t) {
  std::time_t time = static_cast<std::time_t>(t);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace latchkey::server
