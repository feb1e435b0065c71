// liblatchkey-resource without sockets: a canned Fetcher stands in for the provider, a FakeClock
// for time, and tokens are minted here with jose::sign_jwt (or forged by hand).
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "jose/jws.h"
#include "resource/validator.h"
#include "util/base64url.h"
#include "util/crypto.h"
#include "util/form.h"

namespace lr = latchkey::resource;
namespace jose = latchkey::jose;
using latchkey::util::FakeClock;

namespace {

constexpr const char* kIssuer = "https://idp.example";
constexpr const char* kJwksUri = "https://idp.example/jwks";
constexpr const char* kIntrospect = "https://idp.example/introspect";
constexpr const char* kAudience = "https://api.example";

// Answers by URL; a handler may be swapped at any time (a rotation, an outage).
class FakeFetcher final : public lr::Fetcher {
 public:
  using Handler = std::function<std::expected<lr::FetchResponse, std::string>(const lr::FetchRequest&)>;

  void on(const std::string& url, Handler h) {
    std::lock_guard lock(mutex_);
    handlers_[url] = std::move(h);
  }
  void serve_json(const std::string& url, std::string body, std::string cache_control = "") {
    on(url, [body = std::move(body), cache_control](const lr::FetchRequest&) -> std::expected<lr::FetchResponse, std::string> {
      lr::FetchResponse r{200, {{"content-type", "application/json"}}, body};
      if (!cache_control.empty()) r.headers.emplace_back("cache-control", cache_control);
      return r;
    });
  }
  void go_down(const std::string& url) {
    on(url, [](const lr::FetchRequest&) -> std::expected<lr::FetchResponse, std::string> { return std::unexpected("connection refused"); });
  }
  int calls(const std::string& url) {
    std::lock_guard lock(mutex_);
    return calls_[url];
  }
  lr::FetchRequest last(const std::string& url) {
    std::lock_guard lock(mutex_);
    return last_[url];
  }

  std::expected<lr::FetchResponse, std::string> fetch(const lr::FetchRequest& request) override {
    Handler h;
    {
      std::lock_guard lock(mutex_);
      ++calls_[request.url];
      last_[request.url] = request;
      auto it = handlers_.find(request.url);
      if (it == handlers_.end()) return lr::FetchResponse{404, {}, "not found"};
      h = it->second;
    }
    return h(request);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Handler> handlers_;
  std::map<std::string, int> calls_;
  std::map<std::string, lr::FetchRequest> last_;
};

std::string jwks_of(const std::vector<std::pair<const jose::SigningKeyPair*, std::string>>& keys) {
  boost::json::array a;
  for (const auto& [key, kid] : keys) a.push_back(key->public_jwk(kid));
  return boost::json::serialize(boost::json::object{{"keys", a}});
}

struct Fixture : ::testing::Test {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<FakeFetcher> fetcher = std::make_shared<FakeFetcher>();
  jose::SigningKeyPair key_a = jose::SigningKeyPair::generate(jose::Algorithm::ES256);
  jose::SigningKeyPair key_b = jose::SigningKeyPair::generate(jose::Algorithm::ES256);

  lr::ValidatorOptions options() {
    lr::ValidatorOptions o;
    o.issuer = kIssuer;
    o.audience = kAudience;
    o.jwks_uri = kJwksUri;
    o.fetcher = fetcher;
    o.clock = clock;
    o.realm = "api";
    return o;
  }

  std::unique_ptr<lr::Validator> make(lr::ValidatorOptions o) {
    auto v = lr::Validator::create(std::move(o));
    EXPECT_TRUE(v.has_value()) << v.error();
    return v ? std::move(*v) : nullptr;
  }
  std::unique_ptr<lr::Validator> make() {
    fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}));
    return make(options());
  }

  boost::json::object claims() {
    auto now = clock->now();
    return {{"iss", kIssuer}, {"sub", "user-1"}, {"aud", kAudience}, {"exp", now + 300}, {"iat", now},
            {"nbf", now}, {"jti", "j1"}, {"client_id", "cli"}, {"scope", "openid profile read"}};
  }
  std::string token(const boost::json::object& c, const jose::SigningKeyPair* key = nullptr, std::string kid = "a",
                    std::string typ = "at+jwt") {
    return jose::sign_jwt(key ? *key : key_a, kid, typ, c);
  }
  std::string token() { return token(claims()); }
  static std::string bearer(const std::string& t) { return "Bearer " + t; }
};

