#pragma once
#include <memory>
#include <string>

#include "store/store.h"

namespace latchkey::store {

// Opens a backend from a database URL: "sqlite:PATH" (PATH may be relative), "postgresql://..."
// (libpq URL plus pool_max; see docs/deploy.md) or "memory:".
// Throws StoreError with a message that names the URL's problem.
std::unique_ptr<Store> open_store(const std::string& url);

}  // namespace latchkey::store
