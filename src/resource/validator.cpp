#include "resource/validator.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json/parse.hpp>
#include <cctype>
#include <cstring>
#include <mutex>

#include "jose/jws.h"
#include "util/base64url.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/strings.h"

namespace latchkey::resource {

namespace {

using util::Timestamp;

// ---------------------------------------------------------------------------------------------
// The key set: an immutable snapshot behind an atomic shared_ptr. Validations load it without a
// mutex; a refetch builds a new snapshot and swaps it in.

struct KeySnapshot {
  std::vector<jose::PublicJwk> keys;
  Timestamp fetched_at = 0;
  Timestamp fresh_until = 0;  // 0: never refetched (a static JWKS)
  // Bumped when a refetch drops or changes a key: cached validations made with it end at once.
  std::uint64_t epoch = 0;
};

// ---------------------------------------------------------------------------------------------
// Validated-token cache: direct-mapped slots keyed by SHA-256 of the token. Bounded by
// construction (a colliding insert evicts), lock-free to read apart from the shared_ptr's own
// reference count, and an entry carries its own end: never later than the token's exp.

using Digest = std::array<unsigned char, 32>;

struct CacheEntry {
  Digest digest;
  Timestamp valid_until;
  std::uint64_t epoch;
  ClaimsPtr claims;
};

class TokenCache {
 public:
  explicit TokenCache(std::size_t slots) {
    if (slots == 0) return;
    std::size_t size = 1;
    while (size < slots) size <<= 1;
    mask_ = size - 1;
    slots_ = std::make_unique<std::atomic<std::shared_ptr<const CacheEntry>>[]>(size);
  }
  bool enabled() const { return slots_ != nullptr; }

