#include "store/sqlite/connection.h"

#include "store/store.h"

namespace latchkey::store::sqlite {

namespace {

// SQLite's own message is terse ("database is locked"); say what it means for an operator.
std::string explain(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "the database stayed locked by another connection for longer than the busy timeout";
    case SQLITE_FULL:
      return "the disk (or the database's size limit) is full";
    case SQLITE_CORRUPT:
      return "the database file is corrupt";
    case SQLITE_NOTADB:
      return "the file is not a SQLite database";
    case SQLITE_READONLY:
      return "the database is read-only";
    case SQLITE_CANTOPEN:
      return "the database file cannot be opened (missing directory or no permission?)";
    case SQLITE_IOERR:
      return "an I/O error occurred";
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "permission denied";
    default:
      return {};
  }
}

}  // namespace

Connection::Connection(const std::string& path, std::chrono::milliseconds busy_timeout, bool synchronous_full)
    : path_(path) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    if (db_ == nullptr) throw StoreError("sqlite: cannot open '" + path + "': out of memory");
    try {
      fail(rc, "open");
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  try {
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
    // journal_mode answers with the mode in effect: a file system without shared memory (some
    // network mounts) keeps the old mode, and concurrent readers would then block writers.
    {
      Statement wal = prepare("PRAGMA journal_mode=WAL", "enable WAL");
      if (!wal.step() || wal.text(0) != "wal") {
        throw StoreError("sqlite: cannot enable WAL journal mode on '" + path_ + "'");
      }
    }
    exec(synchronous_full ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                          : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
         "configure connection");
  } catch (...) {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
    throw;
  }
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Statement Connection::prepare(const char* sql, const char* what) {
  auto it = cache_.find(std::string_view(sql));
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, what);
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(*this, it->second, what);
}

void Connection::exec(const std::string& sql, const char* what) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(rc, what);
}

void Connection::fail(int rc, const char* what) const {
  std::string message = "sqlite: " + std::string(what) + " failed on '" + path_ + "': ";
  std::string meaning = explain(rc);
  if (!meaning.empty()) message += meaning + " (";
  message += db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  if (!meaning.empty()) message += ")";
  throw StoreError(message);
}

Statement::~Statement() {
  sqlite3_reset(stmt_);  // its return code repeats the last step's error, already reported
  sqlite3_clear_bindings(stmt_);
}

void Statement::check_bind(int rc) {
  if (rc != SQLITE_OK) connection_->fail(rc, what_);
}

Statement& Statement::bind(int index, const std::string& text) {
  check_bind(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::bind_blob(int index, const std::string& bytes) {
  check_bind(sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  connection_->fail(rc, what_);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::insert(const std::string& on_duplicate_key, const std::string& on_duplicate_unique) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_DONE) return;
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) throw StoreError(on_duplicate_key);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    throw StoreError(on_duplicate_unique.empty() ? on_duplicate_key : on_duplicate_unique);
  }
  if (rc == SQLITE_ROW) return;
  connection_->fail(rc, what_);
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.prepare("BEGIN IMMEDIATE", "begin transaction").run();
}

Transaction::~Transaction() {
  if (open_ && connection_.in_transaction()) {
    sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  connection_.prepare("COMMIT", "commit transaction").run();
  open_ = false;
}

}  // namespace latchkey::store::sqlite
