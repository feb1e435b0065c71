#pragma once
// Thin RAII over the SQLite C API for the SQLite backend (internal: only sqlite/*.cpp include it).
// A Connection caches its prepared statements; a Statement borrows one and resets it when done.
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace latchkey::store::sqlite {

class Statement;

class Connection {
 public:
  // Opens `path` (created when missing) and applies the per-connection settings:
  // busy_timeout, journal_mode=WAL, synchronous=NORMAL (FULL when asked), foreign_keys=ON.
  Connection(const std::string& path, std::chrono::milliseconds busy_timeout, bool synchronous_full = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A cached statement for `sql` (prepared on first use with SQLITE_PREPARE_PERSISTENT).
  // `what` names the operation in error messages.
  Statement prepare(const char* sql, const char* what);
  // Runs a script of several statements, uncached (migrations, pragmas).
  void exec(const std::string& sql, const char* what);

  [[noreturn]] void fail(int rc, const char* what) const;
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  // Looked up by string_view (no allocation per statement); keys own their copy of the SQL.
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
};

class Statement {
 public:
  Statement(Connection& connection, sqlite3_stmt* stmt, const char* what)
      : connection_(&connection), stmt_(stmt), what_(what) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are numbered from 1, as in SQLite.
  Statement& bind(int index, const std::string& text);
  Statement& bind(int index, std::int64_t value);
  Statement& bind_blob(int index, const std::string& bytes);

  bool step();  // true: a row is ready; false: done. Throws StoreError on any failure.
  void run();   // steps a statement that returns no rows
  // Runs an INSERT; a primary-key clash throws StoreError(on_duplicate_key), a clash of
  // another UNIQUE constraint StoreError(on_duplicate_unique).
  void insert(const std::string& on_duplicate_key, const std::string& on_duplicate_unique = {});

  std::string text(int column) const;
  std::string blob(int column) const;
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  int changes() const { return sqlite3_changes(connection_->handle()); }

 private:
  void check_bind(int rc);
  Connection* connection_;
  sqlite3_stmt* stmt_;
  const char* what_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when left without commit() (an exception).
// IMMEDIATE takes the write lock at the start, so the busy timeout applies and no transaction
// fails later on a lock upgrade.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

}  // namespace latchkey::store::sqlite
