// The loopback listener is the one client test that uses sockets: it is a socket.
#include "client/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <thread>

namespace latchkey::client {
namespace {

TEST(LoopbackUri, AcceptsLoopbackHttpOnly) {
  auto o = loopback_options_from_uri("http://127.0.0.1:8250/cb");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->ports, std::vector<std::uint16_t>{8250});
  EXPECT_EQ(o->path, "/cb");
  auto v6 = loopback_options_from_uri("http://[::1]:9000/callback");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(loopback_options_from_uri("http://localhost/callback")->host, "localhost");
  EXPECT_FALSE(loopback_options_from_uri("https://127.0.0.1:8250/cb").has_value());
  EXPECT_FALSE(loopback_options_from_uri("http://example.com:8250/cb").has_value());
  EXPECT_FALSE(loopback_options_from_uri("http://127.0.0.1:99999/cb").has_value());
  EXPECT_FALSE(loopback_options_from_uri("http://127.0.0.1:80/cb?x=1").has_value());
}

TEST(LoopbackPage, EscapesTheMessage) {
  std::string page = callback_page(false, "<script>alert(1)</script>");
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("close this window"), std::string::npos);
}

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

std::string request(std::uint16_t port, const std::string& target) {
  int fd = connect_to(port);
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

TEST(LoopbackListener, IgnoresStrayConnectionsAndReturnsTheCallback) {
  auto listener = LoopbackListener::open({});
  ASSERT_TRUE(listener.has_value()) << listener.error().message();
  EXPECT_TRUE(listener->redirect_uri().starts_with("http://127.0.0.1:"));
  std::uint16_t port = listener->port();
  std::string favicon, callback;
  std::thread browser([&] {
    int idle = connect_to(port);  // a pre-connect that never sends anything
    favicon = request(port, "/favicon.ico");
    callback = request(port, "/callback?code=abc&state=s");
    ::close(idle);
  });
  auto result = listener->wait(std::chrono::steady_clock::now() + std::chrono::seconds(10), [](std::string_view q) {
    return Result<std::string>(std::string(q));
  });
  browser.join();
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(*result, "code=abc&state=s");
  EXPECT_TRUE(favicon.starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(callback.starts_with("HTTP/1.1 200"));
  EXPECT_NE(callback.find("close this window"), std::string::npos);
}

TEST(LoopbackListener, ErrorPageAndErrorResult) {
  auto listener = LoopbackListener::open({});
  ASSERT_TRUE(listener.has_value());
  std::string page;
  std::thread browser([&] { page = request(listener->port(), "/callback?error=access_denied"); });
  auto result = listener->wait(std::chrono::steady_clock::now() + std::chrono::seconds(10), [](std::string_view) {
    return Result<std::string>(fail(ErrorKind::refused, "denied by the user"));
  });
  browser.join();
  ASSERT_FALSE(result.has_value());
  EXPECT_TRUE(page.starts_with("HTTP/1.1 400"));
  EXPECT_NE(page.find("denied by the user"), std::string::npos);
}

TEST(LoopbackListener, TimesOut) {
  auto listener = LoopbackListener::open({});
  ASSERT_TRUE(listener.has_value());
  auto result = listener->wait(std::chrono::steady_clock::now() + std::chrono::milliseconds(300),
                               [](std::string_view) { return Result<std::string>("x"); });
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, ErrorKind::timeout);
}

TEST(LoopbackListener, BusyFixedPortFallsToTheNextOne) {
  auto first = LoopbackListener::open({});
  ASSERT_TRUE(first.has_value());
  auto second = LoopbackListener::open({{first->port(), 0}, "", "/callback"});
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->port(), first->port());
  auto only_busy = LoopbackListener::open({{first->port()}, "", "/callback"});
  ASSERT_FALSE(only_busy.has_value());
  EXPECT_NE(only_busy.error().what.find("in use"), std::string::npos);
}

}  // namespace
}  // namespace latchkey::client
