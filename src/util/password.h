#pragma once
// Password hashing with Argon2id (libsodium crypto_pwhash_str): memory-hard, salted, and the
// encoded string carries its own parameters, so the cost can rise without a migration.
#include <string>
#include <string_view>

namespace latchkey::util {

struct PasswordCost {
  // OWASP's Argon2id minimum: 19 MiB, 2 iterations, 1 lane.
  unsigned long long opslimit = 2;
  std::size_t memlimit = 19 * 1024 * 1024;
};

std::string hash_password(std::string_view password, const PasswordCost& cost = {});
bool verify_password(std::string_view encoded_hash, std::string_view password);
// Spends the time of one verification against a fixed hash, so that an unknown user name
// answers as slowly as a known one (no user enumeration by timing).
void verify_password_dummy(std::string_view password, const PasswordCost& cost = {});

// Client secrets: generated with 256 random bits, so a salted SHA-256 cannot be brute forced and
// keeps the token endpoint fast (Argon2 there would cap it at a few dozen requests per second per
// core and make client authentication a denial-of-service lever).
// Format: "sha256$" base64url(salt) "$" base64url(SHA-256(salt || secret)); salt may be any bytes.
std::string hash_client_secret(std::string_view secret, std::string_view salt);
bool verify_client_secret(std::string_view stored, std::string_view secret);

}  // namespace latchkey::util
