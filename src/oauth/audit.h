#pragma once
// Audit log of security events (issue 7 §7): one JSON object per line, through the same sink as
// every core log line (observer.h set_log_sink, level "info"), marked "audit": true so that it can
// be filtered out of the ordinary log:
//   {"audit":true,"event":"login_failed","client_id":"web","address":"192.0.2.1"}
// Callers pass identifiers only (user ids, client ids, grant ids, addresses, scopes): never a
// password, client secret, code, token, session id or anything a user typed as a secret.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace latchkey::oauth {

using AuditField = std::pair<std::string_view, std::string_view>;

// The JSON line for `event` with `fields` (empty values are left out). Pure, for tests.
std::string audit_line(std::string_view event, std::initializer_list<AuditField> fields);

// Writes audit_line(event, fields) to the log sink.
void audit(std::string_view event, std::initializer_list<AuditField> fields);

}  // namespace latchkey::oauth
