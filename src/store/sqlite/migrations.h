#pragma once
// The SQLite schema as an ordered list of migrations: migration i (0-based) brings the schema to
// version i + 1. Append only: a released migration is never edited, a change is a new migration.
// Other dialects keep their own list side by side (src/store/postgres/migrations.cpp).
#include <span>
#include <string_view>

namespace latchkey::store::sqlite {

std::span<const std::string_view> migrations();

}  // namespace latchkey::store::sqlite
