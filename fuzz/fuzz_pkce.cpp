// PKCE checks (oauth/pkce.h, RFC 7636). Input: "<method>\n<verifier>\n<challenge>".
#include <cctype>
#include <string>

#include "fuzz_support.h"
#include "oauth/pkce.h"
#include "util/base64url.h"
#include "util/crypto.h"

using namespace latchkey;

namespace {

// RFC 7636 §4.1 written out again, independently: 43*128 of ALPHA / DIGIT / "-" / "." / "_" / "~".
bool oracle_verifier(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (unsigned char c : v)
    if (!(std::isalnum(c) && c < 0x80) && c != '-' && c != '.' && c != '_' && c != '~') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto fields = fuzz::split_fields(fuzz::as_text(data, size), 3);
  auto method = fields[0], verifier = fields[1], challenge = fields[2];

  FUZZ_CHECK(oauth::is_valid_code_verifier(verifier) == oracle_verifier(verifier));
  bool verified = oauth::verify_code_verifier(verifier, challenge, method);
  if (verified) {
    FUZZ_CHECK(oracle_verifier(verifier));
    FUZZ_CHECK(method == "S256" || method == "plain");
    if (method == "plain") FUZZ_CHECK(verifier == challenge);
  }
  if (oracle_verifier(verifier)) {
    // RFC 7636 §4.2 / §4.6: the S256 challenge of a verifier is valid and verifies it.
    std::string s256 = util::base64url_encode(util::sha256(verifier));
    FUZZ_CHECK(oauth::is_valid_code_challenge(s256, "S256"));
    FUZZ_CHECK(oauth::verify_code_verifier(verifier, s256, "S256"));
    if (method == "S256") FUZZ_CHECK(verified == (challenge == s256));
  }
  if (oauth::is_valid_code_challenge(challenge, "S256")) FUZZ_CHECK(challenge.size() == 43);
  return 0;
}