// Re-encodes the header of a signed token and keeps the payload: a forgery attempt.
std::string with_header(const boost::json::object& header, const std::string& token, const std::string& signature) {
  auto first = token.find('.');
  auto second = token.find('.', first + 1);
  return latchkey::util::base64url_encode(boost::json::serialize(header)) + "." +
         token.substr(first + 1, second - first - 1) + "." + signature;
}

std::string public_pem(const jose::SigningKeyPair& key, const std::string& kid) {
  auto jwk = jose::PublicJwk::from_json(key.public_jwk(kid));
  EXPECT_TRUE(jwk.has_value());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, jwk->key.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

void expect_error(const lr::ValidationResult& r, lr::ErrorCode code, int status) {
  ASSERT_FALSE(r.has_value()) << "accepted a token that should fail";
  EXPECT_EQ(r.error().code, code) << r.error().description;
  EXPECT_EQ(r.error().http_status, status);
}

// ---------------------------------------------------------------------------------------------

TEST_F(Fixture, AcceptsAValidTokenAndExposesItsClaims) {
  auto v = make();
  auto r = v->validate(bearer(token()), {.scopes = {"read"}});
  ASSERT_TRUE(r.has_value()) << r.error().description;
  const lr::Claims& c = **r;
  EXPECT_EQ(c.subject, "user-1");
  EXPECT_EQ(c.client_id, "cli");
  EXPECT_EQ(c.issuer, kIssuer);
  EXPECT_EQ(c.scopes, (std::vector<std::string>{"openid", "profile", "read"}));
  EXPECT_TRUE(c.has_scope("profile"));
  EXPECT_FALSE(c.has_scope("admin"));
  ASSERT_NE(c.claim("jti"), nullptr);
  EXPECT_EQ(c.claim("jti")->as_string(), "j1");
  EXPECT_EQ(fetcher->calls(kJwksUri), 1);
}

TEST_F(Fixture, RolesAndGroups) {
  auto v = make();
  auto c = claims();
  c["roles"] = boost::json::array{"editor", "viewer"};
  c["groups"] = boost::json::array{"staff"};
  auto r = v->validate(bearer(token(c)));
  ASSERT_TRUE(r.has_value()) << r.error().description;
  EXPECT_TRUE((*r)->has_role("editor"));
  EXPECT_FALSE((*r)->has_role("admin"));
  EXPECT_TRUE((*r)->in_group("staff"));
  EXPECT_TRUE((**v->validate(bearer(token()))).roles.empty());
  c["roles"] = "editor";  // not an array: a malformed token, not silently no roles
  expect_error(v->validate(bearer(token(c))), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, TamperedSignatureOrPayloadIsInvalidToken) {
  auto v = make();
  std::string t = token();
  std::string bad_sig = t;
  bad_sig[bad_sig.size() - 5] = bad_sig[bad_sig.size() - 5] == 'A' ? 'B' : 'A';
  expect_error(v->validate(bearer(bad_sig)), lr::ErrorCode::invalid_token, 401);

  auto c = claims();
  c["sub"] = "admin-user";
  std::string other = token(c);
  auto dot = t.find('.');
  auto dot2 = t.find('.', dot + 1);
  auto odot = other.find('.');
  auto odot2 = other.find('.', odot + 1);
  std::string swapped = t.substr(0, dot + 1) + other.substr(odot + 1, odot2 - odot - 1) + t.substr(dot2);
  expect_error(v->validate(bearer(swapped)), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, AlgNoneIsRefused) {
  auto v = make();
  std::string t = token();
  std::string forged = with_header({{"alg", "none"}, {"typ", "at+jwt"}, {"kid", "a"}}, t, "");
  expect_error(v->validate(bearer(forged)), lr::ErrorCode::invalid_token, 401);
  std::string forged_no_kid = with_header({{"alg", "none"}, {"typ", "at+jwt"}}, t, "");
  expect_error(v->validate(bearer(forged_no_kid)), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, Hs256WithThePublicKeyAsSecretIsRefused) {
  auto v = make();
  std::string t = token();
  boost::json::object header{{"alg", "HS256"}, {"typ", "at+jwt"}, {"kid", "a"}};
  // Every form an attacker might guess the verifier uses as "the key": PEM, and the JWK JSON.
  for (const std::string& secret : {public_pem(key_a, "a"), boost::json::serialize(key_a.public_jwk("a"))}) {
    std::string unsigned_part = with_header(header, t, "");
    unsigned_part.pop_back();  // drop the trailing '.'
    std::string mac = latchkey::util::hmac_sha256(secret, unsigned_part);
    std::string forged = unsigned_part + "." + latchkey::util::base64url_encode(mac);
    expect_error(v->validate(bearer(forged)), lr::ErrorCode::invalid_token, 401);
  }
}

TEST_F(Fixture, UnknownKidTriggersARefetchThatPicksUpTheRotation) {
  auto v = make();
  std::string new_token = token(claims(), &key_b, "b");
  // The provider rotated after our first fetch.
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}, {&key_b, "b"}}));
  clock->advance(11);
  auto r = v->validate(bearer(new_token));
  ASSERT_TRUE(r.has_value()) << r.error().description;
  EXPECT_EQ(fetcher->calls(kJwksUri), 2);
  EXPECT_EQ(v->key_set_status().kids, (std::vector<std::string>{"a", "b"}));
  // The old key keeps working.
  EXPECT_TRUE(v->validate(bearer(token())).has_value());
  EXPECT_EQ(fetcher->calls(kJwksUri), 2);
}

