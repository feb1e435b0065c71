#include "client/loopback.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/strings.h"

namespace latchkey::client {

namespace {

constexpr std::size_t kMaxRequestHead = 16 * 1024;
constexpr auto kIdleConnection = std::chrono::seconds(10);
constexpr std::size_t kMaxConnections = 32;

int bind_loopback(bool ipv6, std::uint16_t port, int& error) {
  int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  int rc;
  if (ipv6) {
    int only = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    addr.sin6_port = htons(port);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  // No SO_REUSEADDR: with it, a second process could also bind a fixed port and steal the code.
  if (rc != 0 || ::listen(fd, 16) != 0) {
    error = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

struct Connection {
  int fd;
  std::string buffer;
  std::chrono::steady_clock::time_point opened;
};

void send_all(int fd, std::string_view data) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!data.empty() && std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 200);
    } else {
      return;
    }
  }
}

void respond(int fd, int status, std::string_view reason, std::string_view html) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                     "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " + std::to_string(html.size()) +
                     "\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
                     "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
                     "Connection: close\r\n\r\n";
  send_all(fd, head + std::string(html));
}

}  // namespace

std::string callback_page(bool success, std::string_view message) {
  std::string title = success ? "Signed in" : "Sign-in failed";
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>latchkey: " + title +
         "</title><style>body{font-family:sans-serif;max-width:32em;margin:4em auto;color:#222}</style></head>"
         "<body><h1>" + title + "</h1><p>" + util::html_escape(message) +
         "</p><p>You may close this window and return to the terminal.</p></body></html>";
}

Result<LoopbackOptions> loopback_options_from_uri(std::string_view uri) {
  auto bad = [&](std::string why) {
    return fail(ErrorKind::usage, "--redirect-uri " + std::string(uri) + " " + why,
                "use http://127.0.0.1:PORT/callback (or http://[::1]:PORT/..., http://localhost:PORT/...)");
  };
  if (!uri.starts_with("http://")) return bad("is not an http:// loopback URI");
  std::string_view rest = uri.substr(7);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (path.find_first_of("?#") != std::string::npos) return bad("must not have a query or fragment");
  LoopbackOptions o;
  o.path = path;
  std::string_view port_text;
  if (authority.starts_with("[::1]")) {
    o.host = "::1";
    port_text = authority.substr(5);
  } else {
    auto colon = authority.find(':');
    std::string host = util::to_lower(authority.substr(0, colon));
    if (host != "127.0.0.1" && host != "localhost") return bad("does not point to the loopback interface");
    o.host = host;
    port_text = colon == std::string_view::npos ? "" : authority.substr(colon);
  }
  if (!port_text.empty()) {
    if (!port_text.starts_with(':') || port_text.size() < 2) return bad("has a malformed port");
    unsigned long port = 0;
    for (char c : port_text.substr(1)) {
      if (c < '0' || c > '9') return bad("has a malformed port");
      port = port * 10 + static_cast<unsigned long>(c - '0');
      if (port > 65535) return bad("has a port above 65535");
    }
    if (port != 0) o.ports.push_back(static_cast<std::uint16_t>(port));
  }
  return o;
}

Result<LoopbackListener> LoopbackListener::open(const LoopbackOptions& options) {
  std::vector<std::uint16_t> ports = options.ports.empty() ? std::vector<std::uint16_t>{0} : options.ports;
  // 127.0.0.1 first (RFC 8252 §7.3 recommends the IP literal); [::1] when IPv4 loopback is missing.
  std::vector<bool> families;
  if (options.host == "::1") families = {true};
  else if (options.host.empty()) families = {false, true};
  else families = {false};
  int last_error = 0;
  bool in_use = false;
  for (bool ipv6 : families) {
    // A busy port is not a missing IPv4 loopback: [::1] would change the redirect_uri the
    // provider may match exactly, so it is only tried when 127.0.0.1 itself is unavailable.
    if (ipv6 && in_use) break;
    for (auto port : ports) {
      int error = 0;
      int fd = bind_loopback(ipv6, port, error);
      if (fd >= 0) {
        std::uint16_t actual = bound_port(fd);
        std::string host = options.host == "localhost" ? "localhost" : ipv6 ? "[::1]" : "127.0.0.1";
        std::string uri = "http://" + host + ":" + std::to_string(actual) + options.path;
        return LoopbackListener(fd, actual, std::move(uri), options.path);
      }
      last_error = error;
      in_use = in_use || error == EADDRINUSE;
    }
  }
  std::string list;
  for (auto p : options.ports) list += (list.empty() ? "" : ",") + std::to_string(p);
  if (in_use)
    return fail(ErrorKind::usage, "cannot listen for the redirect: port " + list + " is in use",
                "stop what uses it, or pass another --redirect-port registered with the provider");
  return fail(ErrorKind::usage,
              "cannot listen on the loopback interface: " + std::string(std::strerror(last_error)),
              "use --device to log in without a local redirect");
}

