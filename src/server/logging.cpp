#include "server/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "util/strings.h"

namespace latchkey::server {

namespace {

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

// RFC 3339 UTC with milliseconds: 2024-05-01T12:00:00.123Z
std::string now_timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

// JSON string contents (RFC 8259 §7): quotes, backslashes and control characters escaped.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Text lines stay one line: control characters are shown escaped.
std::string one_line(std::string_view text) { return util::escape_controls(text); }

std::string milliseconds_text(std::chrono::nanoseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(duration.count()) / 1e6);
  return text;
}

}  // namespace

LogLevel parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::debug;
  if (text == "warn" || text == "warning") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  return LogLevel::info;
}

LogFormat resolve_log_format(std::string_view text, bool stream_is_terminal) {
  if (text == "json") return LogFormat::json;
  if (text == "text") return LogFormat::text;
  return stream_is_terminal ? LogFormat::text : LogFormat::json;
}

std::string loggable_path(std::string_view path) {
  constexpr std::string_view kInteraction = "/interaction/";
  std::string out;
  if (path.starts_with(kInteraction)) {
    auto rest = path.substr(kInteraction.size());
    auto slash = rest.find('/');
    out = std::string(kInteraction) + ":id" + std::string(slash == std::string_view::npos ? "" : rest.substr(slash));
  } else {
    out = std::string(path.substr(0, 256));
  }
  if (out.size() > 256) out.resize(256);
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string Logger::format_message(LogLevel level, std::string_view message, std::string_view timestamp) const {
  std::string line;
  if (format_.load() == LogFormat::json) {
    line = "{\"ts\":\"" + std::string(timestamp) + "\",\"level\":\"" + std::string(level_name(level)) + "\",\"msg\":";
    append_json_string(line, message);
    line += "}";
  } else {
    line = std::string(timestamp) + " " + std::string(level_name(level)) + " " + one_line(message);
  }
  return line;
}

std::string Logger::format_request(const http::RequestRecord& r, std::string_view timestamp) const {
  std::string path = loggable_path(r.path);
  std::string method = r.method.empty() ? "-" : one_line(r.method.substr(0, 16));
  std::string line;
  if (format_.load() == LogFormat::json) {
    line = "{\"ts\":\"" + std::string(timestamp) + "\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":";
    append_json_string(line, r.request_id);
    line += ",\"method\":";
    append_json_string(line, method);
    line += ",\"path\":";
    append_json_string(line, path);
    line += ",\"status\":" + std::to_string(r.status) + ",\"duration_ms\":" + milliseconds_text(r.duration) +
            ",\"remote\":";
    append_json_string(line, r.client_address);
    line += ",\"scheme\":";
    append_json_string(line, r.scheme);
    line += "}";
  } else {
    line = std::string(timestamp) + " info " + method + " " + path + " " + std::to_string(r.status) + " " +
           milliseconds_text(r.duration) + "ms " + one_line(r.client_address) + " id=" + one_line(r.request_id);
  }
  return line;
}

void Logger::log(LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  write(format_message(level, message, now_timestamp()));
}

void Logger::request(const http::RequestRecord& record) {
  if (!enabled(LogLevel::info)) return;
  write(format_request(record, now_timestamp()));
}

void Logger::write(const std::string& line) {
  std::lock_guard lock(mutex_);
  // One write per line, so lines from several threads never interleave.
  std::string with_newline = line + "\n";
  std::fwrite(with_newline.data(), 1, with_newline.size(), out_);
  std::fflush(out_);
}

Logger& process_logger() {
  static Logger logger;
  return logger;
}

}  // namespace latchkey::server
