#include "oauth/pkce.h"

#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::oauth {
namespace {
bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
bool all_unreserved(std::string_view s) {
  for (char c : s)
    if (!is_unreserved(c)) return false;
  return true;
}
}  // namespace

bool is_valid_code_verifier(std::string_view verifier) {
  return verifier.size() >= 43 && verifier.size() <= 128 && all_unreserved(verifier);
}

bool is_valid_code_challenge(std::string_view challenge, std::string_view method) {
  if (method == "S256") return challenge.size() == 43 && util::base64url_decode(challenge).has_value();
  if (method == "plain") return is_valid_code_verifier(challenge);
  return false;
}

bool verify_code_verifier(std::string_view verifier, std::string_view challenge, std::string_view method) {
  if (!is_valid_code_verifier(verifier)) return false;
  if (method == "S256") return util::constant_time_equal(util::base64url_encode(util::sha256(verifier)), challenge);
  if (method == "plain") return util::constant_time_equal(verifier, challenge);
  return false;
}

}  // namespace latchkey::oauth
