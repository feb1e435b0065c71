#include "oauth/scopes.h"

#include <boost/url/parse.hpp>

#include "util/strings.h"

namespace latchkey::oauth {

bool is_valid_scope_token(std::string_view token) {
  if (token.empty()) return false;
  for (unsigned char c : token)
    if (c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E) return false;
  return true;
}

std::expected<std::vector<std::string>, OAuthError> requested_scopes(std::string_view scope, const store::Client& client) {
  std::vector<std::string> out;
  for (auto& s : util::split_spaces(scope)) {
    if (!is_valid_scope_token(s)) return std::unexpected(error(ErrorCode::invalid_scope, "scope contains invalid characters"));
    if (!util::contains(client.scopes, s))
      return std::unexpected(error(ErrorCode::invalid_scope, "scope '" + s + "' is not allowed for this client"));
    // Belt and braces: a claim scope in the client's scopes without the claim allowance (a
    // hand-edited database) is refused too, so roles never reach a client nobody allowed.
    for (auto claim : kClaimScopes)
      if (s == claim && !util::contains(client.allowed_claims, claim))
        return std::unexpected(error(ErrorCode::invalid_scope, "scope '" + s + "' is not allowed for this client"));
    if (!util::contains(out, s)) out.push_back(std::move(s));
  }
  return out;
}

bool may_receive_claim(const store::Client& client, const std::vector<std::string>& scopes, std::string_view claim) {
  return util::contains(client.allowed_claims, claim) && util::contains(scopes, claim);
}

std::expected<std::vector<std::string>, OAuthError> requested_audiences(const util::Params& params,
                                                                       const store::Client& client) {
  std::vector<std::string> requested = util::split_spaces(params.get_or("audience"));
  for (const auto& [name, value] : params.entries()) {
    if (name != "resource") continue;
    // RFC 8707 §2: "an absolute URI ... MUST NOT include a fragment component".
    auto u = boost::urls::parse_absolute_uri(value);
    if (!u || u->has_fragment())
      return std::unexpected(error(ErrorCode::invalid_target, "resource must be an absolute URI without a fragment"));
    requested.push_back(value);
  }
  std::vector<std::string> out;
  for (const auto& aud : requested) {
    if (!util::contains(client.audiences, aud))
      return std::unexpected(error(ErrorCode::invalid_target, "audience '" + aud + "' is not allowed for this client"));
    if (!util::contains(out, aud)) out.push_back(aud);
  }
  return out;
}

}  // namespace latchkey::oauth
