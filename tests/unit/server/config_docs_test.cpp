// docs/configuration.md is the operator's reference: it must name every key the loader knows,
// with its environment variable. The table in config.cpp is the one source of truth.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "server/config.h"

namespace latchkey::server {
namespace {

std::string read_docs() {
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../docs/configuration.md";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ConfigDocsTest, EveryKeyAndVariableIsDocumented) {
  std::string docs = read_docs();
  ASSERT_FALSE(config_keys().empty());
  for (const auto& key : config_keys()) {
    std::string dotted = "`" + std::string(key.section) + "." + std::string(key.name) + "`";
    std::string env = "`" + std::string(key.env) + "`";
    EXPECT_NE(docs.find(dotted), std::string::npos) << dotted << " is missing from docs/configuration.md";
    EXPECT_NE(docs.find(env), std::string::npos) << env << " is missing from docs/configuration.md";
    EXPECT_NE(docs.find("### [" + std::string(key.section) + "]"), std::string::npos) << key.section;
  }
  EXPECT_NE(docs.find("`" + std::string(kKeyEncryptionKeyEnv) + "`"), std::string::npos);
}

TEST(ConfigDocsTest, EnvironmentNamesFollowTheRule) {
  for (const auto& key : config_keys()) {
    std::string expected = "LATCHKEY_" + std::string(key.section) + "_" + std::string(key.name);
    for (auto& ch : expected) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(key.env, expected);
  }
}

TEST(ConfigDocsTest, KeysAreUnique) {
  auto keys = config_keys();
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j)
      EXPECT_FALSE(keys[i].section == keys[j].section && keys[i].name == keys[j].name) << keys[i].name;
}

}  // namespace
}  // namespace latchkey::server
