// redirect_uri matching (oauth/redirect_uri.h): exact match (RFC 9700 §4.1.3) except the port of
// a loopback http URI (RFC 8252 §7.3). A wrong "match" is an open redirector or a code leak.
// Input: "<registered>\n<requested>".
#include <boost/url.hpp>
#include <optional>
#include <string>

#include "fuzz_support.h"
#include "oauth/redirect_uri.h"

using namespace latchkey;

namespace {

// The URI without its port, or nullopt when it does not parse.
std::optional<std::string> without_port(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed) return std::nullopt;
  boost::urls::url u(*parsed);
  u.remove_port();
  return std::string(u.buffer());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto fields = fuzz::split_fields(fuzz::as_text(data, size), 2);
  auto registered = fields[0], requested = fields[1];

  FUZZ_CHECK(oauth::redirect_uri_matches(registered, registered));
  if (!oauth::redirect_uri_matches(registered, requested) || registered == requested) return 0;

  // Anything but byte equality is only the loopback exception: both loopback http, and equal
  // once the ports are taken away.
  FUZZ_CHECK(oauth::is_loopback_http_uri(registered) && oauth::is_loopback_http_uri(requested));
  auto a = without_port(registered), b = without_port(requested);
  FUZZ_CHECK(a && b && *a == *b);
  // A loopback URI stays on loopback: no userinfo, no fragment, no other scheme.
  auto req = boost::urls::parse_absolute_uri(requested);
  FUZZ_CHECK(req && req->scheme() == "http" && !req->has_userinfo() && !req->has_fragment());
  return 0;
}
