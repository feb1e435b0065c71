#pragma once
// Time is injected (DESIGN.md) so that expiry rules are testable with a fake clock.
#include <chrono>
#include <cstdint>

namespace latchkey::util {

using Timestamp = std::int64_t;  // seconds since the Unix epoch

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = 1'700'000'000) : now_(start) {}
  Timestamp now() const override { return now_; }
  void advance(Timestamp seconds) { now_ += seconds; }
  void set(Timestamp t) { now_ = t; }

 private:
  Timestamp now_;
};

}  // namespace latchkey::util
