#pragma once
// Randomness is injected (DESIGN.md): production uses the OS CSPRNG through libsodium,
// tests use a deterministic source so that identifiers are predictable.
#include <cstddef>
#include <string>

namespace latchkey::util {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(void* out, std::size_t size) = 0;

  std::string bytes(std::size_t size) {
    std::string s(size, '\0');
    fill(s.data(), size);
    return s;
  }
  // A URL-safe token carrying `size` random bytes (32 bytes = 256 bits by default).
  std::string token(std::size_t size = 32);
};

class SystemRandom final : public Random {
 public:
  void fill(void* out, std::size_t size) override;
};

}  // namespace latchkey::util
