#pragma once
// Shared by the libFuzzer targets: a property check that crashes loudly (libFuzzer then saves
// the input as crash-*), and splitting one input into fields so seeds stay readable text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace latchkey::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input cut at '\n' into exactly `n` fields (the last one takes the rest, newlines included;
// missing fields are empty).
inline std::vector<std::string_view> split_fields(std::string_view text, std::size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) break;
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  out.push_back(text);
  out.resize(n);
  return out;
}

}  // namespace latchkey::fuzz
