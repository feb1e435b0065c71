#pragma once
// The server's log: one line per event on stderr, JSON (one object per line, for journald and
// log shippers) or readable text (on a terminal). Per request: id, method, path (never the query),
// status, duration and client address; never a header, a query or a body, so no secret.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "http/server.h"

namespace latchkey::server {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };
enum class LogFormat { json, text };

// "debug" | "info" | "warn" (also "warning") | "error"; anything else is info.
LogLevel parse_log_level(std::string_view text);

// "json" | "text" | "auto": auto is text when `stream_is_terminal`, else json.
LogFormat resolve_log_format(std::string_view text, bool stream_is_terminal);

// The path as logged: interaction ids (handles of a login in progress) become ":id", control
// characters are replaced, and it is cut at 256 bytes.
std::string loggable_path(std::string_view path);

class Logger {
 public:
  explicit Logger(std::FILE* out = stderr, LogLevel level = LogLevel::info, LogFormat format = LogFormat::json)
      : out_(out), level_(level), format_(format) {}

  void configure(LogLevel level, LogFormat format) {
    level_.store(level);
    format_.store(format);
  }
  bool enabled(LogLevel level) const { return level >= level_.load(); }

  void log(LogLevel level, std::string_view message);
  // Level names as the protocol core and the HTTP adapter use them ("warn", "error", ...).
  void log(std::string_view level, std::string_view message) { log(parse_log_level(level), message); }
  void request(const http::RequestRecord& record);

  // The formatted lines, without writing (unit tests).
  std::string format_message(LogLevel level, std::string_view message, std::string_view timestamp) const;
  std::string format_request(const http::RequestRecord& record, std::string_view timestamp) const;

 private:
  void write(const std::string& line);

  std::FILE* out_;
  std::atomic<LogLevel> level_;
  std::atomic<LogFormat> format_;
  std::mutex mutex_;
};

// The process's logger (the protocol core's log sink writes to it).
Logger& process_logger();

}  // namespace latchkey::server
