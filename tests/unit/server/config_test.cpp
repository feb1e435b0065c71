#include "server/config.h"
#include "server/commands.h"
#include "temp_toml.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace latchkey::server {
namespace {

namespace fs = std::filesystem;

using testing::TempToml;

ServerConfig load_ok(const ConfigSources& sources) {
  auto config = load_config(sources);
  EXPECT_TRUE(config.has_value()) << config.error();
  return config.value_or(ServerConfig{});
}

std::string load_error(const ConfigSources& sources) {
  auto config = load_config(sources);
  EXPECT_FALSE(config.has_value());
  return config ? std::string() : config.error();
}

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  auto c = load_ok({});
  EXPECT_EQ(c.listen.authority(), "127.0.0.1:8080");
  EXPECT_EQ(c.provider.issuer, "http://127.0.0.1:8080");
  EXPECT_TRUE(c.issuer_from_listen);
  EXPECT_EQ(c.database_url, "sqlite:latchkey.db");
  EXPECT_EQ(c.provider.signing_alg, "ES256");
  EXPECT_EQ(c.provider.code_ttl, 600);
  EXPECT_EQ(c.http.max_header_bytes, 8192u);
  EXPECT_EQ(c.http.max_body_bytes, 65536u);
  EXPECT_EQ(c.http.read_timeout_seconds, 15);
  EXPECT_EQ(c.http.max_connections, 10000u);
  EXPECT_FALSE(c.provider.allow_plain_pkce);
}

TEST(ConfigTest, PrecedenceDefaultsFileEnvironmentFlags) {
  TempToml file(R"(
[server]
listen = "127.0.0.1:9001"
issuer = "https://file.example"
threads = 3
[database]
url = "sqlite:file.db"
[tokens]
access_token_ttl = 100
id_token_ttl = 200
)");
  ConfigSources sources;
  sources.file = file.path();
  auto from_file = load_ok(sources);
  EXPECT_EQ(from_file.listen.port, 9001);
  EXPECT_EQ(from_file.provider.issuer, "https://file.example");
  EXPECT_EQ(from_file.threads, 3u);
  EXPECT_EQ(from_file.database_url, "sqlite:file.db");
  EXPECT_EQ(from_file.provider.access_token_ttl, 100);
  EXPECT_EQ(from_file.provider.id_token_ttl, 200);
  EXPECT_EQ(from_file.provider.code_ttl, 600);  // untouched: default

  sources.environment = {{"LATCHKEY_DATABASE_URL", "sqlite:env.db"},
                         {"LATCHKEY_TOKENS_ACCESS_TOKEN_TTL", "300"},
                         {"LATCHKEY_SERVER_ISSUER", "https://env.example/"}};
  auto from_env = load_ok(sources);
  EXPECT_EQ(from_env.database_url, "sqlite:env.db");
  EXPECT_EQ(from_env.provider.access_token_ttl, 300);
  EXPECT_EQ(from_env.provider.id_token_ttl, 200);                // file still wins over default
  EXPECT_EQ(from_env.provider.issuer, "https://env.example");  // trailing slash stripped

  sources.flags.database_url = "sqlite:flag.db";
  sources.flags.listen = "[::1]:9002";
  sources.flags.issuer = "https://flag.example";
  auto from_flags = load_ok(sources);
  EXPECT_EQ(from_flags.database_url, "sqlite:flag.db");
  EXPECT_EQ(from_flags.listen.host, "::1");
  EXPECT_EQ(from_flags.listen.authority(), "[::1]:9002");
  EXPECT_EQ(from_flags.provider.issuer, "https://flag.example");
  EXPECT_EQ(from_flags.provider.access_token_ttl, 300);
}

TEST(ConfigTest, IssuerDefaultsToListenAddress) {
  ConfigSources sources;
  sources.flags.listen = "[::1]:7000";
  EXPECT_EQ(load_ok(sources).provider.issuer, "http://[::1]:7000");
}

