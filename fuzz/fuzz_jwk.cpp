// JWK and JWK Set parsing (jose/jwk.h, RFC 7517, RFC 7518 §6, RFC 7638 thumbprints): the JWKS a
// resource server or the CLI fetches from a provider is untrusted input.
#include <boost/json.hpp>

#include "fuzz_support.h"
#include "jose/jwk.h"

using namespace latchkey;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  if (auto keys = jose::parse_jwks(text)) {
    for (const auto& key : *keys) {
      FUZZ_CHECK(key.key != nullptr);
      FUZZ_CHECK(key.alg == jose::Algorithm::ES256 || key.alg == jose::Algorithm::RS256);
      // A garbage signature never verifies.
      FUZZ_CHECK(!key.verify("header.payload", "not a signature"));
    }
  }

  // Single JWKs: the input itself, or each member of its "keys" array.
  boost::system::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec) return 0;
  std::vector<const boost::json::object*> candidates;
  if (const auto* obj = doc.if_object()) {
    candidates.push_back(obj);
    if (const auto* arr = obj->contains("keys") ? obj->at("keys").if_array() : nullptr)
      for (const auto& v : *arr)
        if (const auto* o = v.if_object()) candidates.push_back(o);
  }
  for (const auto* jwk : candidates) {
    auto key = jose::PublicJwk::from_json(*jwk);
    auto thumb = jose::jwk_thumbprint(*jwk);
    // RFC 7638 §3: every key we accept has a thumbprint (43 characters of base64url SHA-256).
    if (key) FUZZ_CHECK(thumb && thumb->size() == 43);
  }
  return 0;
}