TEST_F(Fixture, UnknownKidRefetchesAreRateLimited) {
  auto v = make();
  jose::SigningKeyPair attacker = jose::SigningKeyPair::generate(jose::Algorithm::ES256);
  clock->advance(11);
  for (int i = 0; i < 50; ++i)
    expect_error(v->validate(bearer(token(claims(), &attacker, "forged-" + std::to_string(i)))),
                 lr::ErrorCode::invalid_token, 401);
  EXPECT_EQ(fetcher->calls(kJwksUri), 2) << "one refetch for the first forged kid, none for the rest";
  clock->advance(9);
  expect_error(v->validate(bearer(token(claims(), &attacker, "forged-x"))), lr::ErrorCode::invalid_token, 401);
  EXPECT_EQ(fetcher->calls(kJwksUri), 2);
  clock->advance(1);
  expect_error(v->validate(bearer(token(claims(), &attacker, "forged-y"))), lr::ErrorCode::invalid_token, 401);
  EXPECT_EQ(fetcher->calls(kJwksUri), 3) << "the interval has passed: one more";
}

TEST_F(Fixture, ARotationRightAfterStartIsSeenOnceTheIntervalAllows) {
  auto v = make();
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}, {&key_b, "b"}}));
  std::string new_token = token(claims(), &key_b, "b");
  expect_error(v->validate(bearer(new_token)), lr::ErrorCode::invalid_token, 401);  // fetched at t=0: rate-limited
  clock->advance(10);
  EXPECT_TRUE(v->validate(bearer(new_token)).has_value());
}