  ClaimsPtr find(const Digest& digest, Timestamp now, std::uint64_t epoch) const {
    auto entry = slot(digest).load(std::memory_order_acquire);
    if (!entry || entry->digest != digest || now >= entry->valid_until || entry->epoch != epoch) return nullptr;
    return entry->claims;
  }
  void put(const Digest& digest, Timestamp valid_until, std::uint64_t epoch, ClaimsPtr claims) {
    slot(digest).store(std::make_shared<const CacheEntry>(CacheEntry{digest, valid_until, epoch, std::move(claims)}),
                       std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const CacheEntry>>& slot(const Digest& digest) const {
    std::uint64_t index;
    std::memcpy(&index, digest.data(), sizeof index);
    return slots_[index & mask_];
  }
  std::unique_ptr<std::atomic<std::shared_ptr<const CacheEntry>>[]> slots_;
  std::size_t mask_ = 0;
};

Digest token_digest(std::string_view token) {
  Digest d;
  std::string hash = util::sha256(token);
  std::memcpy(d.data(), hash.data(), d.size());
  return d;
}

// ---------------------------------------------------------------------------------------------
// Claim helpers.

std::optional<Timestamp> numeric_date(const boost::json::object& o, std::string_view name, bool& malformed) {
  const auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<Timestamp>(v->get_uint64());
  if (v->is_double() && v->get_double() >= 0 && v->get_double() < 9.2e18) return static_cast<Timestamp>(v->get_double());
  malformed = true;  // RFC 7519 §2: NumericDate is a JSON number
  return std::nullopt;
}

std::string string_claim(const boost::json::object& o, std::string_view name, bool& malformed) {
  const auto* v = o.if_contains(name);
  if (!v) return {};
  if (!v->is_string()) {
    malformed = true;
    return {};
  }
  return std::string(v->get_string());
}

// The claims every mode shares. Returns a description of the first problem, if any.
std::expected<Claims, std::string> read_claims(boost::json::object raw) {
  Claims c;
  bool bad = false;
  c.issuer = string_claim(raw, "iss", bad);
  if (bad) return std::unexpected("iss is not a string");
  c.subject = string_claim(raw, "sub", bad);
  if (bad) return std::unexpected("sub is not a string");
  c.client_id = string_claim(raw, "client_id", bad);
  if (bad) return std::unexpected("client_id is not a string");
  c.jwt_id = string_claim(raw, "jti", bad);
  if (bad) return std::unexpected("jti is not a string");
  if (auto e = numeric_date(raw, "exp", bad)) c.expires_at = *e;
  if (auto n = numeric_date(raw, "nbf", bad)) c.not_before = *n;
  if (auto i = numeric_date(raw, "iat", bad)) c.issued_at = *i;
  if (bad) return std::unexpected("exp, nbf or iat is not a number");

  // RFC 7519 §4.1.3: aud is a string or an array of strings.
  if (const auto* aud = raw.if_contains("aud")) {
    if (aud->is_string()) {
      c.audiences.emplace_back(aud->get_string());
    } else if (aud->is_array()) {
      for (const auto& a : aud->get_array()) {
        if (!a.is_string()) return std::unexpected("aud has a member that is not a string");
        c.audiences.emplace_back(a.get_string());
      }
    } else {
      return std::unexpected("aud is neither a string nor an array");
    }
  }
  // RFC 9068 §2.2.3 / RFC 8693 §4.2: "scope" is a space-separated string. Some providers send
  // "scp" (a string or an array) instead; it is read only when "scope" is absent.
  if (const auto* scope = raw.if_contains("scope")) {
    if (!scope->is_string()) return std::unexpected("scope is not a string");
    c.scopes = util::split_spaces(scope->get_string());
  } else if (const auto* scp = raw.if_contains("scp")) {
    if (scp->is_string()) {
      c.scopes = util::split_spaces(scp->get_string());
    } else if (scp->is_array()) {
      for (const auto& s : scp->get_array())
        if (s.is_string()) c.scopes.emplace_back(s.get_string());
    }
  }
  for (auto [name, out] : {std::pair{"roles", &c.roles}, std::pair{"groups", &c.groups}}) {
    const auto* v = raw.if_contains(name);
    if (!v) continue;
    if (!v->is_array()) return std::unexpected(std::string(name) + " is not an array");
    for (const auto& item : v->get_array()) {
      if (!item.is_string()) return std::unexpected(std::string(name) + " has a member that is not a string");
      out->emplace_back(item.get_string());
    }
  }
  c.raw = std::move(raw);
  return c;
}

bool is_missing_key_error(const std::string& error) {
  // jose::verify_jwt's words for "no key in the set fits this token" (a rotation we have not
  // seen yet); every other failure is final and never triggers a refetch.
  return error == "unknown kid" || error.starts_with("no key for alg");
}

bool is_access_token_typ(std::string_view typ) {
  // RFC 9068 §4: "at+jwt" or "application/at+jwt"; media types compare case-insensitively.
  std::string t = util::to_lower(typ);
  return t == "at+jwt" || t == "application/at+jwt";
}

// RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only.
std::string quoted_safe(std::string_view s) {
  std::string out;
  for (unsigned char c : s)
    if (c >= 0x20 && c <= 0x7E && c != '"' && c != '\\') out += static_cast<char>(c);
  return out;
}

bool same_key(const jose::PublicJwk& a, const jose::PublicJwk& b) {
  return a.alg == b.alg && EVP_PKEY_eq(a.key.get(), b.key.get()) == 1;
}

std::string strip_trailing_slash(std::string_view s) {
  while (s.ends_with('/')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Validator::Impl {
  ValidatorOptions options;
  std::string introspection_endpoint;
  bool static_keys = false;
  TokenCache cache;

  std::atomic<std::shared_ptr<const KeySnapshot>> keys;
  std::atomic<std::uint64_t> epoch{0};  // == keys.load()->epoch, readable without the shared_ptr

  // Only refetches take this; validations never do.
  mutable std::mutex refresh_mutex;
  Timestamp last_attempt = -1'000'000'000;  // guarded by refresh_mutex
  std::uint64_t fetch_attempts = 0, fetch_failures = 0;
  std::string last_error;

  std::atomic<std::uint64_t> cache_hits{0}, signature_checks{0}, introspection_calls{0};

  explicit Impl(ValidatorOptions o) : options(std::move(o)), cache(options.token_cache_slots) {}

  Timestamp now() const { return options.clock->now(); }

  ValidationError error(ErrorCode code, std::string_view description, const std::vector<std::string>& scopes = {}) const {
    ValidationError e;
    e.code = code;
    e.description = quoted_safe(description);
    switch (code) {
      case ErrorCode::missing_token: e.http_status = 401; break;
      case ErrorCode::invalid_request: e.http_status = 400; break;
      case ErrorCode::invalid_token: e.http_status = 401; break;
      case ErrorCode::insufficient_scope: e.http_status = 403; break;
      case ErrorCode::unavailable: e.http_status = 503; break;
    }
    if (code == ErrorCode::unavailable) return e;  // not the token's fault: no challenge
    std::vector<std::string> params;
    if (!options.realm.empty()) params.push_back("realm=\"" + quoted_safe(options.realm) + "\"");
    // RFC 6750 §3.1: a request without credentials gets the challenge with no error code.
    if (code != ErrorCode::missing_token) {
      params.push_back("error=\"" + std::string(to_string(code)) + "\"");
      if (!e.description.empty()) params.push_back("error_description=\"" + e.description + "\"");
    }
    if (code == ErrorCode::insufficient_scope && !scopes.empty())
      params.push_back("scope=\"" + quoted_safe(util::join(scopes)) + "\"");
    e.www_authenticate = params.empty() ? "Bearer" : "Bearer " + util::join(params, ", ");
    return e;
  }

  // ----- key set -----

  // Fetches the JWKS and swaps it in. Caller holds refresh_mutex.
  std::expected<void, std::string> fetch_keys_locked(Timestamp at) {
    last_attempt = at;
    ++fetch_attempts;
    auto fail = [&](std::string why) -> std::expected<void, std::string> {
      ++fetch_failures;
      last_error = why;
      return std::unexpected(std::move(why));
    };
    FetchRequest request;
    request.url = options.jwks_uri;
    request.headers = {{"Accept", "application/jwk-set+json, application/json"}};
    auto response = options.fetcher->fetch(request);
    if (!response) return fail(response.error());
    if (response->status != 200)
      return fail("the JWKS endpoint " + options.jwks_uri + " answered HTTP " + std::to_string(response->status));
    auto parsed = jose::parse_jwks(response->body);
    if (!parsed) return fail("the JWKS from " + options.jwks_uri + " is invalid: " + parsed.error());
    if (parsed->empty()) return fail("the JWKS from " + options.jwks_uri + " has no usable signature key");

    Timestamp max_age = cache_control_max_age(response->header("cache-control")).value_or(options.default_keys_max_age);
    max_age = std::clamp(max_age, options.min_refetch_interval, std::max(options.min_refetch_interval, options.max_keys_max_age));

    auto old = keys.load(std::memory_order_acquire);
    auto next = std::make_shared<KeySnapshot>();
    next->keys = std::move(*parsed);
    next->fetched_at = at;
    next->fresh_until = at + max_age;
    next->epoch = old ? old->epoch : 0;
    if (old) {
      // A key that disappeared (or changed under the same kid) may be compromised: tokens cached
      // as validated with it must be checked again.
      for (const auto& before : old->keys) {
        bool kept = std::any_of(next->keys.begin(), next->keys.end(), [&](const jose::PublicJwk& after) {
          return after.kid == before.kid && same_key(after, before);
        });
        if (!kept) {
          ++next->epoch;
          break;
        }
      }
    }
    epoch.store(next->epoch, std::memory_order_release);
    keys.store(std::move(next), std::memory_order_release);
    last_error.clear();
    return {};
  }

  // A refetch because a token names a key we do not have. Rate-limited, so forged kids cannot
  // make us hammer the provider (at most one fetch per min_refetch_interval, failures included).
  // True when a newer key set is now in place.
  bool refetch_for_unknown_key(const KeySnapshot* seen) {
    if (static_keys) return false;
    std::lock_guard lock(refresh_mutex);
    if (keys.load(std::memory_order_acquire).get() != seen) return true;  // another thread just did it
    Timestamp t = now();
    if (t - last_attempt < options.min_refetch_interval) return false;
    return fetch_keys_locked(t).has_value();
  }

  // When the JWKS max-age has passed, one request refetches (others do not wait for it); a
  // failing provider leaves the last good keys in place.
  void refresh_if_stale(const KeySnapshot& snapshot, Timestamp t) {
    if (static_keys || snapshot.fresh_until == 0 || t < snapshot.fresh_until) return;
    std::unique_lock lock(refresh_mutex, std::try_to_lock);
    if (!lock.owns_lock()) return;
    if (keys.load(std::memory_order_acquire).get() != &snapshot) return;
    if (t - last_attempt < options.min_refetch_interval) return;
    (void)fetch_keys_locked(t);
  }

  // ----- validation -----

  std::expected<ClaimsPtr, ValidationError> verify_jwt(std::string_view token, Timestamp t) {
    auto snapshot = keys.load(std::memory_order_acquire);
    refresh_if_stale(*snapshot, t);
    snapshot = keys.load(std::memory_order_acquire);
    signature_checks.fetch_add(1, std::memory_order_relaxed);
    auto verified = jose::verify_jwt(token, snapshot->keys, options.algorithms);
    if (!verified && is_missing_key_error(verified.error()) && refetch_for_unknown_key(snapshot.get())) {
      snapshot = keys.load(std::memory_order_acquire);
      verified = jose::verify_jwt(token, snapshot->keys, options.algorithms);
    }
    if (!verified) return std::unexpected(error(ErrorCode::invalid_token, "the token could not be verified (" + verified.error() + ")"));

    // RFC 9068 §4: the resource server MUST check typ, so an id_token or any other JWT signed by
    // the same keys cannot pass for an access token.
    const auto* typ = verified->header.if_contains("typ");
    if (!typ || !typ->is_string() || !is_access_token_typ(typ->get_string()))
      return std::unexpected(error(ErrorCode::invalid_token, "the token is not an access token (typ is not at+jwt)"));

    auto claims = read_claims(std::move(verified->claims));
    if (!claims) return std::unexpected(error(ErrorCode::invalid_token, claims.error()));
    // RFC 9068 §4: iss MUST exactly match the issuer; exp, sub and iat are REQUIRED (§2.2).
    if (claims->issuer != options.issuer) return std::unexpected(error(ErrorCode::invalid_token, "the token is from another issuer"));
    if (!claims->raw.contains("exp")) return std::unexpected(error(ErrorCode::invalid_token, "the token has no exp"));
    if (!claims->raw.contains("iat")) return std::unexpected(error(ErrorCode::invalid_token, "the token has no iat"));
    if (claims->subject.empty()) return std::unexpected(error(ErrorCode::invalid_token, "the token has no sub"));
    if (claims->audiences.empty()) return std::unexpected(error(ErrorCode::invalid_token, "the token has no aud"));
    auto out = std::make_shared<const Claims>(std::move(*claims));
    if (cache.enabled()) cache.put(token_digest(token), out->expires_at, snapshot->epoch, out);
    return out;
  }

  std::expected<ClaimsPtr, ValidationError> introspect(std::string_view token, Timestamp t) {
    const auto& io = *options.introspection;
    FetchRequest request;
    request.method = "POST";
    request.url = introspection_endpoint;
    // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Base64.
    std::string basic = util::url_encode(io.client_id) + ":" + util::url_encode(io.client_secret);
    request.headers = {{"Authorization", "Basic " + util::base64_encode(basic)},
                       {"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    request.body = util::encode_form({{"token", std::string(token)}, {"token_type_hint", "access_token"}});
    introspection_calls.fetch_add(1, std::memory_order_relaxed);
    auto response = options.fetcher->fetch(request);
    if (!response) return std::unexpected(error(ErrorCode::unavailable, "the token cannot be checked now"));
    if (response->status != 200)
      return std::unexpected(error(ErrorCode::unavailable, "the token cannot be checked now (introspection answered HTTP " +
                                                               std::to_string(response->status) + ")"));
    boost::system::error_code ec;
    auto value = boost::json::parse(response->body, ec);
    if (ec || !value.is_object())
      return std::unexpected(error(ErrorCode::unavailable, "the token cannot be checked now (unreadable introspection answer)"));
    auto& o = value.get_object();
    // RFC 7662 §2.2: "active" is REQUIRED and boolean; anything but true means not usable.
    const auto* active = o.if_contains("active");
    if (!active || !active->is_bool() || !active->get_bool())
      return std::unexpected(error(ErrorCode::invalid_token, "the token is not active"));
    // A refresh token (or any other kind) is active too, but it is not an access token.
    if (const auto* type = o.if_contains("token_type"); type && (!type->is_string() || util::to_lower(type->get_string()) != "bearer"))
      return std::unexpected(error(ErrorCode::invalid_token, "the token is not an access token"));
    auto claims = read_claims(std::move(o));
    if (!claims) return std::unexpected(error(ErrorCode::invalid_token, claims.error()));
    if (!claims->issuer.empty() && claims->issuer != options.issuer)
      return std::unexpected(error(ErrorCode::invalid_token, "the token is from another issuer"));
    if (claims->audiences.empty()) return std::unexpected(error(ErrorCode::invalid_token, "the token has no aud"));
    auto out = std::make_shared<const Claims>(std::move(*claims));
    Timestamp until = t + io.cache_ttl;
    if (out->expires_at != 0) until = std::min(until, out->expires_at);
    if (cache.enabled() && io.cache_ttl > 0 && until > t) cache.put(token_digest(token), until, 0, out);
    return out;
  }

  ValidationResult check(ClaimsPtr claims, const Requirements& req, Timestamp t) const {
    Timestamp skew = std::clamp<Timestamp>(req.clock_skew, 0, kMaxClockSkew);
    // RFC 7519 §4.1.4: the current time MUST be before exp (leeway allowed); §4.1.5: not before nbf.
    if (claims->expires_at != 0 && t >= claims->expires_at + skew) return std::unexpected(error(ErrorCode::invalid_token, "the token expired"));
    if (claims->not_before != 0 && t + skew < claims->not_before)
      return std::unexpected(error(ErrorCode::invalid_token, "the token is not valid yet"));
    if (claims->issued_at != 0 && claims->issued_at > t + skew)
      return std::unexpected(error(ErrorCode::invalid_token, "the token was issued in the future"));
    // RFC 9068 §4: the token MUST name this resource server in aud.
    const std::string& audience = req.audience.empty() ? options.audience : req.audience;
    if (std::find(claims->audiences.begin(), claims->audiences.end(), audience) == claims->audiences.end())
      return std::unexpected(error(ErrorCode::invalid_token, "the token is not meant for this API (aud)"));
    // RFC 6750 §3.1: insufficient_scope, with the scopes needed.
    for (const auto& s : req.scopes)
      if (!claims->has_scope(s)) return std::unexpected(error(ErrorCode::insufficient_scope, "the token lacks scope " + s, req.scopes));
    return claims;
  }

  ValidationResult validate_token(std::string_view token, const Requirements& req) {
    if (token.empty()) return std::unexpected(error(ErrorCode::missing_token, ""));
    if (token.size() > jose::kMaxTokenSize) return std::unexpected(error(ErrorCode::invalid_token, "the token is too large"));
    Timestamp t = now();
    ClaimsPtr claims;
    std::optional<Digest> digest;
    if (cache.enabled()) {
      digest = token_digest(token);
      bool jwt_mode = !options.introspection.has_value();
      claims = cache.find(*digest, t, jwt_mode ? epoch.load(std::memory_order_acquire) : 0);
      if (claims) cache_hits.fetch_add(1, std::memory_order_relaxed);
    }
    if (!claims) {
      auto fresh = options.introspection ? introspect(token, t) : verify_jwt(token, t);
      if (!fresh) return std::unexpected(std::move(fresh.error()));
      claims = std::move(*fresh);
    }
    return check(std::move(claims), req, t);
  }
};

// ---------------------------------------------------------------------------------------------

bool Claims::has_scope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}
bool Claims::has_role(std::string_view role) const { return std::find(roles.begin(), roles.end(), role) != roles.end(); }
bool Claims::in_group(std::string_view group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

namespace {

std::expected<void, std::string> prepare(ValidatorOptions& o) {
  if (o.issuer.empty()) return std::unexpected("the issuer is required");
  if (o.audience.empty()) return std::unexpected("the audience is required: an API must check that tokens are meant for it");
  if (o.algorithms.empty()) return std::unexpected("at least one algorithm must be allowed");
  if (o.min_refetch_interval < 1) return std::unexpected("min_refetch_interval must be at least 1 second");
  if (o.introspection) {
    if (o.introspection->client_id.empty() || o.introspection->client_secret.empty())
      return std::unexpected("introspection needs the API's client_id and client_secret (RFC 7662 §2.1)");
    if (o.introspection->cache_ttl < 0) return std::unexpected("the introspection cache TTL cannot be negative");
  }
  if (!o.fetcher) o.fetcher = make_curl_fetcher();
  if (!o.clock) o.clock = std::make_shared<util::SystemClock>();
  return {};
}

std::string string_member(const boost::json::object& o, std::string_view name) {
  if (const auto* v = o.if_contains(name); v && v->is_string()) return std::string(v->get_string());
  return {};
}

// OpenID Connect Discovery 1.0 §4, then RFC 8414 §3.1 (well-known between host and path).
std::expected<boost::json::object, std::string> discover(Fetcher& fetcher, const std::string& issuer) {
  if (!is_secure_or_loopback_url(issuer)) return std::unexpected("the issuer " + issuer + " must be https (http only on loopback)");
  std::vector<std::string> urls{strip_trailing_slash(issuer) + "/.well-known/openid-configuration"};
  auto scheme_end = issuer.find("://") + 3;
  auto path_start = issuer.find('/', scheme_end);
  std::string origin = issuer.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "" : strip_trailing_slash(issuer.substr(path_start));
  urls.push_back(origin + "/.well-known/oauth-authorization-server" + path);
  std::string problems;
  for (const auto& url : urls) {
    auto response = fetcher.fetch(FetchRequest{"GET", url, {{"Accept", "application/json"}}, ""});
    if (!response) {
      problems += "; " + response.error();
      continue;
    }
    if (response->status != 200) {
      problems += "; " + url + " answered HTTP " + std::to_string(response->status);
      continue;
    }
    boost::system::error_code ec;
    auto value = boost::json::parse(response->body, ec);
    if (ec || !value.is_object()) {
      problems += "; " + url + " is not a JSON object";
      continue;
    }
    // OIDC Discovery §4.3 / RFC 8414 §3.3: the document's issuer MUST be identical.
    if (string_member(value.get_object(), "issuer") != issuer)
      return std::unexpected("the metadata at " + url + " names another issuer than " + issuer);
    return std::move(value.get_object());
  }
  return std::unexpected("no provider metadata for " + issuer + problems);
}

}  // namespace

Validator::Validator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Validator::~Validator() = default;

std::expected<std::unique_ptr<Validator>, std::string> Validator::create(ValidatorOptions options) {
  if (auto ok = prepare(options); !ok) return std::unexpected(ok.error());
  bool introspection = options.introspection.has_value();
  bool need_discovery = introspection ? options.introspection->endpoint.empty() : options.jwks_uri.empty();
  if (need_discovery) {
    auto metadata = discover(*options.fetcher, options.issuer);
    if (!metadata) return std::unexpected(metadata.error());
    if (introspection) {
      options.introspection->endpoint = string_member(*metadata, "introspection_endpoint");
      if (options.introspection->endpoint.empty()) return std::unexpected("the provider announces no introspection_endpoint");
    } else {
      options.jwks_uri = string_member(*metadata, "jwks_uri");
      if (options.jwks_uri.empty()) return std::unexpected("the provider announces no jwks_uri");
    }
  }
  std::string endpoint = introspection ? options.introspection->endpoint : options.jwks_uri;
  // Keys and token answers over plain http could be forged by anyone on the path.
  if (!is_secure_or_loopback_url(endpoint)) return std::unexpected(endpoint + " must be https (http only on loopback)");

  auto impl = std::make_unique<Impl>(std::move(options));
  if (introspection) {
    impl->introspection_endpoint = endpoint;
  } else {
    std::lock_guard lock(impl->refresh_mutex);
    if (auto fetched = impl->fetch_keys_locked(impl->now()); !fetched) return std::unexpected(fetched.error());
  }
  return std::unique_ptr<Validator>(new Validator(std::move(impl)));
}

std::expected<std::unique_ptr<Validator>, std::string> Validator::from_jwks(ValidatorOptions options, std::string_view jwks_json) {
  options.introspection.reset();
  if (auto ok = prepare(options); !ok) return std::unexpected(ok.error());
  auto parsed = jose::parse_jwks(jwks_json);
  if (!parsed) return std::unexpected("the JWKS is invalid: " + parsed.error());
  if (parsed->empty()) return std::unexpected("the JWKS has no usable signature key");
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->static_keys = true;
  auto snapshot = std::make_shared<KeySnapshot>();
  snapshot->keys = std::move(*parsed);
  impl->keys.store(std::move(snapshot));
  return std::unique_ptr<Validator>(new Validator(std::move(impl)));
}

ValidationResult Validator::validate(std::string_view authorization, const Requirements& requirements) {
  auto token = extract_bearer_token(authorization);
  if (!token) {
    std::string_view why = token.error() == ErrorCode::invalid_request ? "malformed Bearer credentials (RFC 6750 §2.1)" : "";
    return std::unexpected(impl_->error(token.error(), why));
  }
  return impl_->validate_token(*token, requirements);
}

ValidationResult Validator::validate_token(std::string_view token, const Requirements& requirements) {
  return impl_->validate_token(token, requirements);
}

std::expected<void, std::string> Validator::refresh_keys(bool force) {
  if (impl_->static_keys) return std::unexpected("this validator has a fixed key set");
  if (impl_->options.introspection) return std::unexpected("this validator uses introspection, not keys");
  std::lock_guard lock(impl_->refresh_mutex);
  Timestamp t = impl_->now();
  if (!force && t - impl_->last_attempt < impl_->options.min_refetch_interval)
    return std::unexpected("the key set was fetched less than min_refetch_interval ago");
  return impl_->fetch_keys_locked(t);
}

KeySetStatus Validator::key_set_status() const {
  KeySetStatus s;
  if (auto snapshot = impl_->keys.load()) {
    for (const auto& k : snapshot->keys) s.kids.push_back(k.kid);
    s.fetched_at = snapshot->fetched_at;
    s.fresh_until = snapshot->fresh_until;
  }
  std::lock_guard lock(impl_->refresh_mutex);
  s.fetch_attempts = impl_->fetch_attempts;
  s.fetch_failures = impl_->fetch_failures;
  s.last_error = impl_->last_error;
  return s;
}

ValidatorStats Validator::stats() const {
  return {impl_->cache_hits.load(), impl_->signature_checks.load(), impl_->introspection_calls.load()};
}

bool Validator::introspection_mode() const { return impl_->options.introspection.has_value(); }

ValidationError Validator::make_error(ErrorCode code, std::string_view description, const std::vector<std::string>& scopes) const {
  return impl_->error(code, description, scopes);
}

}  // namespace latchkey::resource
