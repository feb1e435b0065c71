#include "jose/jws.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "util/base64url.h"
#include "util/crypto.h"

namespace latchkey::jose {
namespace {

std::expected<boost::json::object, std::string> decode_json_object(std::string_view part, std::string_view what) {
  auto text = util::base64url_decode(part);
  if (!text) return std::unexpected(std::string(what) + " is not base64url");
  boost::system::error_code ec;
  // Boost.JSON refuses invalid UTF-8 and keeps the lexically last of duplicate names, which is
  // what RFC 7515 §5.2 step 4 allows.
  boost::json::value value = boost::json::parse(*text, ec);
  if (ec) return std::unexpected(std::string(what) + " is not JSON");
  if (!value.is_object()) return std::unexpected(std::string(what) + " is not a JSON object");
  return std::move(value.get_object());
}

std::expected<const PublicJwk*, std::string> choose_key(const boost::json::object& header, Algorithm alg,
                                                        const std::vector<PublicJwk>& keys) {
  const PublicJwk* chosen = nullptr;
  if (const auto* kid_value = header.if_contains("kid")) {
    if (!kid_value->is_string()) return std::unexpected("kid is not a string");
    std::string_view kid = kid_value->get_string();
    bool kid_known = false;
    for (const auto& key : keys) {
      if (key.kid != kid) continue;
      kid_known = true;
      if (key.alg != alg) continue;
      if (chosen) return std::unexpected("more than one key has this kid and alg");
      chosen = &key;
    }
    if (!kid_known) return std::unexpected("unknown kid");
    if (!chosen) return std::unexpected("the key with this kid is not for alg " + std::string(to_string(alg)));
    return chosen;
  }
  for (const auto& key : keys) {
    if (key.alg != alg) continue;
    if (chosen) return std::unexpected("no kid and more than one key for alg " + std::string(to_string(alg)));
    chosen = &key;
  }
  if (!chosen) return std::unexpected("no key for alg " + std::string(to_string(alg)));
  return chosen;
}

}  // namespace

std::string sign_jwt(const SigningKeyPair& key, std::string_view kid, std::string_view typ,
                     const boost::json::object& claims) {
  boost::json::object header;
  header["alg"] = to_string(key.algorithm());
  if (!typ.empty()) header["typ"] = typ;
  if (!kid.empty()) header["kid"] = kid;
  std::string token = util::base64url_encode(boost::json::serialize(header));
  token += '.';
  token += util::base64url_encode(boost::json::serialize(claims));
  std::string signature = key.sign(token);
  token += '.';
  token += util::base64url_encode(signature);
  return token;
}

std::expected<VerifiedJwt, std::string> verify_jwt(std::string_view token, const std::vector<PublicJwk>& keys,
                                                   std::span<const Algorithm> allowed) {
  if (token.size() > kMaxTokenSize) return std::unexpected("token is too large");
  // RFC 7515 §7.1: BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature).
  std::size_t first = token.find('.');
  std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return std::unexpected("token does not have exactly three parts");
  }
  std::string_view header_part = token.substr(0, first);
  std::string_view payload_part = token.substr(first + 1, second - first - 1);
  std::string_view signature_part = token.substr(second + 1);

  auto header = decode_json_object(header_part, "header");
  if (!header) return std::unexpected(header.error());
  const auto* alg_value = header->if_contains("alg");
  if (!alg_value || !alg_value->is_string()) return std::unexpected("header has no alg");
  // Only the asymmetric algorithms exist as Algorithm values: "none" and HS* fail here whatever
  // the caller allows (RFC 8725 §3.1), so a public key can never be used as an HMAC secret.
  auto alg = algorithm_from_string(alg_value->get_string());
  if (!alg || std::find(allowed.begin(), allowed.end(), *alg) == allowed.end()) {
    return std::unexpected("alg \"" + std::string(alg_value->get_string()) + "\" is not allowed");
  }
  if (header->contains("crit")) return std::unexpected("crit header names extensions we do not understand");

  auto key = choose_key(*header, *alg, keys);
  if (!key) return std::unexpected(key.error());

  auto signature = util::base64url_decode(signature_part);
  if (!signature) return std::unexpected("signature is not base64url");
  if (!(*key)->verify(token.substr(0, second), *signature)) return std::unexpected("signature is invalid");

  auto claims = decode_json_object(payload_part, "payload");
  if (!claims) return std::unexpected(claims.error());
  return VerifiedJwt{std::move(*header), std::move(*claims)};
}

std::string at_hash(std::string_view access_token, Algorithm alg) {
  switch (alg) {
    case Algorithm::ES256:
    case Algorithm::RS256:
      break;  // both sign with SHA-256
  }
  std::string digest = util::sha256(access_token);
  return util::base64url_encode(std::string_view(digest).substr(0, digest.size() / 2));
}

}  // namespace latchkey::jose
