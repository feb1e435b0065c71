// The physical bound of an interactive login: the time of one Argon2id verification at the
// server's default cost (util::PasswordCost), as the login endpoint spends it. Prints key=value.
#include <chrono>
#include <cstdio>
#include <string>

#include "util/password.h"

int main() {
  using Clock = std::chrono::steady_clock;
  const latchkey::util::PasswordCost cost;
  const std::string encoded = latchkey::util::hash_password("benchmark password", cost);
  constexpr int kRounds = 10;
  auto t0 = Clock::now();
  int ok = 0;
  for (int i = 0; i < kRounds; ++i) ok += latchkey::util::verify_password(encoded, "benchmark password") ? 1 : 0;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count() / kRounds;
  if (ok != kRounds) {
    std::fprintf(stderr, "argon2_bound: verification failed\n");
    return 1;
  }
  std::printf("argon2id_opslimit=%llu argon2id_memlimit_kib=%zu argon2id_verify_ms=%.2f argon2id_per_s_per_core=%.1f\n",
              cost.opslimit, cost.memlimit / 1024, seconds * 1000, 1.0 / seconds);
}
