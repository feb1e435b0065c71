#include "oauth/audit.h"

#include <boost/json.hpp>

#include "oauth/context.h"

namespace latchkey::oauth {
namespace {
constexpr std::size_t kMaxValueBytes = 256;
}  // namespace

std::string audit_line(std::string_view event, std::initializer_list<AuditField> fields) {
  boost::json::object line;
  line["audit"] = true;
  line["event"] = event;
  for (const auto& [name, value] : fields)
    // Values a caller typed (a claimed client_id) are capped so one request cannot flood the log.
    if (!value.empty()) line[name] = value.substr(0, kMaxValueBytes);
  // serialize escapes quotes and control characters, so a field cannot break the line or forge
  // another event.
  return boost::json::serialize(line);
}

void audit(std::string_view event, std::initializer_list<AuditField> fields) {
  log_line("info", audit_line(event, fields));
}

}  // namespace latchkey::oauth