TEST_F(Fixture, WrongIssuerIsInvalidToken) {
  auto v = make();
  auto c = claims();
  c["iss"] = "https://idp.example/";  // exact comparison: a trailing slash is another issuer
  expect_error(v->validate(bearer(token(c))), lr::ErrorCode::invalid_token, 401);
  c.erase("iss");
  expect_error(v->validate(bearer(token(c))), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, WrongOrMissingAudienceIsInvalidToken) {
  auto v = make();
  auto c = claims();
  c["aud"] = "https://other-api.example";
  auto r = v->validate(bearer(token(c)));
  expect_error(r, lr::ErrorCode::invalid_token, 401);
  EXPECT_NE(r.error().www_authenticate.find("error=\"invalid_token\""), std::string::npos);
  c["aud"] = boost::json::array{"https://other-api.example", kAudience};
  EXPECT_TRUE(v->validate(bearer(token(c))).has_value()) << "aud may be an array containing ours";
  EXPECT_TRUE(v->validate(bearer(token(c)), {.audience = "https://other-api.example"}).has_value());
  expect_error(v->validate(bearer(token(c)), {.audience = "https://third.example"}), lr::ErrorCode::invalid_token, 401);
  c.erase("aud");
  expect_error(v->validate(bearer(token(c))), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, ExpiredAndNotYetValidTokensWithBoundedSkew) {
  auto v = make();
  auto now = clock->now();
  auto c = claims();
  c["exp"] = now - 61;
  expect_error(v->validate(bearer(token(c))), lr::ErrorCode::invalid_token, 401);
  c["exp"] = now - 30;
  EXPECT_TRUE(v->validate(bearer(token(c))).has_value()) << "within the default 60 s skew";
  expect_error(v->validate(bearer(token(c)), {.clock_skew = 0}), lr::ErrorCode::invalid_token, 401);
  c["exp"] = now - 600;
  expect_error(v->validate(bearer(token(c)), {.clock_skew = 100000}), lr::ErrorCode::invalid_token, 401);  // clamped to 300

  auto n = claims();
  n["nbf"] = now + 120;
  expect_error(v->validate(bearer(token(n))), lr::ErrorCode::invalid_token, 401);
  n["nbf"] = now + 30;
  EXPECT_TRUE(v->validate(bearer(token(n))).has_value());
  auto i = claims();
  i["iat"] = now + 120;
  expect_error(v->validate(bearer(token(i))), lr::ErrorCode::invalid_token, 401);
  i.erase("iat");
  expect_error(v->validate(bearer(token(i))), lr::ErrorCode::invalid_token, 401);  // RFC 9068 §2.2
  auto e = claims();
  e.erase("exp");
  expect_error(v->validate(bearer(token(e))), lr::ErrorCode::invalid_token, 401);
  e["exp"] = "tomorrow";
  expect_error(v->validate(bearer(token(e))), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, MissingScopeIsInsufficientScopeWith403) {
  auto v = make();
  auto r = v->validate(bearer(token()), {.scopes = {"read", "admin"}});
  expect_error(r, lr::ErrorCode::insufficient_scope, 403);
  EXPECT_EQ(r.error().www_authenticate,
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"the token lacks scope admin\", "
            "scope=\"read admin\"");
  auto c = claims();
  c.erase("scope");
  c["scp"] = boost::json::array{"admin"};
  EXPECT_TRUE(v->validate(bearer(token(c)), {.scopes = {"admin"}}).has_value()) << "scp array is read too";
}

TEST_F(Fixture, TypMustBeAtJwt) {
  auto v = make();
  expect_error(v->validate(bearer(token(claims(), nullptr, "a", "JWT"))), lr::ErrorCode::invalid_token, 401);
  expect_error(v->validate(bearer(token(claims(), nullptr, "a", ""))), lr::ErrorCode::invalid_token, 401);
  EXPECT_TRUE(v->validate(bearer(token(claims(), nullptr, "a", "application/at+jwt"))).has_value());
  EXPECT_TRUE(v->validate(bearer(token(claims(), nullptr, "a", "AT+JWT"))).has_value());
}

TEST_F(Fixture, MalformedAuthorizationHeaders) {
  auto v = make();
  std::string t = token();
  struct Case {
    std::string header;
    lr::ErrorCode code;
    int status;
  };
  std::vector<Case> cases{
      {"", lr::ErrorCode::missing_token, 401},
      {"Basic dXNlcjpwYXNz", lr::ErrorCode::missing_token, 401},  // another scheme: no error code (§3.1)
      {"Bearertoken", lr::ErrorCode::missing_token, 401},
      {"Bearer", lr::ErrorCode::invalid_request, 400},
      {"Bearer ", lr::ErrorCode::invalid_request, 400},
      {"Bearer\t" + t, lr::ErrorCode::invalid_request, 400},
      {"Bearer " + t + " " + t, lr::ErrorCode::invalid_request, 400},
      {"Bearer " + t + ", Bearer " + t, lr::ErrorCode::invalid_request, 400},
      {"Bearer abc$def", lr::ErrorCode::invalid_request, 400},
      {"Bearer abc\"def", lr::ErrorCode::invalid_request, 400},
      {"Bearer ==abc", lr::ErrorCode::invalid_request, 400},
      {"Bearer abc=def", lr::ErrorCode::invalid_request, 400},
      {"Bearer " + t.substr(0, 10) + "\xc3\xa9", lr::ErrorCode::invalid_request, 400},
      {"Bearer not-a-jwt", lr::ErrorCode::invalid_token, 401},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    auto r = v->validate(c.header);
    expect_error(r, c.code, c.status);
    if (c.code == lr::ErrorCode::missing_token) {
      EXPECT_EQ(r.error().www_authenticate, "Bearer realm=\"api\"");
    }
    if (c.code == lr::ErrorCode::invalid_request) {
      EXPECT_TRUE(r.error().www_authenticate.starts_with("Bearer realm=\"api\", error=\"invalid_request\""));
    }
  }
  // RFC 6750 §2.1 grammar: "Bearer" 1*SP b64token, and the scheme is case-insensitive.
  EXPECT_TRUE(v->validate("bearer " + t).has_value());
  EXPECT_TRUE(v->validate("Bearer  " + t).has_value()) << "1*SP allows two spaces";
  EXPECT_TRUE(v->validate("  Bearer " + t + " ").has_value()) << "surrounding whitespace is not part of the field value";
}

TEST_F(Fixture, JwksEndpointDownKeepsTheLastGoodKeys) {
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}), "public, max-age=120");
  auto v = make(options());
  EXPECT_EQ(v->key_set_status().fresh_until, clock->now() + 120);
  fetcher->go_down(kJwksUri);
  clock->advance(121);  // stale: the next validation tries a refetch, which fails
  auto r = v->validate(bearer(token()));
  ASSERT_TRUE(r.has_value()) << r.error().description;
  EXPECT_EQ(fetcher->calls(kJwksUri), 2);
  auto status = v->key_set_status();
  EXPECT_EQ(status.fetch_failures, 1u);
  EXPECT_EQ(status.kids, std::vector<std::string>{"a"});
  EXPECT_NE(status.last_error.find("connection refused"), std::string::npos);
  // A 500 or a broken document does not replace the keys either, and refetches stay rate-limited.
  fetcher->on(kJwksUri, [](const lr::FetchRequest&) -> std::expected<lr::FetchResponse, std::string> {
    return lr::FetchResponse{500, {}, "oops"};
  });
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(v->validate(bearer(token())).has_value());
  EXPECT_EQ(fetcher->calls(kJwksUri), 2);
  clock->advance(10);
  EXPECT_TRUE(v->validate(bearer(token())).has_value());
  EXPECT_EQ(fetcher->calls(kJwksUri), 3);
  fetcher->serve_json(kJwksUri, "{\"keys\":[]}");
  clock->advance(10);
  EXPECT_TRUE(v->validate(bearer(token())).has_value()) << "an empty key set is not accepted as the new keys";
  EXPECT_EQ(fetcher->calls(kJwksUri), 4);
}

