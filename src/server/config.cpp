#include "server/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include <boost/url/parse.hpp>
#include <toml++/toml.h>

#include "http/address_list.h"
#include "util/strings.h"

extern char** environ;

namespace latchkey::server {
namespace {

using Error = std::optional<std::string>;

std::int64_t as_int(const ConfigValue& v) { return std::get<std::int64_t>(v); }
const std::string& as_string(const ConfigValue& v) { return std::get<std::string>(v); }
bool as_bool(const ConfigValue& v) { return std::get<bool>(v); }
const std::vector<std::string>& as_list(const ConfigValue& v) { return std::get<std::vector<std::string>>(v); }

Error one_of(const std::string& value, std::initializer_list<std::string_view> allowed) {
  std::string names;
  for (auto a : allowed) {
    if (value == a) return std::nullopt;
    names += (names.empty() ? "" : ", ") + std::string(a);
  }
  return "must be one of " + names + ", got \"" + value + "\"";
}

Error address_list(const std::vector<std::string>& entries) {
  auto parsed = http::AddressList::parse(entries);
  if (!parsed) return parsed.error();
  return std::nullopt;
}

Error in_range(std::int64_t v, std::int64_t low, std::int64_t high) {
  if (v < low || v > high)
    return "must be between " + std::to_string(low) + " and " + std::to_string(high) + ", got " + std::to_string(v);
  return std::nullopt;
}

std::array<store::ThrottleRule*, 4> throttle_rules(ServerConfig& c) {
  return {&c.provider.login_account_throttle, &c.provider.address_throttle, &c.provider.client_auth_throttle,
          &c.provider.user_code_throttle};
}

template <store::ThrottleRule oauth::ProviderConfig::*Rule>
Error set_throttle_failures(ServerConfig& c, const ConfigValue& v) {
  if (auto e = in_range(as_int(v), 1, 1000)) return e;
  (c.provider.*Rule).max_failures = as_int(v);
  return std::nullopt;
}

// Assigns an integer after a range check; used by every numeric key.
template <auto Member, std::int64_t Low, std::int64_t High>
Error set_int(ServerConfig& c, const ConfigValue& v) {
  if (auto e = in_range(as_int(v), Low, High)) return e;
  using Target = std::remove_reference_t<decltype(c.*Member)>;
  c.*Member = static_cast<Target>(as_int(v));
  return std::nullopt;
}

template <auto Member, std::int64_t Low, std::int64_t High>
Error set_provider_int(ServerConfig& c, const ConfigValue& v) {
  if (auto e = in_range(as_int(v), Low, High)) return e;
  c.provider.*Member = as_int(v);
  return std::nullopt;
}

template <auto Member, std::int64_t Low, std::int64_t High>
Error set_http_int(ServerConfig& c, const ConfigValue& v) {
  if (auto e = in_range(as_int(v), Low, High)) return e;
  using Target = std::remove_reference_t<decltype(c.http.*Member)>;
  c.http.*Member = static_cast<Target>(as_int(v));
  return std::nullopt;
}

constexpr std::int64_t kTenYears = 10LL * 365 * 24 * 3600;

// The one table of keys (see config.h). docs/configuration.md documents each of them, which
// tests/unit/server/config_docs_test.cpp checks.
const std::array kKeys = {
    ConfigKey{"server", "listen", ValueKind::string, "LATCHKEY_SERVER_LISTEN",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                auto parsed = parse_listen(as_string(v));
                if (!parsed) return parsed.error();
                c.listen = *parsed;
                return std::nullopt;
              }},
    ConfigKey{"server", "issuer", ValueKind::string, "LATCHKEY_SERVER_ISSUER",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                // Checked once every layer is merged (the https rule depends on --dev).
                c.provider.issuer = as_string(v);
                c.issuer_from_listen = false;
                return std::nullopt;
              }},
    ConfigKey{"server", "threads", ValueKind::integer, "LATCHKEY_SERVER_THREADS",
              set_int<&ServerConfig::threads, 0, 1024>},
    ConfigKey{"server", "max_header_bytes", ValueKind::integer, "LATCHKEY_SERVER_MAX_HEADER_BYTES",
              set_http_int<&HttpLimits::max_header_bytes, 1024, 1024 * 1024>},
    ConfigKey{"server", "max_body_bytes", ValueKind::integer, "LATCHKEY_SERVER_MAX_BODY_BYTES",
              set_http_int<&HttpLimits::max_body_bytes, 1024, 64 * 1024 * 1024>},
    ConfigKey{"server", "read_timeout_seconds", ValueKind::integer, "LATCHKEY_SERVER_READ_TIMEOUT_SECONDS",
              set_http_int<&HttpLimits::read_timeout_seconds, 1, 3600>},
    ConfigKey{"server", "max_connections", ValueKind::integer, "LATCHKEY_SERVER_MAX_CONNECTIONS",
              set_http_int<&HttpLimits::max_connections, 1, 1'000'000>},
    ConfigKey{"server", "shutdown_timeout_seconds", ValueKind::integer, "LATCHKEY_SERVER_SHUTDOWN_TIMEOUT_SECONDS",
              set_http_int<&HttpLimits::shutdown_timeout_seconds, 0, 600>},
    ConfigKey{"server", "trusted_proxies", ValueKind::string_list, "LATCHKEY_SERVER_TRUSTED_PROXIES",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = address_list(as_list(v))) return e;
                c.trusted_proxies = as_list(v);
                return std::nullopt;
              }},
    ConfigKey{"database", "url", ValueKind::string, "LATCHKEY_DATABASE_URL",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (as_string(v).empty()) return "must not be empty (e.g. sqlite:latchkey.db)";
                c.database_url = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"keys", "algorithm", ValueKind::string, "LATCHKEY_KEYS_ALGORITHM",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (as_string(v) != "ES256" && as_string(v) != "RS256")
                  return "must be ES256 or RS256, got \"" + as_string(v) + "\"";
                c.provider.signing_alg = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"keys", "encryption_key_file", ValueKind::string, "LATCHKEY_KEYS_ENCRYPTION_KEY_FILE",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (as_string(v).empty()) return "must not be empty";
                c.key_encryption_key_file = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"keys", "previous_encryption_key_file", ValueKind::string, "LATCHKEY_KEYS_PREVIOUS_ENCRYPTION_KEY_FILE",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (as_string(v).empty()) return "must not be empty";
                c.previous_key_encryption_key_file = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"tokens", "access_token_ttl", ValueKind::integer, "LATCHKEY_TOKENS_ACCESS_TOKEN_TTL",
              set_provider_int<&oauth::ProviderConfig::access_token_ttl, 1, 24 * 3600>},
    ConfigKey{"tokens", "id_token_ttl", ValueKind::integer, "LATCHKEY_TOKENS_ID_TOKEN_TTL",
              set_provider_int<&oauth::ProviderConfig::id_token_ttl, 1, 24 * 3600>},
    // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
    ConfigKey{"tokens", "code_ttl", ValueKind::integer, "LATCHKEY_TOKENS_CODE_TTL",
              set_provider_int<&oauth::ProviderConfig::code_ttl, 1, 600>},
    ConfigKey{"tokens", "refresh_token_ttl", ValueKind::integer, "LATCHKEY_TOKENS_REFRESH_TOKEN_TTL",
              set_provider_int<&oauth::ProviderConfig::refresh_token_ttl, 1, kTenYears>},
    ConfigKey{"tokens", "refresh_token_idle_ttl", ValueKind::integer, "LATCHKEY_TOKENS_REFRESH_TOKEN_IDLE_TTL",
              set_provider_int<&oauth::ProviderConfig::refresh_token_idle_ttl, 1, kTenYears>},
    ConfigKey{"tokens", "default_audience", ValueKind::string, "LATCHKEY_TOKENS_DEFAULT_AUDIENCE",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                c.provider.default_audience = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"sessions", "ttl", ValueKind::integer, "LATCHKEY_SESSIONS_TTL",
              set_provider_int<&oauth::ProviderConfig::session_ttl, 1, kTenYears>},
    ConfigKey{"sessions", "interaction_ttl", ValueKind::integer, "LATCHKEY_SESSIONS_INTERACTION_TTL",
              set_provider_int<&oauth::ProviderConfig::interaction_ttl, 1, 24 * 3600>},
    // RFC 8628 §3.2: expires_in and interval of the device authorization response.
    ConfigKey{"device", "code_ttl", ValueKind::integer, "LATCHKEY_DEVICE_CODE_TTL",
              set_provider_int<&oauth::ProviderConfig::device_code_ttl, 60, 24 * 3600>},
    ConfigKey{"device", "poll_interval", ValueKind::integer, "LATCHKEY_DEVICE_POLL_INTERVAL",
              set_provider_int<&oauth::ProviderConfig::device_poll_interval, 1, 60>},
    ConfigKey{"security", "allow_plain_pkce", ValueKind::boolean, "LATCHKEY_SECURITY_ALLOW_PLAIN_PKCE",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                c.provider.allow_plain_pkce = as_bool(v);
                return std::nullopt;
              }},
    // libsodium's Argon2id bounds: at least 1 pass and 8 KiB.
    ConfigKey{"security", "password_opslimit", ValueKind::integer, "LATCHKEY_SECURITY_PASSWORD_OPSLIMIT",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = in_range(as_int(v), 1, 100)) return e;
                c.provider.password_cost.opslimit = static_cast<unsigned long long>(as_int(v));
                return std::nullopt;
              }},
    ConfigKey{"security", "password_memlimit_kib", ValueKind::integer, "LATCHKEY_SECURITY_PASSWORD_MEMLIMIT_KIB",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = in_range(as_int(v), 8, 4 * 1024 * 1024)) return e;
                c.provider.password_cost.memlimit = static_cast<std::size_t>(as_int(v)) * 1024;
                return std::nullopt;
              }},
    // Brute-force throttling (issue 7 §4): how many failures before a lock, per counted thing.
    ConfigKey{"throttle", "login_account_max_failures", ValueKind::integer,
              "LATCHKEY_THROTTLE_LOGIN_ACCOUNT_MAX_FAILURES",
              set_throttle_failures<&oauth::ProviderConfig::login_account_throttle>},
    ConfigKey{"throttle", "address_max_failures", ValueKind::integer, "LATCHKEY_THROTTLE_ADDRESS_MAX_FAILURES",
              set_throttle_failures<&oauth::ProviderConfig::address_throttle>},
    ConfigKey{"throttle", "client_auth_max_failures", ValueKind::integer,
              "LATCHKEY_THROTTLE_CLIENT_AUTH_MAX_FAILURES",
              set_throttle_failures<&oauth::ProviderConfig::client_auth_throttle>},
    ConfigKey{"throttle", "user_code_max_failures", ValueKind::integer, "LATCHKEY_THROTTLE_USER_CODE_MAX_FAILURES",
              set_throttle_failures<&oauth::ProviderConfig::user_code_throttle>},
    // The window and the longest lock are shared by every rule.
    ConfigKey{"throttle", "window_seconds", ValueKind::integer, "LATCHKEY_THROTTLE_WINDOW_SECONDS",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = in_range(as_int(v), 1, 86400)) return e;
                for (auto* rule : throttle_rules(c)) rule->window = as_int(v);
                return std::nullopt;
              }},
    ConfigKey{"throttle", "max_lock_seconds", ValueKind::integer, "LATCHKEY_THROTTLE_MAX_LOCK_SECONDS",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = in_range(as_int(v), 2, 86400)) return e;
                for (auto* rule : throttle_rules(c)) rule->max_lock = as_int(v);
                return std::nullopt;
              }},
    ConfigKey{"log", "level", ValueKind::string, "LATCHKEY_LOG_LEVEL",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = one_of(as_string(v), {"debug", "info", "warn", "error"})) return e;
                c.log.level = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"log", "format", ValueKind::string, "LATCHKEY_LOG_FORMAT",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = one_of(as_string(v), {"json", "text", "auto"})) return e;
                c.log.format = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"tls", "certificate_file", ValueKind::string, "LATCHKEY_TLS_CERTIFICATE_FILE",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                c.tls.certificate_file = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"tls", "private_key_file", ValueKind::string, "LATCHKEY_TLS_PRIVATE_KEY_FILE",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                c.tls.private_key_file = as_string(v);
                return std::nullopt;
              }},
    ConfigKey{"metrics", "allowed_addresses", ValueKind::string_list, "LATCHKEY_METRICS_ALLOWED_ADDRESSES",
              [](ServerConfig& c, const ConfigValue& v) -> Error {
                if (auto e = address_list(as_list(v))) return e;
                c.metrics_allowed_addresses = as_list(v);
                return std::nullopt;
              }},
};

