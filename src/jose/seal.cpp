#include "jose/seal.h"

#include <stdexcept>

#include "jose/openssl_util.h"
#include "util/base64url.h"

namespace latchkey::jose {
namespace {

using namespace detail;

constexpr std::string_view kPrefix = "v1.";
constexpr int kNonceSize = 12;
constexpr int kTagSize = 16;

unsigned char* out_bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

std::string seal(std::string_view plaintext, std::string_view kek32, util::Random& random, std::string_view aad) {
  if (kek32.size() != kKekSize) throw std::invalid_argument("the key-encryption key must be 32 bytes");
  std::string nonce = random.bytes(kNonceSize);
  // Room for the ciphertext (GCM does not expand) and the tag; also keeps data() valid when empty.
  std::string ciphertext(plaintext.size() + kTagSize, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(kek32), bytes(nonce)) == 1 &&
            (aad.empty() || EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1) &&
            EVP_EncryptUpdate(ctx.get(), out_bytes(ciphertext), &len, bytes(plaintext),
                              static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out_bytes(ciphertext) + total, &len) == 1;
  total += len;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out_bytes(ciphertext) + total) == 1;
  if (!ok) throw std::runtime_error("sealing failed: " + take_openssl_errors());
  ciphertext.resize(static_cast<std::size_t>(total) + kTagSize);
  return std::string(kPrefix) + util::base64url_encode(nonce + ciphertext);
}

std::expected<std::string, std::string> unseal(std::string_view sealed, std::string_view kek32, std::string_view aad) {
  if (kek32.size() != kKekSize) return std::unexpected("the key-encryption key must be 32 bytes");
  if (!sealed.starts_with(kPrefix)) return std::unexpected("sealed value has an unknown format");
  auto raw = util::base64url_decode(sealed.substr(kPrefix.size()));
  if (!raw || raw->size() < kNonceSize + kTagSize) return std::unexpected("sealed value is malformed");
  std::string_view all = *raw;
  std::string_view nonce = all.substr(0, kNonceSize);
  std::string_view ciphertext = all.substr(kNonceSize, all.size() - kNonceSize - kTagSize);
  std::string tag(all.substr(all.size() - kTagSize));

  std::string plaintext(ciphertext.size() + kTagSize, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(kek32), bytes(nonce)) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1) &&
            EVP_DecryptUpdate(ctx.get(), out_bytes(plaintext), &len, bytes(ciphertext),
                              static_cast<int>(ciphertext.size())) == 1;
  int total = len;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1;
  // The tag is checked here: a wrong key, a wrong aad and any changed byte all end up failing.
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), out_bytes(plaintext) + total, &len) > 0;
  if (!ok) {
    ERR_clear_error();
    return std::unexpected("cannot unseal: wrong key-encryption key, or the value was altered");
  }
  plaintext.resize(static_cast<std::size_t>(total + len));
  return plaintext;
}

}  // namespace latchkey::jose
