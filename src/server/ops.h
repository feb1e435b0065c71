#pragma once
// The operational endpoints, answered by the server wiring in front of the protocol core:
//   /healthz  200 while the process answers (liveness);
//   /readyz   200 when the database answers and the signing keys are loaded, else 503 (readiness);
//   /metrics  Prometheus text, only for clients in metrics.allowed_addresses (403 otherwise).
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "http/address_list.h"
#include "oauth/message.h"
#include "server/metrics.h"

namespace latchkey::server {

// nullopt when ready, else what is wrong (for the log only, never for the caller).
using ReadinessCheck = std::function<std::optional<std::string>()>;

class OpsEndpoints {
 public:
  OpsEndpoints(Metrics& metrics, http::AddressList metrics_allowed, ReadinessCheck readiness,
               std::function<std::size_t()> open_connections);

  static bool is_ops_path(std::string_view path) {
    return path == "/healthz" || path == "/readyz" || path == "/metrics";
  }
  // The response for an ops path; nullopt for any other path.
  std::optional<oauth::Response> handle(const oauth::Request& request);

  // Runs the readiness check; logs when readiness changes (not on every probe).
  bool ready();

  // Where /metrics reads the database pool figures from.
  void set_pool_stats(std::function<store::PoolStats()> pool_stats) { pool_stats_ = std::move(pool_stats); }

 private:
  Metrics& metrics_;
  http::AddressList metrics_allowed_;
  ReadinessCheck readiness_;
  std::function<std::size_t()> open_connections_;
  std::function<store::PoolStats()> pool_stats_;
  std::int64_t start_time_;
  std::mutex state_mutex_;
  std::optional<bool> last_ready_;
};

}  // namespace latchkey::server

namespace latchkey::server {

// The file behind a "sqlite:PATH" or "sqlite:///PATH" URL; nullopt for other URLs.
std::optional<std::string> sqlite_file_of(const std::string& database_url);

// Readiness of a SQLite file the server holds open: the open connections keep working after the
// file is moved, deleted or made unreadable, but new connections and the next start would not, and
// writes to a deleted file are lost. So: it exists, is a regular file, and we may read and write it.
std::optional<std::string> check_sqlite_file(const std::string& path);

}  // namespace latchkey::server
