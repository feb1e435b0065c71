#pragma once
// Counting hooks of the protocol core, for the server's metrics. The core stays free of metrics
// and logging machinery: it tells an injected observer what happened, and the server decides
// what to do with it (lock-free counters). Called on request threads; must not block or throw.
#include <string_view>

namespace latchkey::oauth {

class ProviderObserver {
 public:
  virtual ~ProviderObserver() = default;
  virtual void login_succeeded() noexcept {}  // a user signed in: a session was created
  virtual void login_failed() noexcept {}     // wrong username or password, or an incomplete form
  virtual void token_issued(std::string_view grant_type) noexcept { (void)grant_type; }  // /token answered 200
  virtual void session_ended() noexcept {}    // a session was ended by logout
};

// Where the core's log lines (log_line in context.h) go: a function of the server's logger. Set
// once at start, before requests are served; until then (and in tests) they go to stderr.
using LogSink = void (*)(std::string_view level, std::string_view message);
void set_log_sink(LogSink sink);

}  // namespace latchkey::oauth
