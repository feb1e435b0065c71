#pragma once
// Proof Key for Code Exchange (RFC 7636).
#include <string_view>

namespace latchkey::oauth {

// RFC 7636 §4.1: code_verifier = 43*128unreserved.
bool is_valid_code_verifier(std::string_view verifier);
// RFC 7636 §4.2: S256 challenges are base64url(SHA-256) = exactly 43 characters; plain ones
// follow the verifier syntax.
bool is_valid_code_challenge(std::string_view challenge, std::string_view method);
// RFC 7636 §4.6: recompute the challenge from the verifier and compare (constant time).
bool verify_code_verifier(std::string_view verifier, std::string_view challenge, std::string_view method);

}  // namespace latchkey::oauth
