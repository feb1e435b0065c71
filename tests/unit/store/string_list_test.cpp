#include "store/sqlite/string_list.h"

#include <gtest/gtest.h>

#include "store/store.h"

namespace latchkey::store::sqlite {
namespace {

TEST(StringList, EncodesAsAJsonArray) {
  EXPECT_EQ(encode_string_list({}), "[]");
  EXPECT_EQ(encode_string_list({"a", "b c"}), R"(["a","b c"])");
  EXPECT_EQ(encode_string_list({"q\"b\\", std::string("\x01\n", 2)}), R"(["q\"b\\","\u0001\u000a"])");
}

TEST(StringList, RoundTripsAwkwardElements) {
  std::vector<std::string> items = {"", " ", "a,b", "[\"x\"]", "tab\tnew\nline", "ünïcødé 😀", std::string("\0z", 2)};
  EXPECT_EQ(decode_string_list(encode_string_list(items)), items);
}

TEST(StringList, DecodesJsonWrittenByOtherTools) {
  EXPECT_EQ(decode_string_list(R"( [ "a" , "\/\u00fc\ud83d\ude00" ] )"),
            (std::vector<std::string>{"a", "/ü😀"}));
}

TEST(StringList, RejectsWhatIsNotAnArrayOfStrings) {
  for (const char* bad : {"", "openid profile", "[", "[\"a\"", "[\"a\",]", "[1]", "{}", "[\"a\"] x", "[\"\\x\"]",
                          "[\"\\ud83d\"]", "[\"\\u12\"]"}) {
    EXPECT_THROW(decode_string_list(bad), StoreError) << bad;
  }
}

}  // namespace
}  // namespace latchkey::store::sqlite
