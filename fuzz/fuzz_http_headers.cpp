// The request headers the server interprets itself: Cookie (oauth/browser.h), HTTP Basic client
// credentials (oauth/client_auth.h, RFC 6749 §2.3.1 / RFC 7617) and, on the resource-server side,
// Bearer credentials (RFC 6750 §2.1) and Cache-Control max-age of a fetched JWKS.
// Input: "<Authorization value>\n<Cookie value>\n<form body>".
#include <string>

#include "fuzz_support.h"
#include "oauth/browser.h"
#include "oauth/client_auth.h"
#include "resource/validator.h"
#include "store/memory/memory_store.h"
#include "util/form.h"
#include "util/password.h"

using namespace latchkey;

namespace {

const std::string kSecret = "s3cret-of-at-least-thirty-two-characters!";

store::memory::MemoryStore& clients() {
  static store::memory::MemoryStore* store = [] {
    auto* s = new store::memory::MemoryStore;
    store::Client web;
    web.id = "web";
    web.secret_hash = util::hash_client_secret(kSecret, "salt-web");
    web.redirect_uris = {"https://app.example.com/cb"};
    s->put_client(web);
    store::Client cli;
    cli.id = "cli";
    cli.is_public = true;
    cli.redirect_uris = {"http://127.0.0.1/callback"};
    s->put_client(cli);
    return s;
  }();
  return *store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto fields = fuzz::split_fields(fuzz::as_text(data, size), 3);
  oauth::Request request{"POST", "/token", "", {}, std::string(fields[2]), "127.0.0.1"};
  if (!fields[0].empty()) request.headers.emplace_back("authorization", std::string(fields[0]));
  if (!fields[1].empty()) request.headers.emplace_back("cookie", std::string(fields[1]));

  // Cookies: tolerant of garbage, and a found value is part of the header it came from.
  for (std::string_view name : {"latchkey_session", "__Host-latchkey_browser", ""})
    if (auto value = oauth::find_cookie(request, name)) FUZZ_CHECK(fields[1].find(*value) != std::string_view::npos);

  auto form = util::parse_form(fields[2]);
  util::Params params = form ? *form : util::Params{};
  (void)oauth::claimed_client_id(request, params);
  auto result = oauth::authenticate_client(request, params, clients());
  if (result) {
    // Never an authentication bypass: the confidential client only with its secret, and the
    // public one only without any.
    if (result->client.id == "web") {
      FUZZ_CHECK(result->method == "client_secret_basic" || result->method == "client_secret_post");
      FUZZ_CHECK(fields[0].empty() ? params.get_or("client_secret") == kSecret : true);
    } else {
      FUZZ_CHECK(result->client.id == "cli" && result->method == "none");
    }
  }

  if (auto token = resource::extract_bearer_token(fields[0])) {
    FUZZ_CHECK(!token->empty());
    FUZZ_CHECK(fields[0].find(*token) != std::string_view::npos);
  }
  (void)resource::cache_control_max_age(fields[1]);
  return 0;
}
