// The operations keys ([log], [tls], [metrics], server.trusted_proxies) and the packaged
// /etc/latchkey/latchkey.toml, which must name every key of the table (commented defaults).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "server/config.h"
#include "temp_toml.h"

namespace latchkey::server {
namespace {

namespace fs = std::filesystem;

using testing::TempToml;

std::expected<ServerConfig, std::string> load_text(const std::string& toml) {
  TempToml file(toml);
  ConfigSources sources;
  sources.file = file.path();
  return load_config(sources);
}

TEST(OpsConfigTest, DefaultsAreSecure) {
  auto config = load_config({});
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->log.level, "info");
  EXPECT_EQ(config->log.format, "auto");
  EXPECT_FALSE(config->tls.enabled());
  EXPECT_TRUE(config->trusted_proxies.empty());  // no X-Forwarded-* believed from anyone
  EXPECT_EQ(config->metrics_allowed_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

TEST(OpsConfigTest, FileValues) {
  auto config = load_text(
      "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n"
      "[log]\nlevel = \"warn\"\nformat = \"json\"\n"
      "[tls]\ncertificate_file = \"/c.pem\"\nprivate_key_file = \"/k.pem\"\n"
      "[metrics]\nallowed_addresses = []\n");
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
  EXPECT_EQ(config->log.level, "warn");
  EXPECT_EQ(config->log.format, "json");
  EXPECT_TRUE(config->tls.enabled());
  EXPECT_TRUE(config->metrics_allowed_addresses.empty());
  // With TLS and no issuer, the derived issuer is https.
  EXPECT_EQ(config->provider.issuer, "https://127.0.0.1:8080");
}

TEST(OpsConfigTest, EnvironmentListIsCommaSeparated) {
  ConfigSources sources;
  sources.environment = {{"LATCHKEY_SERVER_TRUSTED_PROXIES", "192.0.2.1, 198.51.100.0/24"},
                         {"LATCHKEY_LOG_LEVEL", "debug"}};
  auto config = load_config(sources);
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->trusted_proxies, (std::vector<std::string>{"192.0.2.1", "198.51.100.0/24"}));
  EXPECT_EQ(config->log.level, "debug");
}

TEST(OpsConfigTest, BadValuesNameKeyAndLine) {
  auto bad_level = load_text("[log]\nlevel = \"loud\"\n");
  ASSERT_FALSE(bad_level);
  EXPECT_NE(bad_level.error().find("log.level: must be one of debug, info, warn, error"), std::string::npos)
      << bad_level.error();
  EXPECT_NE(bad_level.error().find("(line 2)"), std::string::npos) << bad_level.error();

  auto bad_proxy = load_text("[server]\n\ntrusted_proxies = [\"proxy.example\"]\n");
  ASSERT_FALSE(bad_proxy);
  EXPECT_NE(bad_proxy.error().find("server.trusted_proxies: \"proxy.example\" is not an IP address"),
            std::string::npos)
      << bad_proxy.error();
  EXPECT_NE(bad_proxy.error().find("(line 3)"), std::string::npos) << bad_proxy.error();

  auto not_a_list = load_text("[metrics]\nallowed_addresses = \"127.0.0.1\"\n");
  ASSERT_FALSE(not_a_list);
  EXPECT_NE(not_a_list.error().find("metrics.allowed_addresses: expected an array of strings"), std::string::npos)
      << not_a_list.error();

  auto typo = load_text("[tls]\ncertificate_fle = \"/c.pem\"\n");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().find("did you mean tls.certificate_file?"), std::string::npos) << typo.error();
}

TEST(OpsConfigTest, TlsNeedsBothFiles) {
  auto half = load_text("[tls]\ncertificate_file = \"/c.pem\"\n");
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().find("tls.private_key_file: not set"), std::string::npos) << half.error();
}

std::string read_source_file(const char* relative) {
  auto path = fs::path(__FILE__).parent_path() / "../../.." / relative;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The packaged configuration shows every key, commented out with its default, in its section.
TEST(OpsConfigTest, PackagedConfigNamesEveryKey) {
  std::string text = read_source_file("packaging/latchkey.toml");
  ASSERT_FALSE(text.empty());
  for (const auto& key : config_keys()) {
    std::string section = "[" + std::string(key.section) + "]";
    auto at = text.find(section);
    ASSERT_NE(at, std::string::npos) << section << " is missing from packaging/latchkey.toml";
    auto end = text.find("\n[", at + section.size());
    auto body = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    bool shown = body.find("\n# " + std::string(key.name) + " = ") != std::string::npos ||
                 body.find("\n" + std::string(key.name) + " = ") != std::string::npos;
    EXPECT_TRUE(shown)
        << key.section << "." << key.name << " is missing from its section of packaging/latchkey.toml";
  }
}

}  // namespace
}  // namespace latchkey::server
