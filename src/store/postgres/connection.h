#pragma once
// Thin RAII over libpq for the PostgreSQL backend (internal: only postgres/*.cpp include it).
// A Connection prepares each Sql once (PQprepare, on first use) and runs it with text parameters
// (PQexecPrepared); results are read as text.
//
// Errors (never with the parameters' values: they may be secrets or their hashes):
//  - the connection failed or was lost, or the server is shutting down, crashed or still starting
//    (SQLSTATE class 08, 57P01/57P02/57P03): StoreUnavailable, and the connection is marked broken
//    so the pool drops it;
//  - serialization failure or deadlock (40001, 40P01): RetryableConflict, which the store retries;
//  - unique violation (23505): UniqueViolation naming the constraint;
//  - anything else: StoreError naming the statement and the SQLSTATE.
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "store/store.h"

namespace latchkey::store::postgres {

// One SQL statement. `name` is its prepared-statement name and names the operation in errors.
struct Sql {
  const char* name;
  const char* text;
};

struct RetryableConflict : StoreError {
  using StoreError::StoreError;
};

struct UniqueViolation : StoreError {
  UniqueViolation(const std::string& message, std::string constraint_name)
      : StoreError(message), constraint(std::move(constraint_name)) {}
  std::string constraint;
};

class Result {
 public:
  explicit Result(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  bool empty() const { return rows() == 0; }
  std::string text(int row, int column) const;
  std::int64_t integer(int row, int column) const;
  bool boolean(int row, int column) const;
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::uint64_t affected() const;  // rows changed by an INSERT/UPDATE/DELETE

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

inline std::string param(const std::string& text) { return text; }
inline std::string param(std::int64_t value) { return std::to_string(value); }
inline std::string param(bool value) { return value ? "t" : "f"; }
std::string param(const char*) = delete;  // would silently pick the bool overload

class Connection {
 public:
  // Connects with a libpq connection string/URI; throws StoreUnavailable when that fails.
  explicit Connection(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  template <typename... Args>
  Result execute(const Sql& sql, const Args&... args) {
    return execute_params(sql, {param(args)...});
  }
  Result execute_params(const Sql& sql, const std::vector<std::string>& params);
  // Runs SQL without parameters through the simple protocol: transaction control, LOCK, and the
  // migration scripts (several statements at once).
  void run_script(const char* sql, const char* what);

  // Whether the connection may serve another call: not broken, not inside a transaction, and the
  // server did not close it while it sat idle (a restart or crash sends a termination message and
  // closes; noticing that here drops the connection before a request would fail on it).
  bool reusable();
  bool broken() const { return broken_; }

 private:
  [[noreturn]] void fail(const PGresult* result, const char* what);
  void check(const PGresult* result, ExecStatusType expected_a, ExecStatusType expected_b, const char* what);

  PGconn* conn_ = nullptr;
  std::unordered_set<std::string> prepared_;
  bool broken_ = false;
};

enum class Isolation { read_committed, serializable };

// BEGIN ... COMMIT; rolls back when left without commit() (an exception).
class Transaction {
 public:
  Transaction(Connection& connection, Isolation isolation);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

// Text that PostgreSQL can store in a TEXT column: valid UTF-8 without NUL characters.
bool storable_text(const std::string& text);

std::string hex_encode(const std::string& bytes);
std::string hex_decode(const std::string& hex);

}  // namespace latchkey::store::postgres