const ConfigKey* find_key(std::string_view section, std::string_view name) {
  for (const auto& k : kKeys)
    if (k.section == section && k.name == name) return &k;
  return nullptr;
}

bool is_section(std::string_view section) {
  return std::any_of(kKeys.begin(), kKeys.end(), [&](const ConfigKey& k) { return k.section == section; });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "; did you mean tokens.access_token_ttl?" for a near miss, else "".
std::string suggestion(std::string_view section, std::string_view name) {
  const ConfigKey* best = nullptr;
  std::size_t best_distance = 3;  // only close typos
  for (const auto& k : kKeys) {
    std::size_t d = edit_distance(section, k.section) + edit_distance(name, k.name);
    if (d < best_distance) best_distance = d, best = &k;
  }
  if (!best) return {};
  return "; did you mean " + std::string(best->section) + "." + std::string(best->name) + "?";
}

std::string kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::string: return "a string";
    case ValueKind::integer: return "an integer";
    case ValueKind::boolean: return "true or false";
    case ValueKind::string_list: return "an array of strings";
  }
  return "a value";
}

std::string line_suffix(const toml::source_region& where) {
  if (where.begin.line == 0) return {};
  return " (line " + std::to_string(where.begin.line) + ")";
}

std::optional<ConfigValue> toml_value(const toml::node& node, ValueKind kind) {
  switch (kind) {
    case ValueKind::string:
      if (auto s = node.value_exact<std::string>()) return ConfigValue{*s};
      break;
    case ValueKind::integer:
      if (auto i = node.value_exact<std::int64_t>()) return ConfigValue{*i};
      break;
    case ValueKind::boolean:
      if (auto b = node.value_exact<bool>()) return ConfigValue{*b};
      break;
    case ValueKind::string_list: {
      const auto* array = node.as_array();
      if (!array) break;
      std::vector<std::string> items;
      for (const auto& item : *array) {
        auto s = item.value_exact<std::string>();
        if (!s) return std::nullopt;
        items.push_back(*s);
      }
      return ConfigValue{std::move(items)};
    }
  }
  return std::nullopt;
}

