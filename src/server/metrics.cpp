#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace latchkey::server {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) { counter.fetch_add(n, kRelaxed); }

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::size_t Metrics::endpoint_index(std::string_view path) {
  if (path.starts_with("/interaction/")) path = "/interaction";
  else if (path.starts_with("/assets/")) path = "/assets";
  for (std::size_t i = 0; i + 1 < kEndpoints.size(); ++i)
    if (kEndpoints[i] == path) return i;
  return kEndpoints.size() - 1;
}

void Metrics::record_request(std::string_view path, unsigned status, std::chrono::nanoseconds duration) noexcept {
  auto& stats = endpoints_[endpoint_index(path)];
  add(stats.by_status[status < kStatuses ? status : 0]);
  add(stats.count);
  auto nanoseconds = duration.count() > 0 ? static_cast<std::uint64_t>(duration.count()) : 0;
  add(stats.sum_nanoseconds, nanoseconds);
  double seconds = static_cast<double>(nanoseconds) / 1e9;
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) {
      add(stats.buckets[i]);
      break;
    }
}

void Metrics::login_succeeded() noexcept {
  add(logins_ok_);
  add(sessions_created_);
}
void Metrics::login_failed() noexcept { add(logins_failed_); }
void Metrics::session_ended() noexcept { add(sessions_ended_); }

void Metrics::token_issued(std::string_view grant_type) noexcept {
  std::size_t i = 0;
  while (i + 1 < kGrants.size() && kGrants[i] != grant_type) ++i;
  add(tokens_[i]);
}

std::string Metrics::render(const Gauges& gauges) const {
  std::string out;
  out.reserve(8192);

  header(out, "latchkey_http_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (std::size_t e = 0; e < kEndpoints.size(); ++e)
    for (std::size_t s = 0; s < kStatuses; ++s)
      if (auto n = endpoints_[e].by_status[s].load(kRelaxed))
        out += "latchkey_http_requests_total{endpoint=\"" + std::string(kEndpoints[e]) + "\",status=\"" +
               (s ? std::to_string(s) : std::string("other")) + "\"} " + std::to_string(n) + "\n";

  header(out, "latchkey_http_request_duration_seconds", "histogram",
         "Time from the end of the request headers to the response being ready, by endpoint.");
  for (std::size_t e = 0; e < kEndpoints.size(); ++e) {
    const auto& stats = endpoints_[e];
    auto count = stats.count.load(kRelaxed);
    if (count == 0) continue;
    std::string label = "endpoint=\"" + std::string(kEndpoints[e]) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += stats.buckets[b].load(kRelaxed);
      out += "latchkey_http_request_duration_seconds_bucket{" + label + ",le=\"" + number(kBuckets[b]) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    // Read separately from the buckets, so +Inf is never below the last finite bucket.
    count = std::max(count, cumulative);
    out += "latchkey_http_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " + std::to_string(count) + "\n";
    out += "latchkey_http_request_duration_seconds_sum{" + label + "} " +
           number(static_cast<double>(stats.sum_nanoseconds.load(kRelaxed)) / 1e9) + "\n";
    out += "latchkey_http_request_duration_seconds_count{" + label + "} " + std::to_string(count) + "\n";
  }

  header(out, "latchkey_logins_total", "counter", "Sign-ins on the login page, by result.");
  out += "latchkey_logins_total{result=\"ok\"} " + std::to_string(logins_ok_.load(kRelaxed)) + "\n";
  out += "latchkey_logins_total{result=\"failed\"} " + std::to_string(logins_failed_.load(kRelaxed)) + "\n";

  header(out, "latchkey_tokens_issued_total", "counter", "Successful token responses, by grant type.");
  for (std::size_t g = 0; g < kGrants.size(); ++g)
    out += "latchkey_tokens_issued_total{grant_type=\"" + std::string(kGrants[g]) + "\"} " +
           std::to_string(tokens_[g].load(kRelaxed)) + "\n";

  // Counters rather than a gauge: counting live sessions would be a database query per scrape.
  // created - ended is an upper bound of active sessions (expiry is not counted).
  header(out, "latchkey_sessions_created_total", "counter", "Login sessions created (successful sign-ins).");
  out += "latchkey_sessions_created_total " + std::to_string(sessions_created_.load(kRelaxed)) + "\n";
  header(out, "latchkey_sessions_ended_total", "counter", "Login sessions ended by logout.");
  out += "latchkey_sessions_ended_total " + std::to_string(sessions_ended_.load(kRelaxed)) + "\n";

  header(out, "latchkey_http_connections_open", "gauge", "Open client connections.");
  out += "latchkey_http_connections_open " + std::to_string(gauges.open_connections) + "\n";
  header(out, "latchkey_db_connections_in_use", "gauge", "Database connections borrowed by a request right now.");
  out += "latchkey_db_connections_in_use " + std::to_string(gauges.database_pool.in_use) + "\n";
  header(out, "latchkey_db_connections_idle", "gauge", "Open database connections waiting in the pool.");
  out += "latchkey_db_connections_idle " + std::to_string(gauges.database_pool.idle) + "\n";
  header(out, "latchkey_db_connections_opened_total", "counter", "Database connections opened since start.");
  out += "latchkey_db_connections_opened_total " + std::to_string(gauges.database_pool.opened_total) + "\n";
  header(out, "latchkey_ready", "gauge", "1 when the database answers and the signing keys are loaded.");
  out += std::string("latchkey_ready ") + (gauges.ready ? "1" : "0") + "\n";
  header(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.");
  out += "process_start_time_seconds " + std::to_string(gauges.start_time_seconds) + "\n";
  return out;
}

}  // namespace latchkey::server
