// A whole HTTP/1.1 request, as the server meets it: Beast's parser with the server's limits,
// the adapter (http/convert.h) and the protocol core (oauth::Provider::handle) over an in-memory
// store. Properties: never a 5xx (a 500 means an exception escaped a handler), never CR/LF/NUL
// in a response header (response splitting), and every HTML page carries the security headers.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <string>

#include "fuzz_support.h"
#include "http/convert.h"
#include "oauth/keyring.h"
#include "oauth/provider.h"
#include "store/memory/memory_store.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/password.h"
#include "util/random.h"

using namespace latchkey;
namespace beast_http = boost::beast::http;

namespace {

// Repeatable randomness (SHA-256 of a counter), so a crash input replays the same way.
class CountingRandom final : public util::Random {
 public:
  void fill(void* out, std::size_t size) override {
    auto* p = static_cast<unsigned char*>(out);
    while (size > 0) {
      auto block = util::sha256("latchkey-fuzz-" + std::to_string(counter_++));
      std::size_t n = std::min(size, block.size());
      std::copy_n(block.begin(), n, p);
      p += n;
      size -= n;
    }
  }

 private:
  std::uint64_t counter_ = 0;
};

const util::PasswordCost kCheapPasswords{1, 8192};  // libsodium minimums: logins stay fast

oauth::ProviderConfig provider_config() {
  oauth::ProviderConfig c;
  c.issuer = "https://id.example.com";
  c.password_cost = kCheapPasswords;
  return c;
}

// Signing keys are made once (key generation is slow); they live in a store of their own.
oauth::KeyRing& keyring() {
  static auto* ring = [] {
    static store::memory::MemoryStore key_store;
    static util::FakeClock clock;
    static CountingRandom random;
    auto* r = new oauth::KeyRing(key_store, std::string(32, 'k'));
    r->ensure_signing_key(jose::Algorithm::ES256, random, clock);
    r->reload();
    return r;
  }();
  return *ring;
}

const std::string& alice_password_hash() {
  static const std::string hash = util::hash_password("correct horse", kCheapPasswords);
  return hash;
}

// Each input gets a fresh store: no state leaks from one input to the next.
void seed(store::memory::MemoryStore& store) {
  auto client = [&](std::string id, bool is_public, std::vector<std::string> uris) {
    store::Client c;
    c.id = std::move(id);
    c.name = "App " + c.id;
    c.is_public = is_public;
    if (!is_public) c.secret_hash = util::hash_client_secret("s3cret-of-at-least-thirty-two-characters!", "salt");
    c.redirect_uris = std::move(uris);
    c.scopes = {"openid", "profile", "email", "offline_access", "read"};
    c.grant_types = {"authorization_code", "refresh_token", "client_credentials",
                     "urn:ietf:params:oauth:grant-type:device_code"};
    c.audiences = {"https://api.example.com"};
    store.put_client(c);
  };
  client("web", false, {"https://app.example.com/cb"});
  client("cli", true, {"http://127.0.0.1/callback"});
  store::User u;
  u.id = "sub-alice";
  u.username = "alice";
  u.password_hash = alice_password_hash();
  u.email = "alice@example.com";
  u.name = "Alice Example";
  store.put_user(u);
}

bool clean_header_text(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The server's default limits (server/config.h HttpLimits).
  beast_http::request_parser<beast_http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < size) {
    auto n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    used += n;
    if (ec == beast_http::error::need_more) {
      // Beast wants more bytes than it was shown; there are none (the input is all there is), so
      // the stream ends here: let put_eof judge it. Showing the same bytes again breaks Beast's
      // precondition (it asserts n >= 5 in a final chunk), which the server never does either:
      // it calls put again only after reading more.
      ec = {};
      break;
    }
    if (n == 0) break;
  }
  // put_eof only after some bytes: Beast asserts got_some() (the server never calls it otherwise).
  if (!ec && !parser.is_done() && parser.got_some()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;

  auto request = http::to_oauth_request(parser.get(), "127.0.0.1");
  if (!request) return 0;

  store::memory::MemoryStore store;
  seed(store);
  util::FakeClock clock;
  CountingRandom random;
  oauth::Provider provider(provider_config(), store, keyring(), clock, random);
  auto response = provider.handle(*request);

  FUZZ_CHECK(response.status >= 200 && response.status < 500);
  bool html = false;
  for (const auto& [name, value] : response.headers) {
    FUZZ_CHECK(clean_header_text(name) && clean_header_text(value));
    if (name == "Content-Type" && value.starts_with("text/html")) html = true;
  }
  if (html) {
    FUZZ_CHECK(response.header("Content-Security-Policy").has_value());
    FUZZ_CHECK(response.header("X-Frame-Options") == "DENY");
  }
  auto wire = http::to_beast_response(response, 11, true);
  (void)wire;
  return 0;
}