LoopbackListener::LoopbackListener(LoopbackListener&& other) noexcept
    : fd_(other.fd_), port_(other.port_), redirect_uri_(std::move(other.redirect_uri_)), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

LoopbackListener::~LoopbackListener() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::string> LoopbackListener::wait(std::chrono::steady_clock::time_point deadline, const Callback& on_callback,
                                           const std::function<void()>& on_tick) {
  std::vector<Connection> connections;
  auto close_all = [&] {
    for (auto& c : connections) ::close(c.fd);
    connections.clear();
  };
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      close_all();
      return fail(ErrorKind::timeout, "timed out waiting for the browser to come back to " + redirect_uri_,
                  "run the login again (--timeout to wait longer), or use --device");
    }
    // Stray connections (pre-connects that never send, dead keep-alives) are dropped when idle.
    std::erase_if(connections, [&](const Connection& c) {
      if (now - c.opened < kIdleConnection) return false;
      ::close(c.fd);
      return true;
    });
    std::vector<pollfd> fds;
    fds.push_back({fd_, POLLIN, 0});
    for (const auto& c : connections) fds.push_back({c.fd, POLLIN, 0});
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    int rc = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(remaining, 250)));
    if (on_tick) on_tick();
    if (rc < 0 && errno != EINTR) {
      close_all();
      return fail(ErrorKind::internal, std::string("poll failed: ") + std::strerror(errno), "");
    }
    if (rc <= 0) continue;

    // Read from connections first (their indices match fds[1..]), then accept new ones.
    for (std::size_t i = connections.size(); i-- > 0;) {
      if (!(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Connection& c = connections[i];
      char chunk[4096];
      ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      bool drop = n <= 0;
      if (!drop) c.buffer.append(chunk, static_cast<std::size_t>(n));
      auto head_end = c.buffer.find("\r\n\r\n");
      if (!drop && head_end == std::string::npos && c.buffer.size() > kMaxRequestHead) {
        respond(c.fd, 431, "Request Header Fields Too Large", callback_page(false, "The request was too large."));
        drop = true;
      }
      if (!drop && head_end != std::string::npos) {
        std::string_view line(c.buffer.data(), c.buffer.find("\r\n"));
        auto sp1 = line.find(' ');
        auto sp2 = line.find(' ', sp1 == std::string_view::npos ? 0 : sp1 + 1);
        std::string_view method = line.substr(0, sp1);
        std::string_view target = sp1 == std::string_view::npos || sp2 == std::string_view::npos
                                      ? std::string_view{}
                                      : line.substr(sp1 + 1, sp2 - sp1 - 1);
        auto q = target.find('?');
        std::string_view path = target.substr(0, q);
        std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
        if (method == "GET" && path == path_) {
          auto result = on_callback(query);
          respond(c.fd, result ? 200 : 400, result ? "OK" : "Bad Request",
                  callback_page(result.has_value(), result ? "latchkey received the authorization. Signed in."
                                                           : result.error().what));
          close_all();
          return result;
        }
        // favicon.ico and anything else: not ours.
        respond(c.fd, 404, "Not Found", callback_page(false, "Nothing here."));
        drop = true;
      }
      if (drop) {
        ::close(c.fd);
        connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    if (fds[0].revents & POLLIN) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (connections.size() >= kMaxConnections) {
          ::close(connections.front().fd);
          connections.erase(connections.begin());
        }
        connections.push_back({fd, {}, std::chrono::steady_clock::now()});
      }
    }
  }
}

}  // namespace latchkey::client
