#pragma once
// --dev: a server that works on first start, with everything it needs created when missing and
// printed in a banner (never for production: the secrets are kept in a file beside the database).
#include <filesystem>
#include <iosfwd>
#include <string>

#include "server/config.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::server {

inline constexpr const char* kDevKeyFile = "latchkey-dev.key";
inline constexpr const char* kDevCredentialsFile = "latchkey-dev.credentials.json";
inline constexpr const char* kDevUser = "demo";
inline constexpr const char* kDevPublicClient = "latchkey-cli";
inline constexpr const char* kDevConfidentialClient = "demo-app";
inline constexpr const char* kDevAppRedirectUri = "http://127.0.0.1:9000/callback";

// The folder of a sqlite:PATH database; the current directory for other URLs.
std::filesystem::path dev_directory(const ServerConfig& config);

// Points keys.encryption_key_file at latchkey-dev.key beside the database, creating it (0600,
// 32 random bytes) when missing. Throws CommandError when it cannot.
void ensure_dev_key_file(ServerConfig& config);

struct DevCredentials {
  std::string demo_password;
  std::string demo_app_secret;
};

// Creates, when missing, the demo user and the two clients; returns their secrets, kept in
// latchkey-dev.credentials.json (0600). A user or client whose secret was lost from that file is
// re-created with a new one (same ids).
DevCredentials seed_dev_data(const ServerConfig& config, store::Store& store, util::Random& random,
                             const util::Clock& clock);

// Issuer, demo user, clients, an authorize URL with PKCE, and the `latchkey auth login` line.
void print_dev_banner(std::ostream& out, const ServerConfig& config, const DevCredentials& credentials,
                      util::Random& random);

}  // namespace latchkey::server