TEST(ConfigTest, ProcessEnvironmentIsRead) {
  ::setenv("LATCHKEY_TOKENS_CODE_TTL", "120", 1);
  ConfigSources sources;
  sources.environment = process_environment();
  ::unsetenv("LATCHKEY_TOKENS_CODE_TTL");
  EXPECT_EQ(load_ok(sources).provider.code_ttl, 120);
  for (const auto& [name, value] : process_environment()) EXPECT_NE(name, "LATCHKEY_TOKENS_CODE_TTL");
}

TEST(ConfigTest, KeyEncryptionKeyComesFromItsOwnVariable) {
  ConfigSources sources;
  sources.environment = {{"LATCHKEY_KEY_ENCRYPTION_KEY", "abc"}, {"LATCHKEY_KEYS_ENCRYPTION_KEY_FILE", "/k"}};
  auto c = load_ok(sources);
  EXPECT_EQ(c.key_encryption_key, "abc");
  EXPECT_EQ(c.key_encryption_key_file, "/k");
}

TEST(ConfigTest, PreviousKeyEncryptionKeyDuringARotation) {
  const std::string current = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI";   // 32 x 'B'
  const std::string previous = "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M";  // 32 x 'C'
  ConfigSources sources;
  sources.environment = {{"LATCHKEY_KEY_ENCRYPTION_KEY", current}};
  EXPECT_EQ(load_key_encryption_keys(load_ok(sources)), std::vector<std::string>{std::string(32, 'B')});

  sources.environment.push_back({"LATCHKEY_PREVIOUS_KEY_ENCRYPTION_KEY", previous});
  auto c = load_ok(sources);
  EXPECT_EQ(c.previous_key_encryption_key, previous);
  EXPECT_EQ(load_key_encryption_keys(c), (std::vector<std::string>{std::string(32, 'B'), std::string(32, 'C')}));

  c.previous_key_encryption_key = current;  // the same key twice is a mistake in the procedure
  EXPECT_THROW(load_key_encryption_keys(c), CommandError);
  c.previous_key_encryption_key = "not a key";
  EXPECT_THROW(load_key_encryption_keys(c), CommandError);

  TempToml file("[keys]\nprevious_encryption_key_file = \"/etc/latchkey/old-kek\"\n");
  ConfigSources from_file;
  from_file.file = file.path();
  EXPECT_EQ(load_ok(from_file).previous_key_encryption_key_file, "/etc/latchkey/old-kek");
}

