#pragma once
// latchkey-server configuration: built-in defaults < TOML file < LATCHKEY_* environment < flags.
// Every key the loader knows is listed once, in config_keys(); the loader, the environment
// mapping and the documentation test all read that one table.
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "oauth/config.h"

namespace latchkey::server {

struct ListenAddress {
  std::string host;  // IP literal without brackets: "127.0.0.1", "::1"
  std::uint16_t port = 0;
  // host:port as a URL authority: "127.0.0.1:8080", "[::1]:8080".
  std::string authority() const;
};

// "HOST:PORT" or "[IPV6]:PORT"; HOST must be an IP address (no name resolution at start).
std::expected<ListenAddress, std::string> parse_listen(std::string_view text);

// True for 127.0.0.0/8, ::1 and "localhost" (RFC 8252 §8.3 calls these loopback).
bool is_loopback_host(std::string_view host);

// Checks an issuer (RFC 8414 §2, OIDC Discovery §3): http(s), a host, no query or fragment.
// Returns it without a trailing slash. https is required unless the host is loopback or
// `dev` is set.
std::expected<std::string, std::string> normalize_issuer(std::string_view issuer, bool dev);

struct HttpLimits {
  std::size_t max_header_bytes = 8 * 1024;   // larger headers get 431
  std::size_t max_body_bytes = 64 * 1024;    // larger bodies get 413
  std::int64_t read_timeout_seconds = 15;    // a request must arrive whole within this
  std::size_t max_connections = 10000;       // further connections are closed at accept
  std::int64_t shutdown_timeout_seconds = 5; // in-flight requests get this long on SIGTERM
};

// Operations: logs, TLS, proxies and /metrics (docs/configuration.md, [log] [tls] [metrics]).
struct LogConfig {
  std::string level = "info";   // debug | info | warn | error
  std::string format = "auto";  // json | text | auto (text on a terminal, else json)
};

struct TlsConfig {
  std::string certificate_file;  // PEM, the chain after the leaf
  std::string private_key_file;  // PEM
  bool enabled() const { return !certificate_file.empty(); }
};

struct ServerConfig {
  ListenAddress listen{"127.0.0.1", 8080};
  bool issuer_from_listen = true;  // no issuer was configured: it follows the listen address
  unsigned threads = 0;            // 0: one per core
  std::string database_url = "sqlite:latchkey.db";
  bool dev = false;
  // Key-encryption key (seals the signing keys at rest): the base64url text from the
  // environment, else a file holding it. Secrets never come from flags.
  std::string key_encryption_key;
  std::string key_encryption_key_file;
  // During a rotation of the key-encryption key: the old one, used only to open signing keys sealed
  // before the rotation (docs/configuration.md "Rotating the key-encryption key").
  std::string previous_key_encryption_key;
  std::string previous_key_encryption_key_file;
  HttpLimits http;
  LogConfig log;
  TlsConfig tls;
  // Reverse proxies whose X-Forwarded-For/-Proto are believed (addresses or CIDR ranges).
  std::vector<std::string> trusted_proxies;
  // Who may read /metrics; secure by default: loopback only. Empty: nobody (403).
  std::vector<std::string> metrics_allowed_addresses{"127.0.0.1", "::1"};
  oauth::ProviderConfig provider;
};

// Flags given on the command line; unset ones leave the lower layers alone.
struct FlagOverrides {
  std::optional<std::string> listen;
  std::optional<std::string> issuer;
  std::optional<std::string> database_url;
  bool dev = false;
};

struct ConfigSources {
  std::optional<std::string> file;  // --config FILE
  // LATCHKEY_* variables (name, value); use process_environment() for the real one.
  std::vector<std::pair<std::string, std::string>> environment;
  FlagOverrides flags;
};

// One configuration key. `section`.`name` in TOML, `env` in the environment. `apply` checks a
// value and stores it, returning an error message (without the key's name) when it is bad.
// A string list is a TOML array of strings; in the environment, comma-separated.
enum class ValueKind { string, integer, boolean, string_list };
using ConfigValue = std::variant<std::string, std::int64_t, bool, std::vector<std::string>>;
struct ConfigKey {
  std::string_view section;
  std::string_view name;
  ValueKind kind;
  std::string_view env;
  std::optional<std::string> (*apply)(ServerConfig& config, const ConfigValue& value);
};

std::span<const ConfigKey> config_keys();

// The environment variable that carries the key-encryption key itself (never a flag).
inline constexpr std::string_view kKeyEncryptionKeyEnv = "LATCHKEY_KEY_ENCRYPTION_KEY";
inline constexpr std::string_view kPreviousKeyEncryptionKeyEnv = "LATCHKEY_PREVIOUS_KEY_ENCRYPTION_KEY";

// Every LATCHKEY_* variable of this process.
std::vector<std::pair<std::string, std::string>> process_environment();

// Loads and validates. Errors are one line that names the key, e.g.
// "config: tokens.acess_token_ttl: unknown key (line 7)".
std::expected<ServerConfig, std::string> load_config(const ConfigSources& sources);

}  // namespace latchkey::server
