#pragma once
// Prometheus metrics (text exposition format 0.0.4). Every counter is a relaxed atomic in a fixed
// array, so recording on the request path takes no lock and allocates nothing; only render()
// (a /metrics scrape) walks them.
#include "store/store.h"
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "oauth/observer.h"

namespace latchkey::server {

class Metrics final : public oauth::ProviderObserver {
 public:
  // Endpoint labels: the known paths, "/interaction" for every login/consent page (their ids would
  // make the label set unbounded), and "other" for everything else (404s, scanners).
  static constexpr std::array<std::string_view, 18> kEndpoints = {
      "/authorize", "/token", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
      "/jwks", "/device_authorization", "/device", "/revoke", "/introspect", "/userinfo", "/logout",
      "/interaction", "/assets", "/", "/metrics", "/healthz", "/readyz", "other"};
  // Latency histogram bounds in seconds (a login's Argon2id hash alone takes tens of ms).
  static constexpr std::array<double, 13> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,    1,     2.5,  5,    10};
  // Grant types with their own label; others count as "other".
  static constexpr std::array<std::string_view, 5> kGrants = {
      "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code",
      "other"};

  static std::size_t endpoint_index(std::string_view path);

  void record_request(std::string_view path, unsigned status, std::chrono::nanoseconds duration) noexcept;

  void login_succeeded() noexcept override;
  void login_failed() noexcept override;
  void token_issued(std::string_view grant_type) noexcept override;
  void session_ended() noexcept override;

  // Values sampled at scrape time by whoever owns them.
  struct Gauges {
    std::size_t open_connections = 0;
    bool ready = false;
    std::int64_t start_time_seconds = 0;  // process start, Unix time
    store::PoolStats database_pool;       // zeros for a backend without a pool
  };
  std::string render(const Gauges& gauges) const;

 private:
  static constexpr std::size_t kStatuses = 600;  // status codes 100..599 index themselves
  using Counter = std::atomic<std::uint64_t>;
  struct EndpointStats {
    std::array<Counter, kStatuses> by_status{};
    std::array<Counter, kBuckets.size()> buckets{};  // not cumulative; render() sums them up
    Counter count{0};
    Counter sum_nanoseconds{0};
  };
  std::array<EndpointStats, kEndpoints.size()> endpoints_{};
  Counter logins_ok_{0};
  Counter logins_failed_{0};
  std::array<Counter, kGrants.size()> tokens_{};
  Counter sessions_created_{0};
  Counter sessions_ended_{0};
};

}  // namespace latchkey::server
