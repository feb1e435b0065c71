#pragma once
// A list of IP addresses and CIDR ranges ("127.0.0.1", "::1", "10.0.0.0/8", "fd00::/8"), used for
// the trusted reverse proxies and for who may read /metrics. IPv4 clients seen on a dual-stack
// socket as ::ffff:a.b.c.d match the IPv4 entries.
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace latchkey::http {

class AddressList {
 public:
  // Every entry must be an IP literal, optionally with a /prefix; the error names the bad entry.
  static std::expected<AddressList, std::string> parse(const std::vector<std::string>& entries);

  // False for anything that is not an IP literal (never a name lookup).
  bool contains(std::string_view address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    bool v6 = false;
    std::uint8_t bytes[16] = {};
    unsigned prefix = 0;  // leading bits that must match
  };
  std::vector<Range> ranges_;
};

// The client's address and scheme as seen through trusted proxies (X-Forwarded-For and
// X-Forwarded-Proto), from the connection's peer address and the request's header values.
struct ForwardedClient {
  std::string address;
  std::string scheme;  // "http" or "https"
  bool forwarded = false;  // true when the headers were used
};

// When `peer` is not in `trusted`, the headers are ignored: the peer is the client. Otherwise the
// X-Forwarded-For chain is read from the right, skipping trusted proxies; the first address that
// is not a trusted proxy is the client (the one our nearest proxy saw). Garbage in the header
// leaves the last good hop as the client, never a text the sender chose.
ForwardedClient resolve_forwarded(const AddressList& trusted, std::string_view peer,
                                  const std::vector<std::string_view>& forwarded_for,
                                  std::string_view forwarded_proto, std::string_view connection_scheme);

}  // namespace latchkey::http