TEST_F(Fixture, JwksCacheControlMaxAgeIsHonouredAndBounded) {
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}), "max-age=60, must-revalidate");
  auto v = make(options());
  clock->advance(59);
  EXPECT_TRUE(v->validate(bearer(token())).has_value());
  EXPECT_EQ(fetcher->calls(kJwksUri), 1);
  clock->advance(1);
  EXPECT_TRUE(v->validate(bearer(token())).has_value());
  EXPECT_EQ(fetcher->calls(kJwksUri), 2);

  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}), "no-store");
  EXPECT_TRUE(v->refresh_keys(true).has_value());
  EXPECT_EQ(v->key_set_status().fresh_until, clock->now() + 10) << "no-store still waits min_refetch_interval";
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}), "max-age=99999999");
  EXPECT_TRUE(v->refresh_keys(true).has_value());
  EXPECT_EQ(v->key_set_status().fresh_until, clock->now() + 86400);
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}));
  EXPECT_TRUE(v->refresh_keys(true).has_value());
  EXPECT_EQ(v->key_set_status().fresh_until, clock->now() + 300);
}

TEST_F(Fixture, CacheControlParsing) {
  EXPECT_EQ(lr::cache_control_max_age("public, max-age=300"), 300);
  EXPECT_EQ(lr::cache_control_max_age("MAX-AGE=\"20\""), 20);
  EXPECT_EQ(lr::cache_control_max_age("no-cache, max-age=300"), 0);
  EXPECT_EQ(lr::cache_control_max_age("max-age=abc"), std::nullopt);
  EXPECT_EQ(lr::cache_control_max_age("max-age=-5"), std::nullopt);
  EXPECT_EQ(lr::cache_control_max_age(""), std::nullopt);
  EXPECT_EQ(lr::cache_control_max_age("s-maxage=5"), std::nullopt);
  EXPECT_EQ(lr::cache_control_max_age("max-age=99999999999999999999999"), 2147483648);
}

