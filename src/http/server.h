#pragma once
// The HTTP/1.1 adapter: Boost.Beast sessions that only read and write (the Beast "advanced
// server" shape); handling is a function from oauth::Request to oauth::Response, run on the
// pool thread that read the request.
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oauth/message.h"

namespace latchkey::http {

// The neutral request the handler gets carries the client's address after trusted proxies (see
// trusted_proxies) and an "x-request-id" header holding this request's id; the response gets
// X-Request-Id back.
using Handler = std::function<oauth::Response(const oauth::Request&)>;

// What the adapter knows of one finished request, for access logs and metrics. Nothing of the
// query, the headers or the body: those may carry secrets.
struct RequestRecord {
  std::string_view request_id;
  std::string_view method;          // empty when the request line could not be read
  std::string_view path;            // without the query
  unsigned status = 0;
  std::chrono::nanoseconds duration{0};  // from the end of the headers to the response being ready
  std::string_view client_address;  // after trusted proxies
  std::string_view scheme;          // "http" or "https" (as the client used it, through a proxy too)
};

// PEM files; the certificate file may hold the chain after the leaf.
struct TlsFiles {
  std::string certificate_file;
  std::string private_key_file;
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP literal, v4 or v6 (without brackets)
  std::uint16_t port = 8080;       // 0: the system picks one; see Server::port()
  unsigned threads = 0;            // 0: one per CPU this process may run on
  std::size_t max_header_bytes = 8 * 1024;  // over it: 431 and close
  std::size_t max_body_bytes = 64 * 1024;   // over it: 413 and close
  std::chrono::seconds read_timeout{15};    // a request (or a response write) must finish in this
  std::size_t max_connections = 10000;      // connections over it are closed at accept
  std::chrono::seconds shutdown_timeout{5}; // in-flight requests get this long on stop()
  bool stop_on_signals = true;              // SIGTERM and SIGINT call stop()
  bool reload_on_sighup = true;             // SIGHUP reloads the TLS certificate (reload_tls())

  // Native TLS (1.2 and later) when set; plain HTTP otherwise.
  std::optional<TlsFiles> tls;
  // IP addresses or CIDR ranges of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto (and
  // X-Request-Id) are believed. From anyone else those headers are removed before the handler.
  std::vector<std::string> trusted_proxies;

  // Requests for which this says true (password checks: tens of ms of CPU each) are handled on a
  // pool of slow_threads threads (0: one per CPU this process may run on) instead of the I/O
  // threads, so that one login never holds up the requests queued behind it.
  std::function<bool(const oauth::Request&)> is_slow;
  unsigned slow_threads = 0;

  // Called once per answered request (on the thread that served it; must not block for long).
  std::function<void(const RequestRecord&)> on_request;
  // The adapter's own messages ("warn", "accept failed: ..."); stderr when unset.
  std::function<void(std::string_view level, std::string_view message)> log;
};

class Server {
 public:
  // Binds and listens at once, so that port() is known before run(). Throws std::runtime_error
  // naming the address when it cannot bind, or the file when the TLS certificate or key cannot
  // be loaded, or the entry of trusted_proxies that is not an address.
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;
  bool tls() const;
  std::size_t active_connections() const;

  // Loads the certificate and key files again. New connections use them; connections already
  // open keep theirs, and the listener stays. On failure the current certificate stays in use and
  // the error (naming the file, never key material) is returned. Safe from any thread.
  std::expected<void, std::string> reload_tls();

  // Serves on `threads` threads (the caller's is one of them) until stop() or a signal, then
  // returns once in-flight requests have finished or shutdown_timeout has passed.
  void run();

  // Graceful shutdown: stop accepting, close idle connections, let requests in progress finish.
  // Safe to call from any thread, more than once.
  void stop();

  struct Impl;  // implementation detail (public only so that the session type can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace latchkey::http