// Text (environment, flags) to the key's type; strict, so "15s" or "yes please" are errors.
std::optional<ConfigValue> text_value(std::string_view text, ValueKind kind) {
  switch (kind) {
    case ValueKind::string: return ConfigValue{std::string(text)};
    case ValueKind::integer: {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
      return ConfigValue{v};
    }
    case ValueKind::boolean:
      if (text == "true" || text == "1") return ConfigValue{true};
      if (text == "false" || text == "0") return ConfigValue{false};
      return std::nullopt;
    case ValueKind::string_list: {
      std::vector<std::string> items;
      while (!text.empty()) {
        auto comma = text.find(',');
        if (auto item = util::trim(text.substr(0, comma)); !item.empty()) items.push_back(item);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
      }
      return ConfigValue{std::move(items)};
    }
  }
  return std::nullopt;
}

std::optional<std::string> apply_file(ServerConfig& config, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "config: cannot read " + path + ": " + std::strerror(errno);
  std::stringstream text;
  text << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    return "config: " + path + ": " + std::string(e.description()) + line_suffix(e.source());
  }
  for (const auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    const auto* table = section_node.as_table();
    if (!table) {
      if (is_section(section))
        return "config: " + section + ": must be a table ([" + section + "])" + line_suffix(section_node.source());
      return "config: " + section + ": unknown key" + line_suffix(section_node.source()) +
             " (keys live in sections such as [server])";
    }
    if (!is_section(section))
      return "config: " + section + ": unknown section" + line_suffix(section_node.source()) + suggestion(section, "");
    for (const auto& [name_key, node] : *table) {
      std::string name(name_key.str());
      std::string dotted = section + "." + name;
      const ConfigKey* key = find_key(section, name);
      if (!key) return "config: " + dotted + ": unknown key" + line_suffix(node.source()) + suggestion(section, name);
      auto value = toml_value(node, key->kind);
      if (!value) return "config: " + dotted + ": expected " + kind_name(key->kind) + line_suffix(node.source());
      if (auto err = key->apply(config, *value)) return "config: " + dotted + ": " + *err + line_suffix(node.source());
    }
  }
  return std::nullopt;
}

