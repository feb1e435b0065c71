// JWS compact serialization and JWT verification (jose/jws.h verify_jwt, RFC 7515 §7.1,
// RFC 8725), as the resource server, the introspection endpoint and the CLI (id_token, access
// token expiry) meet tokens from the wire.
#include <array>
#include <vector>

#include "client/tokens.h"
#include "fuzz_support.h"
#include "jose/jws.h"
#include "test_keys.h"

using namespace latchkey;

namespace {

const std::vector<jose::PublicJwk>& keys() {
  static const std::vector<jose::PublicJwk> list = [] {
    std::vector<jose::PublicJwk> out;
    auto es = jose::SigningKeyPair::from_private_pem(fuzz::kEs256Pem, jose::Algorithm::ES256);
    auto rs = jose::SigningKeyPair::from_private_pem(fuzz::kRs256Pem, jose::Algorithm::RS256);
    FUZZ_CHECK(es && rs);
    out.push_back(*jose::PublicJwk::from_json(es->public_jwk("es-1")));
    out.push_back(*jose::PublicJwk::from_json(rs->public_jwk("rs-1")));
    return out;
  }();
  return list;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto token = fuzz::as_text(data, size);
  static constexpr std::array<jose::Algorithm, 2> kBoth{jose::Algorithm::ES256, jose::Algorithm::RS256};
  static constexpr std::array<jose::Algorithm, 1> kEsOnly{jose::Algorithm::ES256};

  if (auto jwt = jose::verify_jwt(token, keys(), kBoth)) {
    FUZZ_CHECK(token.size() <= jose::kMaxTokenSize);
    const auto* alg = jwt->header.if_contains("alg");
    FUZZ_CHECK(alg && alg->is_string());
    FUZZ_CHECK(alg->as_string() == "ES256" || alg->as_string() == "RS256");
    FUZZ_CHECK(!jwt->header.contains("crit"));  // RFC 7515 §4.1.11: we understand no extension
    // The allow-list is a hard limit: an RS256 token never passes when only ES256 is allowed.
    if (alg->as_string() == "RS256") FUZZ_CHECK(!jose::verify_jwt(token, keys(), kEsOnly));
  }
  (void)client::jwt_expiry(token);
  return 0;
}
