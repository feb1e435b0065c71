// The HTTP adapter's own checks and error answers (no sockets): RFC 9112 framing rules the parser
// leaves to us, and the 400/413/431/503 bodies in the form each kind of client reads.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "http/convert.h"

namespace latchkey::http {
namespace {

namespace bh = boost::beast::http;

BeastRequest request(unsigned version = 11) {
  BeastRequest r{bh::verb::post, "/token", version};
  r.set(bh::field::host, "idp.example");
  return r;
}

TEST(HttpFramingTest, WellFormedRequestsPass) {
  EXPECT_FALSE(framing_problem(request()));
  auto chunked = request();
  chunked.set(bh::field::transfer_encoding, "gzip, Chunked");
  EXPECT_FALSE(framing_problem(chunked));
  BeastRequest http10{bh::verb::get, "/", 10};  // HTTP/1.0 has no Host requirement
  EXPECT_FALSE(framing_problem(http10));
}

// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
// request message that lacks a Host header field and to any request message that contains more
// than one Host header field line".
TEST(HttpFramingTest, HostMustAppearExactlyOnce) {
  BeastRequest none{bh::verb::get, "/", 11};
  EXPECT_TRUE(framing_problem(none));
  auto twice = request();
  twice.insert(bh::field::host, "evil.example");
  EXPECT_TRUE(framing_problem(twice));
  BeastRequest http10_twice{bh::verb::get, "/", 10};
  http10_twice.insert(bh::field::host, "a");
  http10_twice.insert(bh::field::host, "b");
  EXPECT_TRUE(framing_problem(http10_twice));
}

// RFC 9112 §6.3: a Transfer-Encoding whose final coding is not chunked leaves the body length
// unknown: "the server MUST respond with the 400 (Bad Request) status code and then close".
TEST(HttpFramingTest, TransferEncodingMustEndInChunked) {
  for (const char* te : {"gzip", "chunked, gzip", "", " , "}) {
    auto r = request();
    r.set(bh::field::transfer_encoding, te);
    EXPECT_TRUE(framing_problem(r)) << "'" << te << "'";
  }
  auto split = request();  // several lines are one list: the last line's last coding counts
  split.insert(bh::field::transfer_encoding, "chunked");
  split.insert(bh::field::transfer_encoding, "gzip");
  EXPECT_TRUE(framing_problem(split));
}

TEST(HttpAdapterErrorTest, UnparsedRequestGetsPlainText) {
  auto r = adapter_error_response(431, std::nullopt, 11);
  EXPECT_EQ(r.result_int(), 431u);
  EXPECT_EQ(r[bh::field::content_type], "text/plain; charset=utf-8");
  EXPECT_FALSE(r.keep_alive());
}

TEST(HttpAdapterErrorTest, ApiClientGetsRfc6749Json) {
  auto r = adapter_error_response(413, std::string_view(""), 11);
  EXPECT_EQ(r.result_int(), 413u);
  EXPECT_EQ(r[bh::field::content_type], "application/json");
  EXPECT_EQ(r[bh::field::cache_control], "no-store");
  auto body = boost::json::parse(r.body()).as_object();
  EXPECT_EQ(body.at("error").as_string(), "invalid_request");
  EXPECT_FALSE(body.at("error_description").as_string().empty());
  auto busy = boost::json::parse(adapter_error_response(503, std::string_view("application/json"), 11).body());
  EXPECT_EQ(busy.as_object().at("error").as_string(), "temporarily_unavailable");
  EXPECT_FALSE(r.keep_alive());
}

TEST(HttpAdapterErrorTest, BrowserGetsAPageWithSecurityHeaders) {
  auto r = adapter_error_response(413, std::string_view("Text/HTML,application/xhtml+xml;q=0.9"), 11);
  EXPECT_EQ(r.result_int(), 413u);
  EXPECT_EQ(r[bh::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(r["Content-Security-Policy"].find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(r["X-Frame-Options"], "DENY");
  EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(r["Referrer-Policy"], "no-referrer");
  EXPECT_NE(r.body().find("<h1>Request too large</h1>"), std::string::npos);
}

}  // namespace
}  // namespace latchkey::http