TEST(ConfigTest, UnknownKeyNamesKeyAndLine) {
  TempToml file("[server]\nlisten = \"127.0.0.1:1\"\n\n[tokens]\ncode_ttl = 60\n\nacess_token_ttl = 5\n");
  ConfigSources sources;
  sources.file = file.path();
  auto error = load_error(sources);
  EXPECT_NE(error.find("config: tokens.acess_token_ttl: unknown key (line 7)"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean tokens.access_token_ttl"), std::string::npos) << error;
}

TEST(ConfigTest, UnknownSectionAndTopLevelKey) {
  TempToml section("[tokenz]\ncode_ttl = 1\n");
  ConfigSources sources;
  sources.file = section.path();
  EXPECT_NE(load_error(sources).find("tokenz: unknown section (line 1)"), std::string::npos);
  TempToml top("listen = \"127.0.0.1:1\"\n");
  sources.file = top.path();
  EXPECT_NE(load_error(sources).find("listen: unknown key (line 1)"), std::string::npos);
}

TEST(ConfigTest, WrongTypeNamesKeyAndLine) {
  TempToml file("[tokens]\ncode_ttl = \"60\"\n");
  ConfigSources sources;
  sources.file = file.path();
  EXPECT_EQ(load_error(sources), "config: tokens.code_ttl: expected an integer (line 2)");
}

TEST(ConfigTest, SyntaxErrorAndMissingFile) {
  TempToml file("[server\n");
  ConfigSources sources;
  sources.file = file.path();
  EXPECT_NE(load_error(sources).find("(line 1)"), std::string::npos);
  sources.file = "/nonexistent/latchkey.toml";
  EXPECT_NE(load_error(sources).find("cannot read /nonexistent/latchkey.toml"), std::string::npos);
}

TEST(ConfigTest, BadValuesNameTheKey) {
  struct Case {
    std::string toml;
    std::string expected;
  };
  const Case cases[] = {
      {"[tokens]\naccess_token_ttl = -5\n", "config: tokens.access_token_ttl: must be between 1 and"},
      {"[tokens]\ncode_ttl = 0\n", "config: tokens.code_ttl: must be between 1 and 600"},
      {"[tokens]\ncode_ttl = 3600\n", "config: tokens.code_ttl: must be between 1 and 600"},
      {"[server]\nlisten = \"localhost:8080\"\n", "config: server.listen: expected HOST:PORT"},
      {"[server]\nlisten = \"127.0.0.1:99999\"\n", "config: server.listen: expected HOST:PORT"},
      {"[server]\nlisten = \"::1:8080\"\n", "config: server.listen: expected HOST:PORT"},
      {"[server]\nmax_body_bytes = 10\n", "config: server.max_body_bytes: must be between 1024"},
      {"[keys]\nalgorithm = \"HS256\"\n", "config: keys.algorithm: must be ES256 or RS256"},
      {"[keys]\nalgorithm = \"none\"\n", "config: keys.algorithm: must be ES256 or RS256"},
      {"[server]\nissuer = \"http://login.example.com\"\n", "config: server.issuer: must be https"},
      {"[server]\nissuer = \"https://login.example.com?x=1\"\n", "config: server.issuer: must have no query"},
      {"[server]\nissuer = \"https://login.example.com#f\"\n", "config: server.issuer: must have no query"},
      {"[server]\nissuer = \"ftp://login.example.com\"\n", "config: server.issuer: must be an http(s) URL"},
      {"[security]\npassword_memlimit_kib = 1\n", "config: security.password_memlimit_kib: must be between 8"},
  };
  for (const auto& c : cases) {
    TempToml file(c.toml);
    ConfigSources sources;
    sources.file = file.path();
    auto error = load_error(sources);
    EXPECT_TRUE(error.starts_with(c.expected)) << c.toml << " -> " << error;
  }
}

TEST(ConfigTest, ThrottleRulesAreConfigurable) {
  auto defaults = load_ok({});
  EXPECT_EQ(defaults.provider.login_account_throttle.max_failures, 5);
  EXPECT_EQ(defaults.provider.address_throttle.max_failures, 20);
  EXPECT_EQ(defaults.provider.client_auth_throttle.max_failures, 10);
  EXPECT_EQ(defaults.provider.user_code_throttle.window, 900);

  TempToml file(
      "[throttle]\nlogin_account_max_failures = 3\naddress_max_failures = 50\nclient_auth_max_failures = 7\n"
      "user_code_max_failures = 4\nwindow_seconds = 60\nmax_lock_seconds = 120\n");
  ConfigSources sources;
  sources.file = file.path();
  auto c = load_ok(sources);
  EXPECT_EQ(c.provider.login_account_throttle.max_failures, 3);
  EXPECT_EQ(c.provider.address_throttle.max_failures, 50);
  EXPECT_EQ(c.provider.client_auth_throttle.max_failures, 7);
  EXPECT_EQ(c.provider.user_code_throttle.max_failures, 4);
  for (const auto* rule : {&c.provider.login_account_throttle, &c.provider.address_throttle,
                           &c.provider.client_auth_throttle, &c.provider.user_code_throttle}) {
    EXPECT_EQ(rule->window, 60);
    EXPECT_EQ(rule->max_lock, 120);
  }

  sources.file.reset();
  sources.environment = {{"LATCHKEY_THROTTLE_LOGIN_ACCOUNT_MAX_FAILURES", "0"}};
  EXPECT_TRUE(load_error(sources).starts_with(
      "config: LATCHKEY_THROTTLE_LOGIN_ACCOUNT_MAX_FAILURES (throttle.login_account_max_failures): must be between 1"))
      << load_error(sources);
}

TEST(ConfigTest, ErrorsAreOneLineWhateverTheInput) {
  // Found by fuzz_toml_config: toml++ quotes the character it did not expect, here a newline.
  TempToml parse_error("[tls]\nacss = t\n");
  ConfigSources sources;
  sources.file = parse_error.path();
  auto error = load_error(sources);
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_NE(error.find("\\n"), std::string::npos) << error;  // shown escaped

  TempToml bad_value("[keys]\nalgorithm = \"ES\\n256\\u0007\"\n");
  sources.file = bad_value.path();
  error = load_error(sources);
  EXPECT_EQ(error, "config: keys.algorithm: must be ES256 or RS256, got \"ES\\n256\\x07\" (line 2)");
}

TEST(ConfigTest, BadEnvironmentValuesNameTheVariable) {
  ConfigSources sources;
  sources.environment = {{"LATCHKEY_TOKENS_CODE_TTL", "10m"}};
  EXPECT_EQ(load_error(sources), "config: LATCHKEY_TOKENS_CODE_TTL (tokens.code_ttl): expected an integer");
  sources.environment = {{"LATCHKEY_SECURITY_ALLOW_PLAIN_PKCE", "maybe"}};
  EXPECT_NE(load_error(sources).find("expected true or false"), std::string::npos);
  sources.environment = {{"LATCHKEY_TOKENS_ACESS_TOKEN_TTL", "10"}};
  EXPECT_NE(load_error(sources).find("did you mean LATCHKEY_TOKENS_ACCESS_TOKEN_TTL"), std::string::npos);
}

TEST(ConfigTest, ForeignLatchkeyVariablesAreIgnored) {
  ConfigSources sources;
  sources.environment = {{"LATCHKEY_HOME", "/x"}, {"LATCHKEY_SERVER_BIN", "/bin/x"}, {"LATCHKEY_TOKENS_CODE_TTL", ""}};
  EXPECT_EQ(load_ok(sources).provider.code_ttl, 600);
}

TEST(ConfigTest, BadFlagNamesTheFlag) {
  ConfigSources sources;
  sources.flags.listen = "nonsense";
  EXPECT_TRUE(load_error(sources).starts_with("config: --listen: expected HOST:PORT"));
}

TEST(ConfigTest, HttpIssuerOnNonLoopbackNeedsDev) {
  ConfigSources sources;
  sources.flags.issuer = "http://192.0.2.10:8080";
  EXPECT_NE(load_error(sources).find("must be https"), std::string::npos);
  sources.flags.dev = true;
  EXPECT_EQ(load_ok(sources).provider.issuer, "http://192.0.2.10:8080");
}

TEST(ConfigTest, WildcardListenNeedsAnIssuer) {
  ConfigSources sources;
  sources.flags.listen = "0.0.0.0:8080";
  auto error = load_error(sources);
  EXPECT_NE(error.find("server.issuer: not set"), std::string::npos) << error;
  sources.flags.issuer = "https://login.example.com";
  EXPECT_EQ(load_ok(sources).provider.issuer, "https://login.example.com");
}

TEST(ConfigTest, DevChangesOnlyDefaults) {
  ConfigSources sources;
  sources.flags.dev = true;
  EXPECT_EQ(load_ok(sources).database_url, "sqlite:latchkey-dev.db");
  EXPECT_EQ(load_ok(sources).provider.issuer, "http://127.0.0.1:8080");
  sources.flags.database_url = "sqlite:mine.db";
  EXPECT_EQ(load_ok(sources).database_url, "sqlite:mine.db");
}

TEST(ConfigTest, ParseListen) {
  EXPECT_EQ(parse_listen("127.0.0.1:0")->port, 0);
  EXPECT_EQ(parse_listen("[::]:443")->host, "::");
  EXPECT_FALSE(parse_listen("127.0.0.1"));
  EXPECT_FALSE(parse_listen("127.0.0.1:"));
  EXPECT_FALSE(parse_listen("127.0.0.1:-1"));
  EXPECT_FALSE(parse_listen("[::1]8080"));
  EXPECT_FALSE(parse_listen("[127.0.0.1]:8080"));
  EXPECT_FALSE(parse_listen("example.com:80"));
}

TEST(ConfigTest, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  EXPECT_FALSE(is_loopback_host("example.com"));
  EXPECT_FALSE(is_loopback_host("[::2]"));
}

}  // namespace
}  // namespace latchkey::server
