#pragma once
// application/x-www-form-urlencoded and query-string codec (WHATWG URL §5, RFC 3986 §2.1).
// Parameters keep their order and their repetitions, because RFC 6749 §3.1 makes a repeated
// parameter an error that the protocol core must be able to see.
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace latchkey::util {

class Params {
 public:
  using Entry = std::pair<std::string, std::string>;

  void add(std::string name, std::string value) { entries_.emplace_back(std::move(name), std::move(value)); }
  // The value of `name`, or nullopt when absent. Use `count` first where repetition matters.
  std::optional<std::string_view> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string_view fallback = {}) const;
  std::size_t count(std::string_view name) const;
  bool has(std::string_view name) const { return count(name) > 0; }
  // The first parameter name that occurs more than once, if any.
  std::optional<std::string> first_duplicate() const;
  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

// Parses `a=1&b=2`. '+' means space. Fails on malformed percent-escapes and on names or values
// that are not valid UTF-8 or contain NUL. Empty pieces (`a=1&&b=2`) are skipped.
std::expected<Params, std::string> parse_form(std::string_view text);

// Percent-encodes everything outside RFC 3986 unreserved characters.
std::string url_encode(std::string_view text);
std::string encode_form(const std::vector<std::pair<std::string, std::string>>& params);
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

}  // namespace latchkey::util
