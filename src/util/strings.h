#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace latchkey::util {

bool is_valid_utf8(std::string_view s);
// Splits on single spaces as RFC 6749 §3.3 scope strings do; empty pieces are dropped.
std::vector<std::string> split_spaces(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep = " ");
std::string to_lower(std::string_view s);
std::string trim(std::string_view s);
std::string html_escape(std::string_view s);
// Text that will be printed as (part of) one line, e.g. a value quoted in an error message:
// newline, CR and tab as \n \r \t, other control characters as \xNN, everything else unchanged.
// A raw newline would split the message or forge a second log line.
std::string escape_controls(std::string_view s);
bool contains(const std::vector<std::string>& v, std::string_view item);
// True when every item of `subset` is in `set`.
bool is_subset(const std::vector<std::string>& subset, const std::vector<std::string>& set);

}  // namespace latchkey::util
