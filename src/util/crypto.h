#pragma once
// Hashing and comparison primitives, all from OpenSSL/libsodium.
#include <openssl/types.h>

#include <string>
#include <string_view>

namespace latchkey::util {

// SHA-256 fetched from OpenSSL's provider once per process (see crypto.cpp).
const EVP_MD* sha256_md();

std::string sha256(std::string_view data);  // 32 raw bytes
// Stored form of a bearer secret (code, refresh token, session id): base64url(SHA-256).
// The secrets carry 256 random bits, so a fast hash is enough: nothing to brute force.
std::string secret_hash(std::string_view secret);
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
// Constant-time equality for secrets (libsodium sodium_memcmp); false when sizes differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace latchkey::util
