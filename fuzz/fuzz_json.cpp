// JSON documents from the other side of the wire, as the CLI and the server read them: provider
// metadata (client/discovery.h, OIDC Discovery §4, RFC 8414 §3), token endpoint responses
// (client/tokens.h, RFC 6749 §5.1/§5.2), and the stored form of an authorization request.
#include "client/discovery.h"
#include "client/tokens.h"
#include "fuzz_support.h"
#include "oauth/authorization_request.h"

using namespace latchkey;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);

  if (auto metadata = client::parse_metadata(text, "https://id.example.com")) {
    // OIDC Discovery §4.3: the document's issuer is exactly the one asked for.
    FUZZ_CHECK(metadata->issuer == "https://id.example.com");
    FUZZ_CHECK(client::is_secure_or_loopback_url(metadata->token_endpoint));
    // What the CLI caches reads back the same.
    auto again = client::parse_metadata(metadata->to_json(), "https://id.example.com");
    FUZZ_CHECK(again && again->to_json() == metadata->to_json());
  }

  for (long status : {200L, 400L, 401L}) {
    client::HttpResponse response{status, {{"content-type", "application/json"}}, std::string(text)};
    if (auto tokens = client::parse_token_response(response, "fuzzing")) {
      FUZZ_CHECK(status == 200);
      FUZZ_CHECK(!tokens->access_token.empty());
    }
  }

  if (auto request = oauth::AuthorizationRequest::from_json(text)) {
    auto again = oauth::AuthorizationRequest::from_json(request->to_json());
    FUZZ_CHECK(again && again->to_json() == request->to_json());
  }
  return 0;
}
