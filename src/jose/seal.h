#pragma once
// Sealing of secrets at rest (signing keys in the store) under a 32-byte key-encryption key.
// AES-256-GCM with a random 96-bit nonce (NIST SP 800-38D §8.2.2); the output is text so that it
// fits any column: "v1." + base64url(nonce[12] || ciphertext || tag[16]). The "v1." prefix lets a
// later format or KEK rotation coexist with stored values.
#include <expected>
#include <string>
#include <string_view>

#include "util/random.h"

namespace latchkey::jose {

inline constexpr std::size_t kKekSize = 32;

// `aad` is authenticated but not stored: unseal must be given the same value (e.g. the kid, so a
// sealed key moved to another row does not unseal). Throws std::invalid_argument on a bad KEK size.
std::string seal(std::string_view plaintext, std::string_view kek32, util::Random& random, std::string_view aad = {});

// Fails (never throws) on a wrong KEK, a wrong aad, tampering, or a malformed value.
std::expected<std::string, std::string> unseal(std::string_view sealed, std::string_view kek32,
                                               std::string_view aad = {});

}  // namespace latchkey::jose
