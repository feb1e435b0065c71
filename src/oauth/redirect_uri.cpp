#include "oauth/redirect_uri.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace latchkey::oauth {
namespace {

bool is_loopback(const boost::urls::url_view& u) {
  if (u.scheme() != "http" || u.has_userinfo() || u.has_fragment()) return false;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: return u.host_address() == "127.0.0.1";
    case boost::urls::host_type::ipv6: return u.host_address() == "::1";
    case boost::urls::host_type::name: return u.encoded_host() == "localhost";
    default: return false;
  }
}

}  // namespace

bool is_loopback_http_uri(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  return parsed && is_loopback(*parsed);
}

bool redirect_uri_matches(std::string_view registered, std::string_view requested) {
  if (registered == requested) return true;
  auto reg = boost::urls::parse_absolute_uri(registered);
  auto req = boost::urls::parse_absolute_uri(requested);
  if (!reg || !req || !is_loopback(*reg) || !is_loopback(*req)) return false;
  // Same host text, path and query; only the port may differ.
  if (reg->encoded_host() != req->encoded_host() || reg->host_type() != req->host_type()) return false;
  if (reg->encoded_path() != req->encoded_path()) return false;
  if (reg->has_query() != req->has_query() || reg->encoded_query() != req->encoded_query()) return false;
  if (req->has_port() && req->port().empty()) return false;
  return true;
}

}  // namespace latchkey::oauth
