// The request log line: JSON or text, the fields operators need, and nothing that could be a secret.
#include "server/logging.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace latchkey::server {
namespace {

using namespace std::chrono_literals;

http::RequestRecord sample() {
  http::RequestRecord r;
  r.request_id = "0123abcd";
  r.method = "POST";
  r.path = "/token";
  r.status = 200;
  r.duration = 1500us;
  r.client_address = "198.51.100.7";
  r.scheme = "https";
  return r;
}

TEST(LoggingTest, JsonRequestLine) {
  Logger logger(stderr, LogLevel::info, LogFormat::json);
  auto line = logger.format_request(sample(), "2024-05-01T12:00:00.000Z");
  auto parsed = boost::json::parse(line).as_object();
  EXPECT_EQ(parsed.at("request_id").as_string(), "0123abcd");
  EXPECT_EQ(parsed.at("method").as_string(), "POST");
  EXPECT_EQ(parsed.at("path").as_string(), "/token");
  EXPECT_EQ(parsed.at("status").as_int64(), 200);
  EXPECT_DOUBLE_EQ(parsed.at("duration_ms").to_number<double>(), 1.5);
  EXPECT_EQ(parsed.at("remote").as_string(), "198.51.100.7");
  EXPECT_EQ(parsed.at("level").as_string(), "info");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LoggingTest, TextRequestLine) {
  Logger logger(stderr, LogLevel::info, LogFormat::text);
  auto line = logger.format_request(sample(), "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(line, "2024-05-01T12:00:00.000Z info POST /token 200 1.500ms 198.51.100.7 id=0123abcd");
}

TEST(LoggingTest, InteractionIdsAndControlCharactersNeverReachTheLog) {
  EXPECT_EQ(loggable_path("/interaction/s3cr3t-handle/login"), "/interaction/:id/login");
  EXPECT_EQ(loggable_path("/interaction/s3cr3t-handle"), "/interaction/:id");
  EXPECT_EQ(loggable_path("/a\nb"), "/a?b");
  EXPECT_EQ(loggable_path(std::string(1000, 'x')).size(), 256u);

  Logger logger(stderr, LogLevel::info, LogFormat::json);
  auto record = sample();
  record.path = "/x\"\n{\"injected\":1}";
  auto line = logger.format_request(record, "t");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NO_THROW(boost::json::parse(line));
  EXPECT_FALSE(boost::json::parse(line).as_object().contains("injected"));
}

TEST(LoggingTest, MessagesEscapeAndLevelsFilter) {
  Logger logger(stderr, LogLevel::warn, LogFormat::json);
  auto line = logger.format_message(LogLevel::error, "bad \"thing\"\n", "t");
  EXPECT_EQ(boost::json::parse(line).as_object().at("msg").as_string(), "bad \"thing\"\n");
  EXPECT_FALSE(logger.enabled(LogLevel::info));
  EXPECT_TRUE(logger.enabled(LogLevel::warn));
  EXPECT_TRUE(logger.enabled(LogLevel::error));
  logger.configure(LogLevel::debug, LogFormat::text);
  EXPECT_TRUE(logger.enabled(LogLevel::debug));
}

TEST(LoggingTest, LevelAndFormatNames) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::debug);
  EXPECT_EQ(parse_log_level("warn"), LogLevel::warn);
  EXPECT_EQ(parse_log_level("error"), LogLevel::error);
  EXPECT_EQ(parse_log_level("info"), LogLevel::info);
  EXPECT_EQ(resolve_log_format("auto", true), LogFormat::text);
  EXPECT_EQ(resolve_log_format("auto", false), LogFormat::json);
  EXPECT_EQ(resolve_log_format("json", true), LogFormat::json);
  EXPECT_EQ(resolve_log_format("text", false), LogFormat::text);
}

TEST(LoggingTest, WritesOneLinePerCall) {
  char buffer[4096] = {};
  std::FILE* memory = fmemopen(buffer, sizeof buffer, "w");
  ASSERT_NE(memory, nullptr);
  Logger logger(memory, LogLevel::info, LogFormat::json);
  logger.request(sample());
  logger.log(LogLevel::debug, "filtered out");
  logger.log("warn", "kept");
  std::fclose(memory);
  std::string text(buffer);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_EQ(text.find("filtered out"), std::string::npos);
  EXPECT_NE(text.find("\"msg\":\"kept\""), std::string::npos);
}

}  // namespace
}  // namespace latchkey::server