TEST_F(Fixture, CachedValidationsSkipTheSignatureButNeverOutliveExp) {
  auto v = make();
  auto c = claims();
  c["exp"] = clock->now() + 30;
  std::string t = token(c);
  ASSERT_TRUE(v->validate(bearer(t)).has_value());
  ASSERT_TRUE(v->validate(bearer(t)).has_value());
  EXPECT_EQ(v->stats().signature_checks, 1u);
  EXPECT_EQ(v->stats().cache_hits, 1u);
  // Per-request requirements are checked on cache hits too.
  expect_error(v->validate(bearer(t), {.scopes = {"admin"}}), lr::ErrorCode::insufficient_scope, 403);
  expect_error(v->validate(bearer(t), {.audience = "https://x.example"}), lr::ErrorCode::invalid_token, 401);

  clock->advance(30);  // exp reached; the 60 s skew still accepts it, but not from the cache
  ASSERT_TRUE(v->validate(bearer(t)).has_value());
  EXPECT_EQ(v->stats().signature_checks, 2u) << "the cache entry ended at exp";
  clock->advance(60);
  expect_error(v->validate(bearer(t)), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, ARemovedKeyEndsItsCachedValidations) {
  auto v = make();
  std::string t = token();
  ASSERT_TRUE(v->validate(bearer(t)).has_value());
  fetcher->serve_json(kJwksUri, jwks_of({{&key_b, "b"}}));  // key a withdrawn (compromised?)
  ASSERT_TRUE(v->refresh_keys(true).has_value());
  expect_error(v->validate(bearer(t)), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, CacheIsBoundedAndCanBeDisabled) {
  auto o = options();
  o.token_cache_slots = 0;
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}}));
  auto v = make(o);
  std::string t = token();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(v->validate(bearer(t)).has_value());
  EXPECT_EQ(v->stats().signature_checks, 3u);
  EXPECT_EQ(v->stats().cache_hits, 0u);

  auto o2 = options();
  o2.token_cache_slots = 2;
  auto small = make(o2);
  std::vector<std::string> tokens;
  for (int i = 0; i < 50; ++i) {
    auto c = claims();
    c["jti"] = "j" + std::to_string(i);
    tokens.push_back(token(c));
  }
  for (const auto& tk : tokens) ASSERT_TRUE(small->validate(bearer(tk)).has_value());
  for (const auto& tk : tokens) ASSERT_TRUE(small->validate(bearer(tk)).has_value());
  EXPECT_LE(small->stats().cache_hits, 2u) << "two slots hold at most two tokens";
}

