// Trusted proxies and the /metrics allow list: IP and CIDR matching, X-Forwarded-For resolution.
#include "http/address_list.h"

#include <gtest/gtest.h>

namespace latchkey::http {
namespace {

AddressList list(std::vector<std::string> entries) {
  auto parsed = AddressList::parse(entries);
  EXPECT_TRUE(parsed) << parsed.error();
  return parsed.value_or(AddressList{});
}

TEST(AddressListTest, ExactAndCidrMatches) {
  auto l = list({"127.0.0.1", "10.0.0.0/8", "fd00::/8", "::1", "192.0.2.128/25"});
  EXPECT_TRUE(l.contains("127.0.0.1"));
  EXPECT_FALSE(l.contains("127.0.0.2"));
  EXPECT_TRUE(l.contains("10.255.1.2"));
  EXPECT_FALSE(l.contains("11.0.0.1"));
  EXPECT_TRUE(l.contains("fd12:3456::1"));
  EXPECT_FALSE(l.contains("fe80::1"));
  EXPECT_TRUE(l.contains("::1"));
  EXPECT_TRUE(l.contains("[::1]"));
  EXPECT_TRUE(l.contains("192.0.2.200"));
  EXPECT_FALSE(l.contains("192.0.2.100"));
  // A v4 client on a dual-stack socket.
  EXPECT_TRUE(l.contains("::ffff:10.1.2.3"));
  // Never a name, never garbage.
  EXPECT_FALSE(l.contains("localhost"));
  EXPECT_FALSE(l.contains(""));
  EXPECT_FALSE(l.contains("10.0.0.1 "));
}

TEST(AddressListTest, BadEntriesAreNamed) {
  for (const char* bad : {"example.com", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", "1.2.3"}) {
    auto parsed = AddressList::parse({bad});
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().find(bad), std::string::npos) << parsed.error();
  }
  EXPECT_TRUE(AddressList::parse({}).value().empty());
}

TEST(ForwardedTest, UntrustedPeerIsTheClient) {
  auto trusted = list({"10.0.0.1"});
  auto c = resolve_forwarded(trusted, "203.0.113.9", {"198.51.100.1"}, "https", "http");
  EXPECT_EQ(c.address, "203.0.113.9");
  EXPECT_EQ(c.scheme, "http");
  EXPECT_FALSE(c.forwarded);
  // No proxies configured: the same.
  auto none = resolve_forwarded(AddressList{}, "10.0.0.1", {"198.51.100.1"}, "https", "http");
  EXPECT_EQ(none.address, "10.0.0.1");
}

TEST(ForwardedTest, TrustedProxyGivesTheClient) {
  auto trusted = list({"10.0.0.0/24"});
  auto c = resolve_forwarded(trusted, "10.0.0.1", {"198.51.100.7"}, "https", "http");
  EXPECT_EQ(c.address, "198.51.100.7");
  EXPECT_EQ(c.scheme, "https");
  EXPECT_TRUE(c.forwarded);
}

TEST(ForwardedTest, SpoofedLeftEntriesAreIgnored) {
  // The client sent "X-Forwarded-For: 1.2.3.4" itself; our proxy appended the real address.
  auto trusted = list({"10.0.0.0/24"});
  auto c = resolve_forwarded(trusted, "10.0.0.1", {"1.2.3.4, 198.51.100.7, 10.0.0.2"}, "", "http");
  EXPECT_EQ(c.address, "198.51.100.7");
  // Split over two fields: one list.
  auto split = resolve_forwarded(trusted, "10.0.0.1", {"1.2.3.4", "198.51.100.7"}, "", "http");
  EXPECT_EQ(split.address, "198.51.100.7");
}

TEST(ForwardedTest, GarbageStopsAtTheLastGoodHop) {
  auto trusted = list({"10.0.0.0/24"});
  auto c = resolve_forwarded(trusted, "10.0.0.1", {"<script>, 10.0.0.3"}, "gopher", "http");
  EXPECT_EQ(c.address, "10.0.0.3");  // the proxy hop we could read
  EXPECT_EQ(c.scheme, "http");       // an unknown proto is not taken
  auto empty = resolve_forwarded(trusted, "10.0.0.1", {"not-an-ip"}, "", "https");
  EXPECT_EQ(empty.address, "10.0.0.1");
  EXPECT_EQ(empty.scheme, "https");
}

}  // namespace
}  // namespace latchkey::http
