// Authorization request parsing and validation (oauth/authorization_request.h, RFC 6749 §4.1.1,
// RFC 7636 §4.3, OIDC Core §3.1.2.1). Input: the query string of GET /authorize.
// The property that matters most: an error is redirected only to a redirect_uri registered for
// the client (RFC 6749 §4.1.2.1, no open redirector).
#include <string>

#include "fuzz_support.h"
#include "oauth/authorization_request.h"
#include "oauth/pkce.h"
#include "oauth/redirect_uri.h"
#include "store/memory/memory_store.h"
#include "util/form.h"
#include "util/password.h"

using namespace latchkey;

namespace {

store::memory::MemoryStore& clients() {
  static store::memory::MemoryStore* store = [] {
    auto* s = new store::memory::MemoryStore;
    auto add = [&](std::string id, bool is_public, std::vector<std::string> uris) {
      store::Client c;
      c.id = std::move(id);
      c.is_public = is_public;
      if (!is_public) c.secret_hash = util::hash_client_secret("s3cret-of-at-least-thirty-two-characters!", "salt");
      c.redirect_uris = std::move(uris);
      c.scopes = {"openid", "profile", "email", "offline_access", "read"};
      c.grant_types = {"authorization_code", "refresh_token"};
      c.audiences = {"https://api.example.com"};
      s->put_client(c);
    };
    add("web", false, {"https://app.example.com/cb", "https://app.example.com/other?x=1"});
    add("cli", true, {"http://127.0.0.1/callback", "http://[::1]/callback", "http://localhost/cb"});
    return s;
  }();
  return *store;
}

bool registered_for(const store::Client& client, std::string_view uri) {
  for (const auto& r : client.redirect_uris)
    if (oauth::redirect_uri_matches(r, uri)) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto params = util::parse_form(fuzz::as_text(data, size));
  if (!params) return 0;
  static const oauth::ProviderConfig config = [] {
    oauth::ProviderConfig c;
    c.issuer = "https://id.example.com";
    return c;
  }();

  auto result = oauth::validate_authorization_request(*params, clients(), config);
  if (result) {
    const auto& req = result->request;
    FUZZ_CHECK(req.client_id == result->client.id);
    FUZZ_CHECK(params->get_or("client_id") == req.client_id);
    FUZZ_CHECK(registered_for(result->client, req.redirect_uri));
    // RFC 9700 §2.1.1: public clients use PKCE, and only S256 is offered.
    if (result->client.is_public) FUZZ_CHECK(!req.code_challenge.empty());
    if (!req.code_challenge.empty())
      FUZZ_CHECK(oauth::is_valid_code_challenge(req.code_challenge, req.code_challenge_method));
    // The stored form of the request reads back as the same request.
    auto again = oauth::AuthorizationRequest::from_json(req.to_json());
    FUZZ_CHECK(again && again->to_json() == req.to_json());
  } else if (!result.error().redirect_uri.empty()) {
    auto client = clients().find_client(params->get_or("client_id"));
    FUZZ_CHECK(client.has_value());
    FUZZ_CHECK(registered_for(*client, result.error().redirect_uri));
    FUZZ_CHECK(result.error().state == params->get_or("state"));
  }
  return 0;
}
