#include "client/discovery.h"

#include <arpa/inet.h>

#include <boost/json.hpp>
#include <fstream>
#include <iterator>

#include "client/store.h"
#include "util/base64url.h"
#include "util/crypto.h"
#include "util/strings.h"

namespace latchkey::client {

namespace {

std::string_view strip_trailing_slash(std::string_view s) {
  while (s.ends_with('/')) s.remove_suffix(1);
  return s;
}

std::string string_member(const boost::json::object& o, std::string_view name) {
  if (auto* v = o.if_contains(name); v && v->is_string()) return std::string(v->as_string());
  return {};
}

std::vector<std::string> string_array(const boost::json::object& o, std::string_view name) {
  std::vector<std::string> out;
  if (auto* v = o.if_contains(name); v && v->is_array())
    for (const auto& item : v->as_array())
      if (item.is_string()) out.emplace_back(item.as_string());
  return out;
}

// Splits "scheme://authority/path?query" into authority and the rest; empty authority on failure.
struct UrlParts {
  std::string scheme, host, rest;
};

UrlParts split_url(std::string_view url) {
  UrlParts p;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return p;
  p.scheme = util::to_lower(url.substr(0, sep));
  std::string_view after = url.substr(sep + 3);
  auto slash = after.find_first_of("/?#");
  std::string_view authority = after.substr(0, slash);
  p.rest = slash == std::string_view::npos ? "" : std::string(after.substr(slash));
  if (authority.find('@') != std::string_view::npos) return {};  // no userinfo in provider URLs
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return {};
    p.host = util::to_lower(authority.substr(0, close + 1));
  } else {
    p.host = util::to_lower(authority.substr(0, authority.find(':')));
  }
  return p;
}

}  // namespace

