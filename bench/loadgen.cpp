// A closed-loop HTTP/1.1 load generator for OAuth scenarios: N virtual users, each on its own
// keep-alive connection and cookie jar, repeat one operation (a grant or a whole browser flow) until
// the duration or the operation budget runs out. Prints one line of key=value figures.
//
// Blocking sockets, one thread per virtual user: at most a few hundred threads, which keeps the code
// obvious and costs the generator's core little next to the server's work. Works against any OP
// that publishes discovery (latchkey-server and node-oidc-provider alike): endpoints come from
// /.well-known/openid-configuration, login/consent pages are driven by parsing their one POST form.
//
//   loadgen --url http://127.0.0.1:PORT --scenario cc|refresh|sso|interactive --concurrency N
//           --duration SECONDS [--max-ops N] --client-id ID --client-secret S --redirect-uri URI
//           [--scope "openid profile"] [--username U --password P]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string scenario;
  int concurrency = 1;
  double duration_s = 5;
  long max_ops = 0;  // 0: no limit
  std::string client_id, client_secret, redirect_uri, scope = "openid profile", username, password;
};

// ---- small text helpers ------------------------------------------------------------------------

std::string b64url(const unsigned char* data, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::string base64_std(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string html_unescape(std::string s) {
  static const std::pair<std::string_view, std::string_view> kEntities[] = {
      {"&amp;", "&"}, {"&quot;", "\""}, {"&#34;", "\""}, {"&#39;", "'"}, {"&#x27;", "'"}, {"&lt;", "<"}, {"&gt;", ">"},
      {"&#x2F;", "/"}, {"&#47;", "/"}, {"&#61;", "="}, {"&#x3D;", "="}};
  for (auto [from, to] : kEntities) {
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The value of "name":"..." in a flat JSON object; enough for token responses and discovery.
std::optional<std::string> json_string(std::string_view body, std::string_view name) {
  std::string key = "\"" + std::string(name) + "\"";
  auto pos = body.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  pos = body.find('"', body.find(':', pos + key.size()));
  if (pos == std::string_view::npos) return std::nullopt;
  auto end = body.find('"', pos + 1);
  if (end == std::string_view::npos) return std::nullopt;
  std::string out(body.substr(pos + 1, end - pos - 1));
  for (std::size_t p = 0; (p = out.find("\\/", p)) != std::string::npos;) out.erase(p, 1);
  return out;
}

std::string query_param(std::string_view url, std::string_view name) {
  auto q = url.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = url.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

// ---- HTTP/1.1 over one keep-alive connection ---------------------------------------------------

struct Response {
  int status = 0;
  std::string location;
  std::vector<std::string> set_cookies;
  std::string body;
  bool close = false;
};

class Connection {
 public:
  Connection(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~Connection() { disconnect(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One retry when a reused connection turns out closed by the peer before answering.
  Response request(const std::string& head_and_body) {
    for (int attempt = 0;; ++attempt) {
      bool fresh = fd_ < 0;
      if (fresh) connect_now();
      try {
        send_all(head_and_body);
        Response r = read_response();
        if (r.close) disconnect();
        return r;
      } catch (const std::exception&) {
        disconnect();
        if (fresh || attempt > 0 || got_bytes_) throw;
      }
    }
  }

 private:
  void connect_now() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};  // nothing waits forever
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      disconnect();
      throw std::runtime_error("connect failed");
    }
    buffer_.clear();
  }
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }
  void send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) throw std::runtime_error(n == 0 ? "connection closed" : "recv failed or timed out");
    got_bytes_ = true;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  std::string take_line() {
    std::size_t pos;
    while ((pos = buffer_.find("\r\n")) == std::string::npos) fill();
    std::string line = buffer_.substr(0, pos);
    buffer_.erase(0, pos + 2);
    return line;
  }
  std::string take(std::size_t n) {
    while (buffer_.size() < n) fill();
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }
  Response read_response() {
    got_bytes_ = false;
    Response r;
    std::string status_line = take_line();
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) throw std::runtime_error("bad status line");
    r.status = std::stoi(status_line.substr(9, 3));
    r.close = status_line.starts_with("HTTP/1.0");
    std::optional<std::size_t> length;
    bool chunked = false;
    for (std::string line; !(line = take_line()).empty();) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = lower(std::string_view(line).substr(0, colon));
      std::string value = line.substr(line.find_first_not_of(' ', colon + 1));
      if (name == "content-length") length = std::stoul(value);
      else if (name == "transfer-encoding") chunked = lower(value).find("chunked") != std::string::npos;
      else if (name == "connection") r.close = lower(value) == "close" ? true : (lower(value) == "keep-alive" ? false : r.close);
      else if (name == "location") r.location = value;
      else if (name == "set-cookie") r.set_cookies.push_back(value);
    }
    if (chunked) {
      for (;;) {
        std::size_t size = std::stoul(take_line(), nullptr, 16);
        if (size == 0) {
          while (!take_line().empty()) {
          }
          break;
        }
        r.body += take(size);
        take_line();
      }
    } else if (length) {
      r.body = take(*length);
    }
    return r;
  }

  std::string host_;
  int port_;
  int fd_ = -1;
  bool got_bytes_ = false;
  std::string buffer_;
};

// Name -> value, ignoring Path/Domain: one host, and the flows never need two cookies of one name.
struct CookieJar {
  std::map<std::string, std::string> cookies;
  void absorb(const Response& r) {
    for (const auto& line : r.set_cookies) {
      auto semi = line.find(';');
      std::string first = line.substr(0, semi);
      std::string attrs = semi == std::string::npos ? "" : lower(line.substr(semi));
      auto eq = first.find('=');
      if (eq == std::string::npos) continue;
      std::string name = first.substr(0, eq);
      attrs.erase(std::remove(attrs.begin(), attrs.end(), ' '), attrs.end());
      bool expired = attrs.find("max-age=0") != std::string::npos || attrs.find("max-age=-") != std::string::npos ||
                     attrs.find("expires=thu,01jan1970") != std::string::npos;
      if (expired) cookies.erase(name);
      else cookies[name] = first.substr(eq + 1);
    }
  }
  std::string header() const {
    std::string out;
    for (const auto& [k, v] : cookies) out += (out.empty() ? "" : "; ") + k + "=" + v;
    return out;
  }
};

// ---- HTML: the one POST form of a login or consent page ----------------------------------------

std::string attribute(std::string_view tag, std::string_view name) {
  std::string lowered = lower(tag);
  for (std::size_t pos = 0; (pos = lowered.find(name, pos)) != std::string::npos; pos += name.size()) {
    bool starts = pos > 0 && std::isspace(static_cast<unsigned char>(lowered[pos - 1]));
    std::size_t after = pos + name.size();
    if (!starts || after >= tag.size() || tag[after] != '=') continue;
    char quote = tag[after + 1];
    if (quote == '"' || quote == '\'') {
      auto end = tag.find(quote, after + 2);
      return html_unescape(std::string(tag.substr(after + 2, end - after - 2)));
    }
    auto end = tag.find_first_of(" >", after + 1);
    return html_unescape(std::string(tag.substr(after + 1, end - after - 1)));
  }
  return {};
}

struct Form {
  std::string action;
  std::vector<std::pair<std::string, std::string>> fields;
  bool has_password = false;
  bool has_allow_button = false;
};

std::optional<Form> post_form(const std::string& html) {
  std::string lowered = lower(html);
  for (std::size_t pos = 0; (pos = lowered.find("<form", pos)) != std::string::npos; ++pos) {
    auto tag_end = html.find('>', pos);
    std::string_view tag(html.data() + pos, tag_end - pos);
    if (lower(attribute(tag, "method")) != "post") continue;
    Form form;
    form.action = attribute(tag, "action");
    auto form_end = lowered.find("</form", tag_end);
    for (std::size_t p = tag_end; (p = lowered.find('<', p + 1)) < form_end;) {
      auto e = html.find('>', p);
      std::string_view t(html.data() + p, e - p);
      bool input = lowered.compare(p, 6, "<input") == 0, button = lowered.compare(p, 7, "<button") == 0;
      if (!input && !button) continue;
      std::string name = attribute(t, "name"), type = lower(attribute(t, "type")), value = attribute(t, "value");
      if (name.empty()) continue;
      if (button || type == "submit") {
        if (name == "decision" && value == "allow") form.has_allow_button = true;
        continue;
      }
      if (type == "password") form.has_password = true;
      form.fields.emplace_back(name, value);
    }
    return form;
  }
  return std::nullopt;
}

// ---- one virtual user --------------------------------------------------------------------------

struct Endpoints {
  std::string authorize_path, token_path, issuer;
};

std::string path_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

struct Stats {
  std::vector<std::uint32_t> op_us, token_us;  // latencies in microseconds
  long ops = 0, errors = 0, requests = 0;
  std::string first_error;
};

class FlowError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class User {
 public:
  User(const Options& o, const Endpoints& e, Stats& s) : o_(o), e_(e), s_(s), conn_(o.host, o.port) {}

  Response send(const std::string& method, const std::string& target, const std::string& body, bool cookies,
                const std::string& extra_headers = {}) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
                      "\r\nUser-Agent: latchkey-loadgen\r\nAccept: */*\r\n" + extra_headers;
    if (cookies && !jar.cookies.empty()) req += "Cookie: " + jar.header() + "\r\n";
    if (method == "POST") {
      req += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    ++s_.requests;
    Response r = conn_.request(req);
    if (cookies) jar.absorb(r);
    return r;
  }

  Response token(const std::string& form) {
    auto t0 = Clock::now();
    std::string auth = "Authorization: Basic " + base64_std(url_encode(o_.client_id) + ":" + url_encode(o_.client_secret)) + "\r\n";
    Response r = send("POST", e_.token_path, form, false, auth);
    s_.token_us.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
    if (r.status != 200) throw FlowError("token endpoint " + std::to_string(r.status) + ": " + r.body.substr(0, 200));
    return r;
  }

  void client_credentials() { token("grant_type=client_credentials"); }

  void refresh() {
    if (refresh_token.empty()) throw FlowError("no refresh token");
    Response r = token("grant_type=refresh_token&refresh_token=" + url_encode(refresh_token));
    auto next = json_string(r.body, "refresh_token");
    if (!next) throw FlowError("refresh response carries no new refresh_token (no rotation?)");
    refresh_token = *next;
  }

  // authorize -> (login, consent as the server asks) -> code at the redirect_uri -> token. With
  // interaction allowed, prompt=consent (OIDC Core §3.1.2.1) makes every flow show the consent page,
  // even where the OP remembers an earlier consent.
  Response code_flow(bool allow_interaction) {
    unsigned char raw[32];
    RAND_bytes(raw, sizeof raw);
    std::string verifier = b64url(raw, sizeof raw);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
    RAND_bytes(raw, 12);
    std::string state = b64url(raw, 12);
    std::string target = e_.authorize_path + "?response_type=code&client_id=" + url_encode(o_.client_id) +
                         "&redirect_uri=" + url_encode(o_.redirect_uri) + "&scope=" + url_encode(o_.scope) +
                         "&state=" + state + "&nonce=" + state + "&code_challenge=" + b64url(digest, sizeof digest) +
                         "&code_challenge_method=S256" + (allow_interaction ? "&prompt=consent" : "");
    Response r = send("GET", target, "", true);
    for (int step = 0; step < 12; ++step) {
      if (r.status != 302 && r.status != 303) {
        throw FlowError("expected a redirect, got " + std::to_string(r.status) + " at step " + std::to_string(step) + ": " +
                        r.body.substr(0, 200));
      }
      if (r.location.starts_with(o_.redirect_uri)) {
        std::string code = query_param(r.location, "code");
        if (code.empty()) throw FlowError("redirect without code: " + r.location.substr(0, 200));
        return token("grant_type=authorization_code&code=" + url_encode(code) + "&redirect_uri=" +
                     url_encode(o_.redirect_uri) + "&code_verifier=" + verifier);
      }
      if (!allow_interaction) throw FlowError("SSO flow asked for interaction: " + r.location.substr(0, 200));
      std::string here = path_of(r.location);
      r = send("GET", here, "", true);
      if (r.status == 302 || r.status == 303) continue;
      if (r.status != 200) throw FlowError("page " + here + " answered " + std::to_string(r.status));
      auto form = post_form(r.body);
      if (!form) throw FlowError("no POST form on " + here);
      std::string body;
      for (auto& [k, v] : form->fields) {
        std::string value = k == "username" ? o_.username : (k == "password" ? o_.password : v);
        body += (body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(value);
      }
      if (!form->has_password) {
        if (!form->has_allow_button) throw FlowError("form on " + here + " is neither login nor consent");
        body += "&decision=allow";
      }
      std::string action = form->action.empty() ? here : path_of(form->action);
      if (!action.starts_with("/")) action = here.substr(0, here.rfind('/') + 1) + action;
      r = send("POST", action, body, true);
    }
    throw FlowError("flow did not reach the redirect_uri");
  }

  CookieJar jar;
  std::string refresh_token;

 private:
  const Options& o_;
  const Endpoints& e_;
  Stats& s_;
  Connection conn_;
};

std::uint32_t percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url") {
      auto rest = v.substr(v.find("://") + 3);
      auto colon = rest.find(':');
      o.host = rest.substr(0, colon);
      o.port = std::stoi(rest.substr(colon + 1));
    } else if (k == "--scenario") o.scenario = v;
    else if (k == "--concurrency") o.concurrency = std::stoi(v);
    else if (k == "--duration") o.duration_s = std::stod(v);
    else if (k == "--max-ops") o.max_ops = std::stol(v);
    else if (k == "--client-id") o.client_id = v;
    else if (k == "--client-secret") o.client_secret = v;
    else if (k == "--redirect-uri") o.redirect_uri = v;
    else if (k == "--scope") o.scope = v;
    else if (k == "--username") o.username = v;
    else if (k == "--password") o.password = v;
    else throw std::invalid_argument("unknown option " + k);
  }
  if (o.port == 0 || o.scenario.empty() || o.concurrency < 1) throw std::invalid_argument("need --url, --scenario, --concurrency >= 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  Stats setup_stats;
  Endpoints e;
  {
    User probe(o, e, setup_stats);
    Response d = probe.send("GET", "/.well-known/openid-configuration", "", false);
    if (d.status != 200) throw std::runtime_error("discovery answered " + std::to_string(d.status));
    e.authorize_path = path_of(json_string(d.body, "authorization_endpoint").value_or("/authorize"));
    e.token_path = path_of(json_string(d.body, "token_endpoint").value_or("/token"));
  }

  // Setup, not measured: one interactive login gives a session with a remembered consent; each
  // virtual user copies that session, and for the refresh scenario starts its own token chain.
  CookieJar session;
  if (o.scenario == "sso" || o.scenario == "refresh") {
    User first(o, e, setup_stats);
    first.code_flow(true);
    session = first.jar;
  }
  std::vector<Stats> stats(static_cast<std::size_t>(o.concurrency));
  std::vector<std::unique_ptr<User>> users;
  for (int i = 0; i < o.concurrency; ++i) {
    users.push_back(std::make_unique<User>(o, e, stats[static_cast<std::size_t>(i)]));
    users.back()->jar = session;
    if (o.scenario == "refresh") {
      Response r = users.back()->code_flow(false);
      users.back()->refresh_token = json_string(r.body, "refresh_token").value_or("");
      if (users.back()->refresh_token.empty()) throw std::runtime_error("the code exchange issued no refresh token");
    }
  }
  for (auto& s : stats) s = Stats{};  // setup requests are not figures

  std::atomic<long> budget{o.max_ops > 0 ? o.max_ops : -1};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.concurrency; ++i) {
    threads.emplace_back([&, i] {
      User& u = *users[static_cast<std::size_t>(i)];
      Stats& s = stats[static_cast<std::size_t>(i)];
      const CookieJar initial = u.jar;
      while (Clock::now() < deadline) {
        if (o.max_ops > 0 && budget.fetch_sub(1) <= 0) break;
        auto t0 = Clock::now();
        try {
          if (o.scenario == "cc") u.client_credentials();
          else if (o.scenario == "refresh") u.refresh();
          else if (o.scenario == "sso") u.code_flow(false);
          else if (o.scenario == "interactive") {
            u.jar = initial;  // a new browser each time: no session, so a login
            u.code_flow(true);
          } else throw std::invalid_argument("unknown scenario");
          ++s.ops;
          s.op_us.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
        } catch (const std::invalid_argument&) {
          throw;
        } catch (const std::exception& ex) {
          if (s.errors++ == 0) s.first_error = ex.what();
          if (o.scenario == "refresh") break;  // a broken chain cannot continue
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  Stats all;
  for (auto& s : stats) {
    all.ops += s.ops;
    all.errors += s.errors;
    all.requests += s.requests;
    all.op_us.insert(all.op_us.end(), s.op_us.begin(), s.op_us.end());
    all.token_us.insert(all.token_us.end(), s.token_us.begin(), s.token_us.end());
    if (all.first_error.empty()) all.first_error = s.first_error;
  }
  auto ms = [](std::uint32_t us) { return static_cast<double>(us) / 1000.0; };
  std::uint32_t max_us = all.op_us.empty() ? 0 : *std::max_element(all.op_us.begin(), all.op_us.end());
  std::printf(
      "scenario=%s concurrency=%d elapsed_s=%.3f ops=%ld errors=%ld requests=%ld ops_per_s=%.1f p50_ms=%.3f "
      "p99_ms=%.3f max_ms=%.3f token_p50_ms=%.3f token_p99_ms=%.3f\n",
      o.scenario.c_str(), o.concurrency, elapsed, all.ops, all.errors, all.requests, static_cast<double>(all.ops) / elapsed,
      ms(percentile(all.op_us, 0.50)), ms(percentile(all.op_us, 0.99)), ms(max_us), ms(percentile(all.token_us, 0.50)),
      ms(percentile(all.token_us, 0.99)));
  if (!all.first_error.empty()) std::fprintf(stderr, "first error: %s\n", all.first_error.c_str());
  return 0;
} catch (const std::exception& ex) {
  std::fprintf(stderr, "loadgen: %s\n", ex.what());
  return 2;
}