TEST_F(Fixture, DiscoveryFindsTheJwksUri) {
  fetcher->serve_json("https://idp.example/.well-known/openid-configuration",
                      R"({"issuer":"https://idp.example","jwks_uri":"https://keys.idp.example/jwks"})");
  fetcher->serve_json("https://keys.idp.example/jwks", jwks_of({{&key_a, "a"}}));
  auto o = options();
  o.jwks_uri.clear();
  auto v = make(o);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->validate(bearer(token())).has_value());

  fetcher->serve_json("https://idp.example/.well-known/openid-configuration",
                      R"({"issuer":"https://evil.example","jwks_uri":"https://keys.idp.example/jwks"})");
  auto mismatch = lr::Validator::create(o);
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_NE(mismatch.error().find("another issuer"), std::string::npos);

  fetcher->serve_json("https://idp.example/.well-known/openid-configuration",
                      R"({"issuer":"https://idp.example","jwks_uri":"http://keys.idp.example/jwks"})");
  EXPECT_FALSE(lr::Validator::create(o).has_value()) << "keys over plain http are refused";

  o.issuer = "http://idp.example";
  EXPECT_FALSE(lr::Validator::create(o).has_value());
  o.issuer = kIssuer;
  o.audience.clear();
  EXPECT_FALSE(lr::Validator::create(o).has_value()) << "no audience, no validator";
}

TEST_F(Fixture, StartFailsWhenTheFirstJwksFetchFails) {
  fetcher->go_down(kJwksUri);
  auto v = lr::Validator::create(options());
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().find("connection refused"), std::string::npos);
}

TEST_F(Fixture, FromJwksUsesAFixedKeySet) {
  auto o = options();
  o.jwks_uri.clear();
  auto v = lr::Validator::from_jwks(o, jwks_of({{&key_a, "a"}}));
  ASSERT_TRUE(v.has_value()) << v.error();
  EXPECT_TRUE((*v)->validate(bearer(token())).has_value());
  clock->advance(100);
  expect_error((*v)->validate(bearer(token(claims(), &key_b, "b"))), lr::ErrorCode::invalid_token, 401);
  EXPECT_EQ(fetcher->calls(kJwksUri), 0);
  EXPECT_FALSE(lr::Validator::from_jwks(o, "{\"keys\":[]}").has_value());
}

TEST_F(Fixture, RestrictedAlgorithmAllowlist) {
  jose::SigningKeyPair rsa = jose::SigningKeyPair::generate(jose::Algorithm::RS256);
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}, {&rsa, "r"}}));
  auto o = options();
  o.algorithms = {jose::Algorithm::ES256};
  auto v = make(o);
  EXPECT_TRUE(v->validate(bearer(token())).has_value());
  expect_error(v->validate(bearer(token(claims(), &rsa, "r"))), lr::ErrorCode::invalid_token, 401);
}

TEST_F(Fixture, ConcurrentValidationsDuringRotation) {
  auto v = make();
  fetcher->serve_json(kJwksUri, jwks_of({{&key_a, "a"}, {&key_b, "b"}}));
  clock->advance(11);
  std::string ta = token(), tb = token(claims(), &key_b, "b");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int n = 0; n < 200; ++n)
        if (!v->validate(bearer((n + i) % 2 ? ta : tb)).has_value()) ++failures;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(fetcher->calls(kJwksUri), 2) << "one refetch for all threads";
}

// ---------------------------------------------------------------------------------------------
// Introspection mode (RFC 7662).

struct Introspection : Fixture {
  bool active = true;
  std::string token_type = "Bearer";
  long status = 200;
  boost::json::object answer;

  void SetUp() override {
    answer = claims();
    fetcher->on(kIntrospect, [this](const lr::FetchRequest& req) -> std::expected<lr::FetchResponse, std::string> {
      if (status == 0) return std::unexpected("connection refused");
      boost::json::object body = answer;
      body["active"] = active;
      if (!token_type.empty()) body["token_type"] = token_type;
      if (!active) body = {{"active", false}};
      (void)req;
      return lr::FetchResponse{status, {}, boost::json::serialize(body)};
    });
  }
  lr::ValidatorOptions introspection_options(latchkey::util::Timestamp ttl = 30) {
    auto o = options();
    o.introspection = lr::IntrospectionOptions{kIntrospect, "my api", "s3cr:t", ttl};
    return o;
  }
};

TEST_F(Introspection, AsksTheProviderWithClientCredentials) {
  auto v = make(introspection_options());
  auto r = v->validate("Bearer opaque-token_123");
  ASSERT_TRUE(r.has_value()) << r.error().description;
  EXPECT_EQ((*r)->subject, "user-1");
  EXPECT_EQ(fetcher->calls(kJwksUri), 0);
  auto req = fetcher->last(kIntrospect);
  EXPECT_EQ(req.method, "POST");
  auto form = latchkey::util::parse_form(req.body);
  ASSERT_TRUE(form.has_value());
  EXPECT_EQ(form->get_or("token"), "opaque-token_123");
  EXPECT_EQ(form->get_or("token_type_hint"), "access_token");
  std::string auth;
  for (const auto& [k, val] : req.headers)
    if (k == "Authorization") auth = val;
  // RFC 6749 §2.3.1: form-urlencoded id and secret, then Base64.
  EXPECT_EQ(auth, "Basic " + latchkey::util::base64_encode("my%20api:s3cr%3At"));
}

