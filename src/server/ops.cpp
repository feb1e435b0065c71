#include "server/ops.h"

#include <chrono>

#include "server/logging.h"

namespace latchkey::server {

namespace {

oauth::Response text_response(int status, std::string body, std::string content_type = "text/plain; charset=utf-8") {
  oauth::Response r;
  r.status = status;
  r.set_header("Content-Type", std::move(content_type));
  r.set_header("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

}  // namespace

OpsEndpoints::OpsEndpoints(Metrics& metrics, http::AddressList metrics_allowed, ReadinessCheck readiness,
                           std::function<std::size_t()> open_connections)
    : metrics_(metrics),
      metrics_allowed_(std::move(metrics_allowed)),
      readiness_(std::move(readiness)),
      open_connections_(std::move(open_connections)),
      start_time_(std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()) {}

bool OpsEndpoints::ready() {
  std::optional<std::string> problem;
  try {
    problem = readiness_();
  } catch (const std::exception& e) {
    problem = e.what();
  }
  bool now_ready = !problem;
  std::lock_guard lock(state_mutex_);
  if (last_ready_ != now_ready) {
    if (now_ready)
      process_logger().log(LogLevel::info, "ready: the database answers and the signing keys are loaded");
    else
      process_logger().log(LogLevel::warn, "not ready: " + *problem);
    last_ready_ = now_ready;
  }
  return now_ready;
}

std::optional<oauth::Response> OpsEndpoints::handle(const oauth::Request& request) {
  if (!is_ops_path(request.path)) return std::nullopt;
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = text_response(405, "method not allowed\n");
    r.set_header("Allow", "GET, HEAD");
    return r;
  }
  if (request.path == "/healthz") return text_response(200, "ok\n");
  if (request.path == "/readyz") {
    // No detail for the caller: it could reveal paths or database errors; the log has it.
    return ready() ? text_response(200, "ready\n") : text_response(503, "not ready\n");
  }
  // /metrics: secure by default, only the configured addresses (loopback unless changed).
  if (!metrics_allowed_.contains(request.remote_address)) return text_response(403, "forbidden\n");
  Metrics::Gauges gauges;
  gauges.open_connections = open_connections_ ? open_connections_() : 0;
  gauges.ready = ready();
  gauges.start_time_seconds = start_time_;
  if (pool_stats_) gauges.database_pool = pool_stats_();
  return text_response(200, metrics_.render(gauges), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace latchkey::server

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace latchkey::server {

std::optional<std::string> sqlite_file_of(const std::string& database_url) {
  constexpr std::string_view kScheme = "sqlite:";
  if (!database_url.starts_with(kScheme)) return std::nullopt;
  std::string path = database_url.substr(kScheme.size());
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);  // ?synchronous=...
  if (path.starts_with("///")) path = path.substr(2);
  if (path.empty()) return std::nullopt;
  return path;
}

std::optional<std::string> check_sqlite_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "database file " + path + ": " + std::strerror(errno);
  if (!S_ISREG(info.st_mode)) return "database file " + path + ": not a regular file";
  if (::access(path.c_str(), R_OK | W_OK) != 0) return "database file " + path + ": " + std::strerror(errno);
  return std::nullopt;
}

}  // namespace latchkey::server