std::optional<std::string> apply_environment(ServerConfig& config,
                                             const std::vector<std::pair<std::string, std::string>>& env) {
  for (const auto& [name, value] : env) {
    if (name == kKeyEncryptionKeyEnv) {
      config.key_encryption_key = value;
      continue;
    }
    if (name == kPreviousKeyEncryptionKeyEnv) {
      config.previous_key_encryption_key = value;
      continue;
    }
    // An empty variable counts as unset, as shells and container runtimes often leave them.
    if (value.empty()) continue;
    const ConfigKey* key = nullptr;
    for (const auto& k : kKeys)
      if (k.env == name) key = &k;
    if (!key) {
      // A near miss of one of our variables is a typo, and an error; any other LATCHKEY_*
      // variable may belong to another tool (LATCHKEY_HOME of the CLI, LATCHKEY_SERVER_BIN of
      // the test harness) and is not ours to judge.
      for (const auto& k : kKeys)
        if (edit_distance(name, k.env) <= 2)
          return "config: " + name + ": unknown environment variable; did you mean " + std::string(k.env) + "?";
      continue;
    }
    std::string dotted = std::string(key->section) + "." + std::string(key->name);
    auto parsed = text_value(value, key->kind);
    if (!parsed) return "config: " + name + " (" + dotted + "): expected " + kind_name(key->kind);
    if (auto err = key->apply(config, *parsed)) return "config: " + name + " (" + dotted + "): " + *err;
  }
  return std::nullopt;
}

