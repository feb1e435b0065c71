#include "util/password.h"

#include <sodium.h>

#include <mutex>
#include <stdexcept>

#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::util {

std::string hash_password(std::string_view password, const PasswordCost& cost) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), cost.opslimit, cost.memlimit) != 0)
    throw std::runtime_error("password hashing ran out of memory");
  return out;
}

bool verify_password(std::string_view encoded_hash, std::string_view password) {
  if (sodium_init() < 0) return false;
  std::string h(encoded_hash);  // must be NUL-terminated
  if (h.empty() || h.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

void verify_password_dummy(std::string_view password, const PasswordCost& cost) {
  static std::once_flag once;
  static std::string dummy;
  std::call_once(once, [&] { dummy = hash_password("latchkey-dummy-password", cost); });
  (void)verify_password(dummy, password);
}

std::string hash_client_secret(std::string_view secret, std::string_view salt) {
  // The salt is stored base64url-encoded: raw random bytes could contain the '$' separator.
  return "sha256$" + base64url_encode(salt) + "$" + base64url_encode(sha256(std::string(salt) + std::string(secret)));
}

bool verify_client_secret(std::string_view stored, std::string_view secret) {
  if (!stored.starts_with("sha256$")) return false;
  auto rest = stored.substr(7);
  auto dollar = rest.find('$');
  if (dollar == std::string_view::npos) return false;
  auto salt = base64url_decode(rest.substr(0, dollar));
  if (!salt) return false;
  return constant_time_equal(hash_client_secret(secret, *salt), stored);
}

}  // namespace latchkey::util
