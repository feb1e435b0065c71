#include "store/postgres/connection.h"

#include <poll.h>

#include <charconv>
#include <cstring>

#include "util/strings.h"

namespace latchkey::store::postgres {

namespace {

// libpq messages end with a newline and may add hint lines; the first line says it.
std::string first_line(const char* message) {
  if (message == nullptr) return {};
  std::string text(message);
  if (auto end = text.find('\n'); end != std::string::npos) text.resize(end);
  return text;
}

// SQLSTATEs meaning "this connection or the server is gone for now" (PostgreSQL Appendix A):
// class 08 connection exceptions, 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
// cannot_connect_now (starting up or in recovery).
bool is_connection_failure(const std::string& sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

}  // namespace

std::string Result::text(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  return std::string(value, static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::int64_t Result::integer(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  const char* end = value + PQgetlength(result_.get(), row, column);
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(value, end, out);
  if (ec != std::errc() || ptr != end) throw StoreError("postgresql: a column expected to hold an integer does not");
  return out;
}

bool Result::boolean(int row, int column) const { return PQgetvalue(result_.get(), row, column)[0] == 't'; }

std::uint64_t Result::affected() const {
  const char* count = PQcmdTuples(result_.get());
  std::uint64_t out = 0;
  std::from_chars(count, count + std::strlen(count), out);
  return out;
}

Connection::Connection(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (conn_ == nullptr) throw StoreUnavailable("postgresql: cannot connect: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string reason = first_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    throw StoreUnavailable("postgresql: cannot connect to the database: " + reason);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() { PQfinish(conn_); }

void Connection::fail(const PGresult* result, const char* what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state != nullptr ? state : "";
  // No SQLSTATE means libpq itself failed (connection lost, out of memory): treat as unavailable.
  if (PQstatus(conn_) != CONNECTION_OK || sqlstate.empty() || is_connection_failure(sqlstate)) {
    broken_ = true;
    std::string reason = first_line(result != nullptr ? PQresultErrorMessage(result) : nullptr);
    if (reason.empty()) reason = first_line(PQerrorMessage(conn_));
    throw StoreUnavailable("postgresql: " + std::string(what) + ": the database connection failed: " + reason);
  }
  std::string where = "postgresql: " + std::string(what) + " failed (SQLSTATE " + sqlstate + ")";
  if (sqlstate == "40001" || sqlstate == "40P01") throw RetryableConflict(where);
  if (sqlstate == "23505") {
    const char* constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
    throw UniqueViolation(where + ": duplicate key", constraint != nullptr ? constraint : "");
  }
  // Data exceptions (class 22) may quote the offending value, i.e. a parameter: left out.
  if (sqlstate.starts_with("22")) throw StoreError(where + ": invalid data");
  throw StoreError(where + ": " + first_line(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)));
}

void Connection::check(const PGresult* result, ExecStatusType expected_a, ExecStatusType expected_b,
                       const char* what) {
  if (result == nullptr) fail(nullptr, what);
  ExecStatusType status = PQresultStatus(result);
  if (status != expected_a && status != expected_b) fail(result, what);
}

Result Connection::execute_params(const Sql& sql, const std::vector<std::string>& params) {
  if (broken_) throw StoreUnavailable("postgresql: " + std::string(sql.name) + ": the connection is broken");
  if (!prepared_.contains(sql.name)) {
    PGresult* raw = PQprepare(conn_, sql.name, sql.text, 0, nullptr);
    Result prepared(raw);
    check(raw, PGRES_COMMAND_OK, PGRES_COMMAND_OK, sql.name);
    prepared_.insert(sql.name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* raw = PQexecPrepared(conn_, sql.name, static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0);
  Result result(raw);
  check(raw, PGRES_TUPLES_OK, PGRES_COMMAND_OK, sql.name);
  return result;
}

void Connection::run_script(const char* sql, const char* what) {
  if (broken_) throw StoreUnavailable("postgresql: " + std::string(what) + ": the connection is broken");
  PGresult* raw = PQexec(conn_, sql);
  Result result(raw);
  check(raw, PGRES_COMMAND_OK, PGRES_TUPLES_OK, what);
}

bool Connection::reusable() {
  if (broken_ || PQstatus(conn_) != CONNECTION_OK) return false;
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) return false;
  // An idle session gets nothing from the server unasked (no LISTEN, no SET) except the message
  // that it is being terminated, followed by EOF. So a readable socket means: gone, or going.
  pollfd fd{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
  return fd.fd >= 0 && poll(&fd, 1, 0) == 0;
}

Transaction::Transaction(Connection& connection, Isolation isolation) : connection_(connection) {
  connection_.run_script(isolation == Isolation::serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN",
                         "begin transaction");
}

Transaction::~Transaction() {
  if (!open_ || connection_.broken()) return;
  try {
    connection_.run_script("ROLLBACK", "roll back transaction");
  } catch (const StoreError&) {
    // The connection is marked broken (or left in a transaction) and will not be reused.
  }
}

void Transaction::commit() {
  open_ = false;  // whatever COMMIT answers, the transaction is over (a failed COMMIT rolls back)
  connection_.run_script("COMMIT", "commit transaction");
}

bool storable_text(const std::string& text) {
  return text.find('\0') == std::string::npos && util::is_valid_utf8(text);
}

std::string hex_encode(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0x0F];
  }
  return out;
}

std::string hex_decode(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw StoreError("postgresql: a bytea column did not come back as hex");
  };
  if (hex.size() % 2 != 0) throw StoreError("postgresql: a bytea column did not come back as hex");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1]));
  }
  return out;
}

}  // namespace latchkey::store::postgres
