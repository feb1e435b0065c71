// The Beast <-> neutral message conversion of the HTTP adapter (no sockets).
#include "http/convert.h"

#include <gtest/gtest.h>

namespace latchkey::http {
namespace {

namespace bh = boost::beast::http;

TEST(HttpConvertTest, RequestSplitsTargetAndLowersHeaderNames) {
  BeastRequest in{bh::verb::post, "/token?a=1&b=%20", 11};
  in.insert("Content-Type", "application/x-www-form-urlencoded");
  in.insert("X-Twice", "1");
  in.insert("x-twice", "2");
  in.body() = "grant_type=authorization_code";
  auto out = to_oauth_request(in, "192.0.2.1");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->method, "POST");
  EXPECT_EQ(out->path, "/token");
  EXPECT_EQ(out->query, "a=1&b=%20");
  EXPECT_EQ(out->header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(out->header_count("x-twice"), 2u);
  EXPECT_EQ(out->body, "grant_type=authorization_code");
  EXPECT_EQ(out->remote_address, "192.0.2.1");
}

TEST(HttpConvertTest, NoQueryMeansEmptyQuery) {
  BeastRequest in{bh::verb::get, "/jwks", 11};
  auto out = to_oauth_request(in, "::1");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->path, "/jwks");
  EXPECT_EQ(out->query, "");
}

TEST(HttpConvertTest, NonOriginFormTargetsAreRefused) {
  EXPECT_FALSE(to_oauth_request(BeastRequest{bh::verb::get, "http://evil/", 11}, ""));
  EXPECT_FALSE(to_oauth_request(BeastRequest{bh::verb::options, "*", 11}, ""));
  EXPECT_FALSE(to_oauth_request(BeastRequest{bh::verb::get, "", 11}, ""));
}

TEST(HttpConvertTest, ResponseGetsLengthServerAndKeepsRepeatedHeaders) {
  oauth::Response r;
  r.status = 302;
  r.set_header("Location", "https://rp.example/cb?code=x");
  r.add_header("Set-Cookie", "a=1");
  r.add_header("Set-Cookie", "b=2");
  r.add_header("Content-Length", "999");  // framing is the adapter's, not the handler's
  r.body = "moved";
  auto out = to_beast_response(r, 11, true);
  EXPECT_EQ(out.result_int(), 302u);
  EXPECT_EQ(out[bh::field::location], "https://rp.example/cb?code=x");
  EXPECT_EQ(std::distance(out.find(bh::field::set_cookie), out.end()) >= 2, true);
  EXPECT_EQ(out.count(bh::field::set_cookie), 2u);
  EXPECT_EQ(out[bh::field::content_length], "5");
  EXPECT_EQ(out[bh::field::server], "latchkey");
  EXPECT_TRUE(out.keep_alive());
  EXPECT_FALSE(to_beast_response(r, 11, false).keep_alive());
}

TEST(HttpConvertTest, PlainErrorResponses) {
  auto out = plain_response(431, 11, false);
  EXPECT_EQ(out.result_int(), 431u);
  EXPECT_FALSE(out.keep_alive());
  EXPECT_EQ(out[bh::field::content_length], std::to_string(out.body().size()));
  EXPECT_EQ(out[bh::field::server], "latchkey");
}

}  // namespace
}  // namespace latchkey::http
