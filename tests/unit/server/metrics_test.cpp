// Prometheus rendering, endpoint labels and the counting hooks; and the health endpoints.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include "server/ops.h"

namespace latchkey::server {
namespace {

using namespace std::chrono_literals;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(MetricsTest, EndpointLabelsAreBounded) {
  EXPECT_EQ(Metrics::kEndpoints[Metrics::endpoint_index("/token")], "/token");
  EXPECT_EQ(Metrics::kEndpoints[Metrics::endpoint_index("/interaction/abc123/login")], "/interaction");
  EXPECT_EQ(Metrics::kEndpoints[Metrics::endpoint_index("/assets/latchkey.css")], "/assets");
  EXPECT_EQ(Metrics::kEndpoints[Metrics::endpoint_index("/wp-admin.php")], "other");
  EXPECT_EQ(Metrics::kEndpoints[Metrics::endpoint_index("/tokenx")], "other");
}

TEST(MetricsTest, RequestsAndHistogram) {
  Metrics m;
  m.record_request("/token", 200, 3ms);
  m.record_request("/token", 200, 30ms);
  m.record_request("/token", 400, 20s);
  m.record_request("/nope", 404, 1ms);
  auto text = m.render({});
  EXPECT_TRUE(has_line(text, "latchkey_http_requests_total{endpoint=\"/token\",status=\"200\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "latchkey_http_requests_total{endpoint=\"/token\",status=\"400\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "latchkey_http_requests_total{endpoint=\"other\",status=\"404\"} 1")) << text;
  // Buckets are cumulative; the 20 s request is only in +Inf.
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.001\"} 0"));
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.005\"} 1"));
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.05\"} 2"));
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"10\"} 2"));
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"+Inf\"} 3"));
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_count{endpoint=\"/token\"} 3"));
  EXPECT_TRUE(has_line(text, "latchkey_http_request_duration_seconds_sum{endpoint=\"/token\"} 20.033"));
  // Unused endpoints add no series.
  EXPECT_EQ(text.find("endpoint=\"/jwks\""), std::string::npos);
  // Every sample line belongs to a declared family.
  EXPECT_NE(text.find("# TYPE latchkey_http_request_duration_seconds histogram\n"), std::string::npos);
}

TEST(MetricsTest, ObserverCounters) {
  Metrics m;
  oauth::ProviderObserver& observer = m;
  observer.login_succeeded();
  observer.login_failed();
  observer.login_failed();
  observer.token_issued("authorization_code");
  observer.token_issued("refresh_token");
  observer.token_issued("refresh_token");
  observer.token_issued("urn:example:unknown");
  observer.session_ended();
  auto text = m.render({.open_connections = 3, .ready = true, .start_time_seconds = 1700000000, .database_pool = {}});
  EXPECT_TRUE(has_line(text, "latchkey_logins_total{result=\"ok\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "latchkey_logins_total{result=\"failed\"} 2"));
  EXPECT_TRUE(has_line(text, "latchkey_tokens_issued_total{grant_type=\"authorization_code\"} 1"));
  EXPECT_TRUE(has_line(text, "latchkey_tokens_issued_total{grant_type=\"refresh_token\"} 2"));
  EXPECT_TRUE(has_line(text, "latchkey_tokens_issued_total{grant_type=\"client_credentials\"} 0"));
  EXPECT_TRUE(has_line(text, "latchkey_tokens_issued_total{grant_type=\"other\"} 1"));
  EXPECT_TRUE(has_line(text, "latchkey_sessions_created_total 1"));
  EXPECT_TRUE(has_line(text, "latchkey_sessions_ended_total 1"));
  EXPECT_TRUE(has_line(text, "latchkey_http_connections_open 3"));
  EXPECT_TRUE(has_line(text, "latchkey_ready 1"));
  EXPECT_TRUE(has_line(text, "process_start_time_seconds 1700000000"));
}

http::AddressList loopback_only() { return http::AddressList::parse({"127.0.0.1", "::1"}).value(); }

oauth::Request get(std::string path, std::string remote = "127.0.0.1") {
  oauth::Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.remote_address = std::move(remote);
  return r;
}

TEST(OpsEndpointsTest, HealthReadinessAndMetricsAccess) {
  Metrics metrics;
  std::optional<std::string> problem;
  OpsEndpoints ops(metrics, loopback_only(), [&] { return problem; }, [] { return std::size_t{1}; });
  EXPECT_FALSE(ops.handle(get("/token")));
  EXPECT_EQ(ops.handle(get("/healthz"))->status, 200);
  EXPECT_EQ(ops.handle(get("/readyz"))->status, 200);
  problem = "database: disk I/O error at /secret/path";
  auto not_ready = ops.handle(get("/readyz"));
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body.find("/secret/path"), std::string::npos);  // detail goes to the log only
  problem.reset();
  EXPECT_EQ(ops.handle(get("/readyz"))->status, 200);

  ops.set_pool_stats([] { return store::PoolStats{2, 5, 9}; });
  auto scrape = ops.handle(get("/metrics"));
  EXPECT_EQ(scrape->status, 200);
  EXPECT_NE(scrape->body.find("\nlatchkey_db_connections_in_use 2\n"), std::string::npos);
  EXPECT_NE(scrape->body.find("\nlatchkey_db_connections_idle 5\n"), std::string::npos);
  EXPECT_NE(scrape->body.find("\nlatchkey_db_connections_opened_total 9\n"), std::string::npos);
  EXPECT_EQ(scrape->header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(ops.handle(get("/metrics", "203.0.113.5"))->status, 403);
  auto post = get("/healthz");
  post.method = "POST";
  EXPECT_EQ(ops.handle(post)->status, 405);
}

TEST(OpsEndpointsTest, SqliteFileOfUrl) {
  EXPECT_EQ(sqlite_file_of("sqlite:latchkey.db"), "latchkey.db");
  EXPECT_EQ(sqlite_file_of("sqlite:///var/lib/latchkey/latchkey.db"), "/var/lib/latchkey/latchkey.db");
  EXPECT_EQ(sqlite_file_of("sqlite:latchkey.db?synchronous=full"), "latchkey.db");
  EXPECT_EQ(sqlite_file_of("memory:"), std::nullopt);
  EXPECT_TRUE(check_sqlite_file("/nonexistent/latchkey-test.db").has_value());
  EXPECT_TRUE(check_sqlite_file("/").has_value());  // not a regular file
}

}  // namespace
}  // namespace latchkey::server
