// Numbers a broken or hostile provider may send in token and device answers (found by
// fuzz/fuzz_json): out-of-range values read as absent, lifetimes are capped so that
// now + lifetime cannot overflow. Under scripts/sanitize.sh, UBSan also checks the conversions.
#include <gtest/gtest.h>

#include "client/tokens.h"
#include "fakes.h"

namespace latchkey::client {
namespace {

constexpr std::int64_t kYear = 366LL * 24 * 3600;

std::optional<std::int64_t> expires_in_of(const std::string& number) {
  auto t = parse_token_response({200, {}, R"({"access_token":"a","token_type":"Bearer","expires_in":)" + number + "}"},
                                "x");
  EXPECT_TRUE(t.has_value());
  return t ? t->expires_in : std::nullopt;
}

TEST(HostileNumbers, OutOfRangeExpiresInReadsAsAbsent) {
  EXPECT_EQ(expires_in_of("1e400"), std::nullopt) << "infinity once parsed";
  EXPECT_EQ(expires_in_of("-1e400"), std::nullopt);
  EXPECT_EQ(expires_in_of("1e300"), std::nullopt);
  EXPECT_EQ(expires_in_of("18446744073709551615"), std::nullopt) << "2^64-1 is no int64";
  EXPECT_EQ(expires_in_of("3600.0"), 3600) << "a whole double is fine";
  EXPECT_EQ(expires_in_of("\"3600\""), 3600);
}

TEST(HostileNumbers, HugeLifetimesAreCappedAtAYear) {
  EXPECT_EQ(expires_in_of("9223372036854775807"), kYear);
  EXPECT_EQ(expires_in_of("9.2e18"), kYear);
  EXPECT_EQ(expires_in_of(std::to_string(kYear)), kYear);
}

TEST(HostileNumbers, DeviceAnswerLifetimeAndIntervalAreCapped) {
  testing::FakeHttp http;
  http.on("POST", "https://idp.example/device", 200,
          R"({"device_code":"DC","user_code":"ABCD-EFGH","verification_uri":"https://idp.example/device",)"
          R"("expires_in":9223372036854775807,"interval":1e400})");
  ProviderMetadata m;
  m.issuer = "https://idp.example";
  m.device_authorization_endpoint = "https://idp.example/device";
  auto d = start_device_authorization(http, m, {"cli", ""}, "openid", "");
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->expires_in, kYear);
  EXPECT_EQ(d->interval, 5) << "an unusable interval falls back to the RFC 8628 §3.2 default";
}

}  // namespace
}  // namespace latchkey::client
