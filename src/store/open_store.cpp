#include "store/open_store.h"

#include "store/memory/memory_store.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace latchkey::store {

// Accepted: "memory:", "sqlite:PATH" (relative or absolute), "sqlite:///ABSOLUTE/PATH" (either with
// "?synchronous=full" for fsync on every commit) and
// "postgresql://..." or "postgres://..." (see postgres/postgres_store.h for the parameters).
// open_store does not migrate: `latchkey-server migrate` does (see sqlite/sqlite_store.h).
std::unique_ptr<Store> open_store(const std::string& url) {
  if (url == "memory:") return std::make_unique<memory::MemoryStore>();

  if (url.starts_with("sqlite:")) {
    std::string path = url.substr(std::string_view("sqlite:").size());
    if (path.starts_with("//")) {
      // URL form: only an empty host is meaningful for a local file ("sqlite:///abs/path").
      if (!path.starts_with("///")) {
        throw StoreError("database URL '" + url +
                         "': a sqlite URL has no host; write sqlite:PATH or sqlite:///absolute/path");
      }
      path = path.substr(2);
    }
    // "?synchronous=full|normal" after the path chooses durability (sqlite_store.h SqliteOptions).
    sqlite::SqliteOptions options;
    if (auto q = path.find('?'); q != std::string::npos) {
      const std::string param = path.substr(q + 1);
      path.resize(q);
      if (param == "synchronous=full") {
        options.synchronous_full = true;
      } else if (param != "synchronous=normal") {
        throw StoreError("database URL '" + url +
                         "': the only sqlite parameter is synchronous=full or synchronous=normal");
      }
    }
    if (path.empty()) {
      throw StoreError("database URL '" + url + "' names no file: write sqlite:PATH, e.g. sqlite:latchkey.db");
    }
    return sqlite::SqliteStore::open(path, options);
  }

  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    // Errors do not echo the URL: it may carry a password.
    return postgres::PostgresStore::open(url);
  }
  throw StoreError("unsupported database URL '" + url +
                   "': use sqlite:PATH (e.g. sqlite:latchkey.db), postgresql://USER@HOST/DATABASE or memory:");
}

}  // namespace latchkey::store
