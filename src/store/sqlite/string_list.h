#pragma once
// List columns (redirect_uris, scopes, ...) are stored as a JSON array of strings: unambiguous for
// any element (spaces, commas, quotes, empty strings) and readable with SQLite's json functions.
// A tiny codec of our own, because the store must not depend on the JSON library of upper layers.
#include <string>
#include <string_view>
#include <vector>

namespace latchkey::store::sqlite {

std::string encode_string_list(const std::vector<std::string>& items);

// Throws StoreError when `json` is not an array of strings (a corrupt or hand-edited column).
std::vector<std::string> decode_string_list(std::string_view json);

}  // namespace latchkey::store::sqlite
