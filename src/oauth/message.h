#pragma once
// The neutral request and response the protocol core speaks. Only http/ turns sockets into these,
// so every protocol rule can be tested in microseconds without a network.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace latchkey::oauth {

using Header = std::pair<std::string, std::string>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // "/token", without the query
  std::string query;   // raw query string, without '?'
  std::vector<Header> headers;  // names in lower case, in arrival order, repeats kept
  std::string body;
  std::string remote_address;  // client IP as text

  // The first value of a header (name in lower case), or nullopt.
  std::optional<std::string_view> header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return std::string_view(v);
    return std::nullopt;
  }
  std::size_t header_count(std::string_view lower_name) const {
    std::size_t n = 0;
    for (const auto& h : headers) n += h.first == lower_name;
    return n;
  }
};

struct Response {
  int status = 200;
  std::vector<Header> headers;  // may repeat (Set-Cookie)
  std::string body;

  void set_header(std::string name, std::string value) {
    for (auto& h : headers)
      if (h.first == name) {
        h.second = std::move(value);
        return;
      }
    headers.emplace_back(std::move(name), std::move(value));
  }
  void add_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  std::optional<std::string_view> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return std::string_view(v);
    return std::nullopt;
  }
};

}  // namespace latchkey::oauth
