#include "oauth/client_auth.h"

#include "util/base64url.h"
#include "util/password.h"
#include "util/strings.h"

namespace latchkey::oauth {
namespace {

struct BasicCredentials {
  std::string client_id;
  std::string secret;
};

// RFC 6749 §2.3.1 / RFC 7617: "Basic " base64(urlencode(id) ":" urlencode(secret)).
std::optional<BasicCredentials> parse_basic(std::string_view header) {
  if (header.size() < 6 || util::to_lower(header.substr(0, 6)) != "basic ") return std::nullopt;
  auto decoded = util::base64_decode(util::trim(header.substr(6)));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = util::percent_decode(std::string_view(*decoded).substr(0, colon), true);
  auto secret = util::percent_decode(std::string_view(*decoded).substr(colon + 1), true);
  if (!id || !secret || id->empty() || !util::is_valid_utf8(*id)) return std::nullopt;
  return BasicCredentials{std::move(*id), std::move(*secret)};
}

ClientAuthFailure invalid_client(std::string description, bool basic) {
  return ClientAuthFailure{error(ErrorCode::invalid_client, std::move(description)), basic};
}

}  // namespace

std::string claimed_client_id(const Request& request, const util::Params& form) {
  if (request.header_count("authorization") == 1) {
    if (auto creds = parse_basic(*request.header("authorization"))) return std::move(creds->client_id);
  }
  return form.get_or("client_id");
}

std::expected<AuthenticatedClient, ClientAuthFailure> authenticate_client(const Request& request,
                                                                          const util::Params& form,
                                                                          store::ClientStore& clients) {
  if (request.header_count("authorization") > 1)
    return std::unexpected(ClientAuthFailure{error(ErrorCode::invalid_request, "more than one Authorization header")});
  auto header = request.header("authorization");
  const bool has_basic = header.has_value();
  const bool has_post_secret = form.has("client_secret");
  // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
  if (has_basic && has_post_secret)
    return std::unexpected(ClientAuthFailure{
        error(ErrorCode::invalid_request, "use one client authentication method: HTTP Basic or client_secret"), true});

  std::string client_id;
  std::string secret;
  std::string method;
  if (has_basic) {
    auto creds = parse_basic(*header);
    if (!creds) return std::unexpected(invalid_client("malformed HTTP Basic client credentials", true));
    auto body_id = form.get_or("client_id");
    if (!body_id.empty() && body_id != creds->client_id)
      return std::unexpected(invalid_client("client_id in the body differs from the authenticated client", true));
    client_id = std::move(creds->client_id);
    secret = std::move(creds->secret);
    method = "client_secret_basic";
  } else {
    client_id = form.get_or("client_id");
    if (client_id.empty()) return std::unexpected(invalid_client("client authentication is required", false));
    if (has_post_secret) {
      secret = form.get_or("client_secret");
      method = "client_secret_post";
    } else {
      method = "none";
    }
  }

  auto client = clients.find_client(client_id);
  if (!client) return std::unexpected(invalid_client("client authentication failed", has_basic));
  if (client->is_public) {
    if (method != "none")
      return std::unexpected(invalid_client("this public client has no secret; send only client_id", has_basic));
  } else {
    if (method == "none") return std::unexpected(invalid_client("client authentication is required", false));
    if (!util::verify_client_secret(client->secret_hash, secret))
      return std::unexpected(invalid_client("client authentication failed", has_basic));
  }
  return AuthenticatedClient{std::move(*client), std::move(method)};
}

}  // namespace latchkey::oauth