TEST_F(Introspection, RevocationIsSeenWithinTheCacheTtl) {
  auto v = make(introspection_options(5));
  ASSERT_TRUE(v->validate("Bearer tok").has_value());
  active = false;  // revoked at the provider
  ASSERT_TRUE(v->validate("Bearer tok").has_value()) << "still cached";
  EXPECT_EQ(fetcher->calls(kIntrospect), 1);
  clock->advance(5);
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::invalid_token, 401);
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::invalid_token, 401);
  EXPECT_EQ(fetcher->calls(kIntrospect), 3) << "inactive answers are not cached";
}

TEST_F(Introspection, CacheEntryEndsAtExp) {
  answer["exp"] = clock->now() + 3;
  auto v = make(introspection_options(30));
  ASSERT_TRUE(v->validate("Bearer tok").has_value());
  clock->advance(2);
  ASSERT_TRUE(v->validate("Bearer tok").has_value());
  EXPECT_EQ(fetcher->calls(kIntrospect), 1);
  clock->advance(1);
  active = false;  // the provider says inactive once exp has passed
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::invalid_token, 401);
  EXPECT_EQ(fetcher->calls(kIntrospect), 2);
}

TEST_F(Introspection, ChecksAudienceIssuerScopeAndTokenType) {
  auto v = make(introspection_options(0));
  expect_error(v->validate("Bearer tok", {.scopes = {"admin"}}), lr::ErrorCode::insufficient_scope, 403);
  answer["aud"] = "https://other.example";
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::invalid_token, 401);
  answer["aud"] = kAudience;
  answer["iss"] = "https://evil.example";
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::invalid_token, 401);
  answer["iss"] = kIssuer;
  token_type = "refresh_token";
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::invalid_token, 401);
  token_type = "";
  EXPECT_TRUE(v->validate("Bearer tok").has_value());
}

TEST_F(Introspection, ProviderDownIs503NotAcceptance) {
  auto v = make(introspection_options());
  status = 0;
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::unavailable, 503);
  status = 500;
  auto r = v->validate("Bearer tok");
  expect_error(r, lr::ErrorCode::unavailable, 503);
  EXPECT_EQ(r.error().www_authenticate, "");
  status = 401;  // our client credentials are wrong: still not the caller's fault
  expect_error(v->validate("Bearer tok"), lr::ErrorCode::unavailable, 503);
}

TEST_F(Introspection, EndpointFromDiscoveryAndCredentialsRequired) {
  fetcher->serve_json("https://idp.example/.well-known/openid-configuration",
                      R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/jwks","introspection_endpoint":"https://idp.example/introspect"})");
  auto o = introspection_options();
  o.introspection->endpoint.clear();
  auto v = make(o);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->introspection_mode());
  EXPECT_TRUE(v->validate("Bearer tok").has_value());
  o.introspection->client_secret.clear();
  EXPECT_FALSE(lr::Validator::create(o).has_value());
}

TEST(SecureUrl, HttpsOrLoopbackOnly) {
  EXPECT_TRUE(lr::is_secure_or_loopback_url("https://idp.example/jwks"));
  EXPECT_TRUE(lr::is_secure_or_loopback_url("http://127.0.0.1:8080/jwks"));
  EXPECT_TRUE(lr::is_secure_or_loopback_url("http://localhost/jwks"));
  EXPECT_TRUE(lr::is_secure_or_loopback_url("http://[::1]:9/jwks"));
  EXPECT_FALSE(lr::is_secure_or_loopback_url("http://idp.example/jwks"));
  EXPECT_FALSE(lr::is_secure_or_loopback_url("http://127.0.0.1.evil.example/jwks"));
  EXPECT_FALSE(lr::is_secure_or_loopback_url("http://127.1/jwks"));
  EXPECT_FALSE(lr::is_secure_or_loopback_url("https://user@idp.example/"));
  EXPECT_FALSE(lr::is_secure_or_loopback_url("ftp://idp.example/"));
}

}  // namespace