std::optional<std::string> apply_flag(ServerConfig& config, std::string_view flag, std::string_view section,
                                      std::string_view name, const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  const ConfigKey* key = find_key(section, name);
  if (auto err = key->apply(config, ConfigValue{*value})) return "config: " + std::string(flag) + ": " + *err;
  return std::nullopt;
}

}  // namespace

std::string ListenAddress::authority() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::expected<ListenAddress, std::string> parse_listen(std::string_view text) {
  const std::string usage = "expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or [::1]:8080, got \"" +
                            std::string(text) + "\"";
  std::string host;
  std::string_view port_text;
  if (text.starts_with("[")) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return std::unexpected(usage);
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    in6_addr addr{};
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1) return std::unexpected(usage);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::unexpected(usage);
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) != 1) return std::unexpected(usage);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return std::unexpected(usage);
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

bool is_loopback_host(std::string_view host) {
  if (host.starts_with("[") && host.ends_with("]")) host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1") return true;
  in_addr addr{};
  std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), &addr) == 1) return (ntohl(addr.s_addr) >> 24) == 127;
  return false;
}

std::expected<std::string, std::string> normalize_issuer(std::string_view issuer, bool dev) {
  auto parsed = boost::urls::parse_uri(issuer);
  if (!parsed) return std::unexpected("must be an absolute http(s) URL, got \"" + std::string(issuer) + "\"");
  const auto& url = *parsed;
  std::string scheme(url.scheme());
  if (scheme != "https" && scheme != "http")
    return std::unexpected("must be an http(s) URL, got \"" + std::string(issuer) + "\"");
  if (!url.has_authority() || url.encoded_host().empty())
    return std::unexpected("must name a host, got \"" + std::string(issuer) + "\"");
  if (url.has_userinfo()) return std::unexpected("must not carry user information");
  // RFC 8414 §2: "...that has no query or fragment components."
  if (url.has_query() || url.has_fragment())
    return std::unexpected("must have no query or fragment (RFC 8414 §2), got \"" + std::string(issuer) + "\"");
  // RFC 8414 §2 and OIDC Discovery §3: the issuer uses the https scheme. Plain http is only for
  // a loopback host (nothing crosses a network) or explicit development mode.
  if (scheme == "http" && !dev && !is_loopback_host(url.encoded_host()))
    return std::unexpected("must be https (RFC 8414 §2) unless the host is loopback or --dev is given, got \"" +
                           std::string(issuer) + "\"");
  std::string normalized(issuer);
  if (normalized.ends_with("/")) normalized.pop_back();
  if (normalized.ends_with("/")) return std::unexpected("must not end with a slash");
  return normalized;
}

