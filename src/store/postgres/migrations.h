#pragma once
// PostgreSQL schema migrations, side by side with sqlite/migrations.cpp: the same versions with
// the same meaning (version N here creates what version N creates there), in PostgreSQL's dialect.
// Append-only: a released version never changes.
#include <span>
#include <string_view>

namespace latchkey::store::postgres {

std::span<const std::string_view> migrations();

}  // namespace latchkey::store::postgres
