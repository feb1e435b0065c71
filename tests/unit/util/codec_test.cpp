// util: base64url (RFC 4648 §5), form codec (WHATWG urlencoded), UTF-8, secrets.
#include <gtest/gtest.h>

#include "util/base64url.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/password.h"
#include "util/strings.h"

namespace latchkey::util {
namespace {

TEST(Base64Url, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    auto enc = base64url_encode(data);
    EXPECT_EQ(enc.find('='), std::string::npos);
    EXPECT_EQ(base64url_decode(enc), data);
    data += static_cast<char>(i * 37);
  }
}

TEST(Base64Url, IsStrict) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("-_8="));    // padding
  EXPECT_FALSE(base64url_decode("+/8"));     // standard alphabet
  EXPECT_FALSE(base64url_decode("a"));       // impossible length
  EXPECT_FALSE(base64url_decode("-_9"));     // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("ab cd"));
  EXPECT_EQ(base64_decode("YTpi"), "a:b");
  EXPECT_FALSE(base64_decode("YTpi="));
}

TEST(Form, ParsesKeepingOrderAndRepeats) {
  auto p = parse_form("a=1&b=x+y&a=%2F&c&=v&&d=");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->count("a"), 2u);
  EXPECT_EQ(p->get_or("a"), "1");
  EXPECT_EQ(p->get_or("b"), "x y");
  EXPECT_TRUE(p->has("c"));
  EXPECT_EQ(p->get_or("d", "none"), "");
  EXPECT_EQ(p->first_duplicate(), "a");
}

TEST(Form, RejectsMalformedInput) {
  EXPECT_FALSE(parse_form("a=%"));
  EXPECT_FALSE(parse_form("a=%4"));
  EXPECT_FALSE(parse_form("a=%GG"));
  EXPECT_FALSE(parse_form("a=%FF"));        // not UTF-8
  EXPECT_FALSE(parse_form("a=%C0%AF"));     // overlong
  EXPECT_FALSE(parse_form("a=%ED%A0%80"));  // surrogate
  EXPECT_FALSE(parse_form("a=%00"));
  EXPECT_TRUE(parse_form("a=%E2%82%AC"));
}

TEST(Form, EncodesWhatItParses) {
  std::vector<std::pair<std::string, std::string>> in{{"redirect_uri", "https://x/cb?a=1&b=2"}, {"s", "é ~"}};
  auto p = parse_form(encode_form(in));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->entries(), in);
}

TEST(Strings, SplitJoinSubset) {
  EXPECT_EQ(split_spaces(" openid  profile "), (std::vector<std::string>{"openid", "profile"}));
  EXPECT_EQ(join({"a", "b"}), "a b");
  EXPECT_TRUE(is_subset({"a"}, {"a", "b"}));
  EXPECT_FALSE(is_subset({"a", "c"}, {"a", "b"}));
  EXPECT_EQ(html_escape("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
}

TEST(Secrets, ConstantTimeEqualAndHashes) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_EQ(secret_hash("x").size(), 43u);
  EXPECT_NE(secret_hash("x"), secret_hash("y"));
}

TEST(Secrets, ClientSecretHashing) {
  auto stored = hash_client_secret("top-secret", "salt");
  EXPECT_TRUE(stored.starts_with("sha256$" + base64url_encode("salt") + "$"));
  // Raw random salts may hold the separator or NUL bytes.
  std::string raw_salt("a$b\0c$", 6);
  EXPECT_TRUE(verify_client_secret(hash_client_secret("s", raw_salt), "s"));
  EXPECT_FALSE(verify_client_secret(hash_client_secret("s", raw_salt), "t"));
  EXPECT_TRUE(verify_client_secret(stored, "top-secret"));
  EXPECT_FALSE(verify_client_secret(stored, "top-secreT"));
  EXPECT_FALSE(verify_client_secret("garbage", "top-secret"));
  EXPECT_FALSE(verify_client_secret("", ""));
}

TEST(Secrets, PasswordsUseArgon2id) {
  PasswordCost fast{1, 8192};
  auto h = hash_password("pw", fast);
  EXPECT_TRUE(h.starts_with("$argon2id$"));
  EXPECT_TRUE(verify_password(h, "pw"));
  EXPECT_FALSE(verify_password(h, "pW"));
  EXPECT_FALSE(verify_password("", "pw"));
  EXPECT_FALSE(verify_password("not a hash", "pw"));
}

}  // namespace
}  // namespace latchkey::util

TEST(Strings, EscapeControlsKeepsTextOnOneLine) {
  EXPECT_EQ(latchkey::util::escape_controls("plain text, caf\xc3\xa9"), "plain text, caf\xc3\xa9");
  EXPECT_EQ(latchkey::util::escape_controls(std::string("a\nb\rc\td\x07" "e\x7f\0", 11)), "a\\nb\\rc\\td\\x07e\\x7f\\x00");
}
