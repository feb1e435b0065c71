#include "http/address_list.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "util/strings.h"

namespace latchkey::http {

namespace {

struct Parsed {
  bool v6 = false;
  std::uint8_t bytes[16] = {};
};

// Brackets allowed around IPv6 ("[::1]"), as X-Forwarded-For sometimes carries them.
bool parse_ip(std::string_view text, Parsed& out) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45) return false;
  std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out.v6 = false;
    std::memcpy(out.bytes, &v4, 4);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&v6, kMappedPrefix, 12) == 0) {  // ::ffff:a.b.c.d is an IPv4 client
      out.v6 = false;
      std::memcpy(out.bytes, reinterpret_cast<const std::uint8_t*>(&v6) + 12, 4);
      return true;
    }
    out.v6 = true;
    std::memcpy(out.bytes, &v6, 16);
    return true;
  }
  return false;
}

bool prefix_matches(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
  unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

std::string canonical(const Parsed& p) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.bytes, text, sizeof text);
  return text;
}

}  // namespace

std::expected<AddressList, std::string> AddressList::parse(const std::vector<std::string>& entries) {
  AddressList list;
  for (const auto& raw : entries) {
    std::string entry = util::trim(raw);
    std::string_view address = entry;
    unsigned prefix = 0;
    bool has_prefix = false;
    if (auto slash = address.find('/'); slash != std::string_view::npos) {
      auto digits = address.substr(slash + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
        return std::unexpected("\"" + entry + "\" has a bad prefix length");
      address = address.substr(0, slash);
      has_prefix = true;
    }
    Parsed parsed;
    if (!parse_ip(address, parsed)) return std::unexpected("\"" + entry + "\" is not an IP address or CIDR range");
    unsigned width = parsed.v6 ? 128 : 32;
    if (!has_prefix) prefix = width;
    if (prefix > width) return std::unexpected("\"" + entry + "\": the prefix is longer than the address");
    Range range;
    range.v6 = parsed.v6;
    std::memcpy(range.bytes, parsed.bytes, sizeof range.bytes);
    range.prefix = prefix;
    list.ranges_.push_back(range);
  }
  return list;
}

bool AddressList::contains(std::string_view address) const {
  Parsed parsed;
  if (!parse_ip(address, parsed)) return false;
  for (const auto& range : ranges_)
    if (range.v6 == parsed.v6 && prefix_matches(range.bytes, parsed.bytes, range.prefix)) return true;
  return false;
}

ForwardedClient resolve_forwarded(const AddressList& trusted, std::string_view peer,
                                  const std::vector<std::string_view>& forwarded_for,
                                  std::string_view forwarded_proto, std::string_view connection_scheme) {
  ForwardedClient out{std::string(peer), std::string(connection_scheme), false};
  if (trusted.empty() || !trusted.contains(peer)) return out;

  // Every hop of every X-Forwarded-For field, in order (repeated fields are one list, RFC 9110 §5.3).
  std::vector<std::string_view> hops;
  for (auto field : forwarded_for) {
    while (!field.empty()) {
      auto comma = field.find(',');
      auto hop = field.substr(0, comma);
      while (!hop.empty() && (hop.front() == ' ' || hop.front() == '\t')) hop.remove_prefix(1);
      while (!hop.empty() && (hop.back() == ' ' || hop.back() == '\t')) hop.remove_suffix(1);
      hops.push_back(hop);
      if (comma == std::string_view::npos) break;
      field.remove_prefix(comma + 1);
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    Parsed parsed;
    if (!parse_ip(*it, parsed)) break;  // a hop we cannot read: stop at the last good one
    out.address = canonical(parsed);
    out.forwarded = true;
    if (!trusted.contains(out.address)) break;
  }
  // The scheme the client used with the proxy; only the two known values are taken.
  auto proto = util::to_lower(util::trim(forwarded_proto.substr(0, forwarded_proto.find(','))));
  if (proto == "https" || proto == "http") {
    out.scheme = proto;
    out.forwarded = true;
  }
  return out;
}

}  // namespace latchkey::http
