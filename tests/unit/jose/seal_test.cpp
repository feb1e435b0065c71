#include "jose/seal.h"

#include <gtest/gtest.h>

#include "util/base64url.h"

namespace latchkey::jose {
namespace {

const std::string kKek(32, 'K');
const std::string kOtherKek(32, 'L');

TEST(Seal, RoundTrip) {
  util::SystemRandom random;
  for (std::string plaintext : {std::string("-----BEGIN PRIVATE KEY-----\n..."), std::string(), std::string(5000, 'z')}) {
    std::string sealed = seal(plaintext, kKek, random, "kid-1");
    auto opened = unseal(sealed, kKek, "kid-1");
    ASSERT_TRUE(opened) << opened.error();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(Seal, FormatIsVersionedNonceCiphertextTag) {
  util::SystemRandom random;
  std::string sealed = seal("secret", kKek, random);
  ASSERT_TRUE(sealed.starts_with("v1."));
  auto raw = util::base64url_decode(sealed.substr(3));
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 12u + 6u + 16u);
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
}

TEST(Seal, FreshNonceEveryTime) {
  util::SystemRandom random;
  EXPECT_NE(seal("same", kKek, random), seal("same", kKek, random));
}

TEST(Seal, WrongKeyFails) {
  util::SystemRandom random;
  auto opened = unseal(seal("secret", kKek, random), kOtherKek);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("wrong key-encryption key"), std::string::npos);
}

TEST(Seal, AadMustMatch) {
  util::SystemRandom random;
  std::string sealed = seal("secret", kKek, random, "kid-1");
  EXPECT_FALSE(unseal(sealed, kKek, "kid-2"));
  EXPECT_FALSE(unseal(sealed, kKek));
  EXPECT_FALSE(unseal(seal("secret", kKek, random), kKek, "kid-1"));
}

TEST(Seal, EveryTamperedByteIsDetected) {
  util::SystemRandom random;
  std::string sealed = seal("secret", kKek, random);
  std::string raw = *util::base64url_decode(sealed.substr(3));
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::string changed = raw;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    EXPECT_FALSE(unseal("v1." + util::base64url_encode(changed), kKek)) << "byte " << i;
  }
  EXPECT_FALSE(unseal("v1." + util::base64url_encode(raw.substr(0, raw.size() - 1)), kKek));
}

TEST(Seal, MalformedValuesFailCleanly) {
  util::SystemRandom random;
  std::string sealed = seal("secret", kKek, random);
  for (std::string bad : {std::string(), std::string("v1."), std::string("v2.") + sealed.substr(3), sealed.substr(3),
                          std::string("v1.!!!!"), std::string("v1.") + util::base64url_encode(std::string(27, 'a'))}) {
    EXPECT_FALSE(unseal(bad, kKek)) << bad;
  }
}

TEST(Seal, KekMustBe32Bytes) {
  util::SystemRandom random;
  EXPECT_THROW(seal("x", std::string(16, 'k'), random), std::invalid_argument);
  EXPECT_THROW(seal("x", "", random), std::invalid_argument);
  EXPECT_FALSE(unseal(seal("x", kKek, random), std::string(31, 'K')));
}

}  // namespace
}  // namespace latchkey::jose
