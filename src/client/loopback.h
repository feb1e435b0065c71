#pragma once
// The loopback redirect receiver of a native app (RFC 8252 §7.3): listens on 127.0.0.1 (an
// ephemeral port unless ports are given; [::1] when IPv4 loopback is unavailable) BEFORE the
// authorization URL is shown, answers the browser with a small page, and ignores favicon requests,
// pre-connects and other stray connections.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "client/error.h"

namespace latchkey::client {

struct LoopbackOptions {
  std::vector<std::uint16_t> ports;  // empty: an ephemeral port; else the first one that is free
  std::string host;                  // "", "127.0.0.1", "::1" or "localhost" (from --redirect-uri)
  std::string path = "/callback";
};

// Parses an explicit --redirect-uri: it must be http to a loopback host (RFC 8252 §7.3/§8.3).
Result<LoopbackOptions> loopback_options_from_uri(std::string_view redirect_uri);

class LoopbackListener {
 public:
  static Result<LoopbackListener> open(const LoopbackOptions& options);
  LoopbackListener(LoopbackListener&& other) noexcept;
  LoopbackListener& operator=(LoopbackListener&&) = delete;
  ~LoopbackListener();

  std::string redirect_uri() const { return redirect_uri_; }
  std::uint16_t port() const { return port_; }

  // Serves connections until a GET to the callback path arrives; its query goes to `on_callback`,
  // whose result decides the page the browser sees and is returned. `on_tick` runs a few times a
  // second (to notice a browser command that failed). Past `deadline`: a timeout error.
  using Callback = std::function<Result<std::string>(std::string_view query)>;
  Result<std::string> wait(std::chrono::steady_clock::time_point deadline, const Callback& on_callback,
                           const std::function<void()>& on_tick = {});

 private:
  LoopbackListener(int fd, std::uint16_t port, std::string redirect_uri, std::string path)
      : fd_(fd), port_(port), redirect_uri_(std::move(redirect_uri)), path_(std::move(path)) {}
  int fd_;
  std::uint16_t port_;
  std::string redirect_uri_;
  std::string path_;
};

// The HTML page the browser gets (exposed for tests).
std::string callback_page(bool success, std::string_view message);

}  // namespace latchkey::client
