#pragma once
// The HTTP/1.1 adapter: Boost.Beast sessions that only read and write (the Beast "advanced
// server" shape); handling is a function from oauth::Request to oauth::Response, run on the
// pool thread that read the request.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "oauth/message.h"

namespace latchkey::http {

using Handler = std::function<oauth::Response(const oauth::Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP literal, v4 or v6 (without brackets)
  std::uint16_t port = 8080;       // 0: the system picks one; see Server::port()
  unsigned threads = 0;            // 0: std::thread::hardware_concurrency()
  std::size_t max_header_bytes = 8 * 1024;  // over it: 431 and close
  std::size_t max_body_bytes = 64 * 1024;   // over it: 413 and close
  std::chrono::seconds read_timeout{15};    // a request (or a response write) must finish in this
  std::size_t max_connections = 10000;      // connections over it are closed at accept
  std::chrono::seconds shutdown_timeout{5}; // in-flight requests get this long on stop()
  bool stop_on_signals = true;              // SIGTERM and SIGINT call stop()
};

class Server {
 public:
  // Binds and listens at once, so that port() is known before run(). Throws std::runtime_error
  // naming the address when it cannot bind.
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;

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