bool is_secure_or_loopback_url(std::string_view url) {
  UrlParts p = split_url(url);
  if (p.host.empty()) return false;
  if (p.scheme == "https") return true;
  if (p.scheme != "http") return false;
  if (p.host == "localhost" || p.host == "[::1]") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, p.host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

std::string oidc_discovery_url(std::string_view issuer) {
  return std::string(strip_trailing_slash(issuer)) + "/.well-known/openid-configuration";
}

std::string oauth_discovery_url(std::string_view issuer) {
  auto sep = issuer.find("://");
  if (sep == std::string_view::npos) return std::string(issuer) + "/.well-known/oauth-authorization-server";
  auto path_start = issuer.find('/', sep + 3);
  std::string_view origin = issuer.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : strip_trailing_slash(issuer.substr(path_start));
  return std::string(origin) + "/.well-known/oauth-authorization-server" + std::string(path);
}

Result<ProviderMetadata> parse_metadata(std::string_view json, std::string_view expected_issuer) {
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  if (ec || !value.is_object())
    return fail(ErrorKind::network, "the provider metadata for " + std::string(expected_issuer) + " is not a JSON object",
                "check --issuer");
  const auto& o = value.as_object();
  ProviderMetadata m;
  m.issuer = string_member(o, "issuer");
  if (m.issuer != expected_issuer)
    return fail(ErrorKind::refused,
                "the provider calls itself '" + m.issuer + "', not '" + std::string(expected_issuer) + "'",
                "pass exactly --issuer " + (m.issuer.empty() ? std::string("<its issuer>") : m.issuer));
  m.authorization_endpoint = string_member(o, "authorization_endpoint");
  m.token_endpoint = string_member(o, "token_endpoint");
  m.jwks_uri = string_member(o, "jwks_uri");
  m.device_authorization_endpoint = string_member(o, "device_authorization_endpoint");
  m.revocation_endpoint = string_member(o, "revocation_endpoint");
  m.userinfo_endpoint = string_member(o, "userinfo_endpoint");
  m.token_endpoint_auth_methods_supported = string_array(o, "token_endpoint_auth_methods_supported");
  m.code_challenge_methods_supported = string_array(o, "code_challenge_methods_supported");
  m.grant_types_supported = string_array(o, "grant_types_supported");
  if (auto* v = o.if_contains("authorization_response_iss_parameter_supported"); v && v->is_bool())
    m.authorization_response_iss_parameter_supported = v->as_bool();
  if (m.token_endpoint.empty())
    return fail(ErrorKind::refused, "the provider metadata of " + m.issuer + " has no token_endpoint",
                "give the endpoints explicitly (--token-endpoint, --authorization-endpoint)");
  for (const std::string* url : {&m.authorization_endpoint, &m.token_endpoint, &m.jwks_uri,
                                 &m.device_authorization_endpoint, &m.revocation_endpoint, &m.userinfo_endpoint})
    if (!url->empty() && !is_secure_or_loopback_url(*url))
      return fail(ErrorKind::refused, "the provider metadata lists an endpoint that is not https: " + *url,
                  "fix the provider's configuration");
  return m;
}

std::string ProviderMetadata::to_json() const {
  auto array = [](const std::vector<std::string>& v) {
    boost::json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
  };
  boost::json::object o;
  o["issuer"] = issuer;
  auto put = [&](const char* name, const std::string& value) {
    if (!value.empty()) o[name] = value;
  };
  put("authorization_endpoint", authorization_endpoint);
  put("token_endpoint", token_endpoint);
  put("jwks_uri", jwks_uri);
  put("device_authorization_endpoint", device_authorization_endpoint);
  put("revocation_endpoint", revocation_endpoint);
  put("userinfo_endpoint", userinfo_endpoint);
  o["token_endpoint_auth_methods_supported"] = array(token_endpoint_auth_methods_supported);
  o["code_challenge_methods_supported"] = array(code_challenge_methods_supported);
  o["grant_types_supported"] = array(grant_types_supported);
  o["authorization_response_iss_parameter_supported"] = authorization_response_iss_parameter_supported;
  return boost::json::serialize(o);
}

std::filesystem::path Discovery::cache_file(std::string_view issuer) const {
  return cache_dir_ / ("metadata-" + util::base64url_encode(util::sha256(issuer)).substr(0, 22) + ".json");
}

std::optional<ProviderMetadata> Discovery::read_cache(std::string_view issuer) const {
  if (cache_dir_.empty()) return std::nullopt;
  std::ifstream in(cache_file(issuer));
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;  // a broken cache is only a cache miss
  const auto& o = value.as_object();
  auto* fetched = o.if_contains("fetched_at");
  auto* doc = o.if_contains("metadata");
  if (!fetched || !fetched->is_int64() || !doc || !doc->is_object()) return std::nullopt;
  util::Timestamp age = clock_.now() - fetched->as_int64();
  if (age < 0 || age > max_age_) return std::nullopt;
  auto parsed = parse_metadata(boost::json::serialize(*doc), issuer);
  if (!parsed) return std::nullopt;
  return *parsed;
}

void Discovery::write_cache(std::string_view issuer, const std::string& document) const {
  if (cache_dir_.empty()) return;
  boost::system::error_code ec;
  auto doc = boost::json::parse(document, ec);
  if (ec) return;
  boost::json::object o{{"issuer", issuer}, {"fetched_at", clock_.now()}, {"metadata", doc}};
  if (!ensure_private_dir(cache_dir_)) return;  // the cache is an optimisation: never fail a login for it
  (void)write_file_atomically(cache_file(issuer), boost::json::serialize(o) + "\n");
}

Result<ProviderMetadata> Discovery::fetch(std::string_view issuer, bool use_cache) {
  if (!is_secure_or_loopback_url(issuer))
    return fail(ErrorKind::usage, "the issuer must be an https URL (http only on loopback): " + std::string(issuer),
                "pass --issuer https://...");
  if (use_cache)
    if (auto cached = read_cache(issuer)) return *cached;
  Error last;
  for (const std::string& url : {oidc_discovery_url(issuer), oauth_discovery_url(issuer)}) {
    HttpRequest req;
    req.url = url;
    req.headers.emplace_back("Accept", "application/json");
    auto res = http_.send(req);
    if (!res) return std::unexpected(res.error());  // unreachable host: the fallback would not help
    if (res->status != 200) {
      last = Error{ErrorKind::network, "no provider metadata at " + url + " (HTTP " + std::to_string(res->status) + ")",
                   "check --issuer, or give the endpoints explicitly"};
      continue;
    }
    auto parsed = parse_metadata(res->body, issuer);
    if (!parsed) return parsed;
    write_cache(issuer, res->body);
    return parsed;
  }
  return std::unexpected(last);
}

}  // namespace latchkey::client