std::span<const ConfigKey> config_keys() { return kKeys; }

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    if (!entry.starts_with("LATCHKEY_")) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

namespace {

std::expected<ServerConfig, std::string> load_config_from(const ConfigSources& sources) {
  ServerConfig config;
  config.dev = sources.flags.dev;
  if (config.dev) config.database_url = "sqlite:latchkey-dev.db";  // defaults of --dev, still overridable

  if (sources.file)
    if (auto err = apply_file(config, *sources.file)) return std::unexpected(*err);
  if (auto err = apply_environment(config, sources.environment)) return std::unexpected(*err);
  const auto& f = sources.flags;
  if (auto err = apply_flag(config, "--listen", "server", "listen", f.listen)) return std::unexpected(*err);
  if (auto err = apply_flag(config, "--issuer", "server", "issuer", f.issuer)) return std::unexpected(*err);
  if (auto err = apply_flag(config, "--database", "database", "url", f.database_url)) return std::unexpected(*err);

  // Both TLS files or neither: half a configuration would silently serve plain HTTP.
  if (config.tls.certificate_file.empty() != config.tls.private_key_file.empty())
    return std::unexpected(std::string("config: ") +
                           (config.tls.certificate_file.empty() ? "tls.certificate_file" : "tls.private_key_file") +
                           ": not set, but the other tls file is; set both or neither");

  if (config.issuer_from_listen) {
    config.provider.issuer = (config.tls.enabled() ? "https://" : "http://") + config.listen.authority();
    auto issuer = normalize_issuer(config.provider.issuer, config.dev);
    if (!issuer)
      return std::unexpected("config: server.issuer: not set, and the one derived from server.listen (" +
                             config.provider.issuer +
                             ") is not usable: it " + issuer.error() +
                             "; set server.issuer to the public https URL");
    config.provider.issuer = *issuer;
  } else {
    auto issuer = normalize_issuer(config.provider.issuer, config.dev);
    if (!issuer) return std::unexpected("config: server.issuer: " + issuer.error());
    config.provider.issuer = *issuer;
  }
  return config;
}

}  // namespace

std::expected<ServerConfig, std::string> load_config(const ConfigSources& sources) {
  // Errors quote what they were given (toml++'s view of the text, a bad value) and are printed as
  // one line: control characters are shown escaped, never raw.
  auto config = load_config_from(sources);
  if (!config) return std::unexpected(util::escape_controls(config.error()));
  return config;
}

}  // namespace latchkey::server
