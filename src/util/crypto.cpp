#include "util/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <stdexcept>

#include "util/base64url.h"
#include "util/random.h"

namespace latchkey::util {

const EVP_MD* sha256_md() {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up in its provider store
  // (locks and hash tables) on every digest, which cost more than hashing a token.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return fetched != nullptr ? fetched : EVP_sha256();
}

std::string sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, sha256_md(),
                 nullptr) != 1)
    throw std::runtime_error("sha256 failed");
  return out;
}

std::string secret_hash(std::string_view secret) { return base64url_encode(sha256(secret)); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (!HMAC(sha256_md(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(),
            reinterpret_cast<unsigned char*>(out.data()), &len))
    throw std::runtime_error("hmac failed");
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SystemRandom::fill(void* out, std::size_t size) {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium failed to initialise");
  randombytes_buf(out, size);
}

std::string Random::token(std::size_t size) { return base64url_encode(bytes(size)); }

}  // namespace latchkey::util
