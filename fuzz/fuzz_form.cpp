// Query and form decoding (util/form.h) and the base64 codecs (util/base64url.h): what the
// authorize, token and every form endpoint read first, and what Basic credentials and JWT parts
// go through.
#include <string>

#include "fuzz_support.h"
#include "util/base64url.h"
#include "util/form.h"
#include "util/strings.h"

using namespace latchkey;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);

  // Decoding never throws; what decodes round-trips through the encoder unchanged.
  if (auto params = util::parse_form(text)) {
    for (const auto& [name, value] : params->entries()) {
      FUZZ_CHECK(util::is_valid_utf8(name) && util::is_valid_utf8(value));
      FUZZ_CHECK(name.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
    }
    auto again = util::parse_form(util::encode_form(params->entries()));
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->entries() == params->entries());
    // first_duplicate() names a parameter that count() sees more than once.
    if (auto dup = params->first_duplicate()) FUZZ_CHECK(params->count(*dup) > 1);
  }
  for (bool plus_is_space : {false, true})
    if (auto decoded = util::percent_decode(text, plus_is_space))
      FUZZ_CHECK(util::percent_decode(util::url_encode(*decoded), false) == decoded);

  // Any bytes survive encode -> decode.
  FUZZ_CHECK(util::base64url_decode(util::base64url_encode(text)) == text);
  FUZZ_CHECK(util::base64_decode(util::base64_encode(text)) == text);
  // Strict decoders: one token has exactly one encoding, so decode -> encode gives the input back.
  if (auto bytes = util::base64url_decode(text)) FUZZ_CHECK(util::base64url_encode(*bytes) == text);
  if (auto bytes = util::base64_decode(text)) FUZZ_CHECK(util::base64_encode(*bytes) == text);
  return 0;
}
