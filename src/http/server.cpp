#include "http/server.h"

#include <openssl/ssl.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "http/address_list.h"
#include "http/convert.h"

namespace latchkey::http {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// What the server's registry needs of a session of either kind (plain or TLS).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void shutdown() = 0;
};

// Request ids only correlate log lines with responses: unique, not secret.
std::string new_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    auto bits = generator();
    for (int i = 0; i < 16; ++i, bits >>= 4) id[static_cast<std::size_t>(half * 16 + i)] = kHex[bits & 0xf];
  }
  return id;
}

// An id a trusted proxy already gave the request is kept, when it is short and plain.
bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

bool is_forwarding_header(std::string_view lower_name) {
  return lower_name == "x-forwarded-for" || lower_name == "x-forwarded-proto" || lower_name == "x-forwarded-host" ||
         lower_name == "forwarded" || lower_name == "x-request-id";
}

std::shared_ptr<ssl::context> load_tls_context(const TlsFiles& files) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  // TLS 1.2 is the floor (RFC 9325 §3.1.1); the options above say the same for older OpenSSL.
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  context->use_certificate_chain_file(files.certificate_file, ec);
  if (ec) throw std::runtime_error("cannot load tls.certificate_file " + files.certificate_file + ": " + ec.message());
  context->use_private_key_file(files.private_key_file, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot load tls.private_key_file " + files.private_key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1)
    throw std::runtime_error("tls.private_key_file " + files.private_key_file +
                             " does not belong to the certificate in " + files.certificate_file);
  return context;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  AddressList trusted_proxies;

  // The session registry outlives the io_context: sessions still queued in it are destroyed
  // with it and unregister themselves then.
  std::mutex sessions_mutex;
  std::list<std::weak_ptr<SessionBase>> sessions;
  std::atomic<std::size_t> active_connections{0};
  std::atomic<bool> stopping{false};

  // The current TLS context; a reload swaps it, sessions keep the one they started with.
  std::mutex tls_mutex;
  std::shared_ptr<ssl::context> tls_context;

  asio::io_context ioc;
  // Requests options.is_slow picks run here (run() creates it), not on the I/O threads.
  std::unique_ptr<asio::thread_pool> slow_pool;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::signal_set signals{ioc};
  asio::signal_set reload_signals{ioc};
  asio::steady_timer accept_retry{ioc};
  asio::steady_timer shutdown_poll{ioc};
  std::chrono::steady_clock::time_point shutdown_deadline;

  void log(std::string_view level, std::string_view message) {
    if (options.log) return options.log(level, message);
    std::fprintf(stderr, "latchkey-server: %.*s: %.*s\n", static_cast<int>(level.size()), level.data(),
                 static_cast<int>(message.size()), message.data());
  }
  std::shared_ptr<ssl::context> current_tls_context() {
    std::lock_guard lock(tls_mutex);
    return tls_context;
  }
  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void wait_for_reload_signal();
  void begin_shutdown();
  void poll_shutdown();
};

namespace {

// One connection: reads a request, hands it to the handler, writes the response, repeats while
// the connection is kept alive. All of its work runs on its own strand. Stream is
// beast::tcp_stream, or beast::ssl_stream over one for TLS (handshake first).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Session(tcp::socket&& socket, Server::Impl& server, std::shared_ptr<ssl::context> tls_context)
      : server_(server), tls_context_(std::move(tls_context)), stream_(make_stream(std::move(socket), tls_context_)) {
    ++server_.active_connections;
    beast::error_code ec;
    auto endpoint = lowest().socket().remote_endpoint(ec);
    if (!ec) {
      auto address = endpoint.address();
      // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; report them as a.b.c.d.
      if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      peer_address_ = address.to_string();
    }
  }

  ~Session() override {
    {
      std::lock_guard lock(server_.sessions_mutex);
      if (registered_) server_.sessions.erase(registry_entry_);
    }
    --server_.active_connections;
  }

  void start() {
    {
      std::lock_guard lock(server_.sessions_mutex);
      registry_entry_ = server_.sessions.insert(server_.sessions.end(), this->weak_from_this());
      registered_ = true;
    }
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls)
        self->handshake();
      else
        self->read_request();
    });
  }

  // Graceful shutdown: an idle connection is closed now; one with a request under way finishes
  // it first (the response then says Connection: close).
  void shutdown() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      bool idle = !self->busy_ && self->buffer_.size() == 0 && (!self->parser_ || !self->parser_->got_some());
      if (idle) {
        beast::error_code ignored;
        self->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        self->lowest().cancel();
      }
    });
  }

 private:
  static Stream make_stream(tcp::socket&& socket, const std::shared_ptr<ssl::context>& context) {
    if constexpr (kTls)
      return Stream(std::move(socket), *context);
    else
      return Stream(std::move(socket));
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void handshake() {
    if constexpr (kTls) {
      lowest().expires_after(server_.options.read_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        // Scanners and clients that reject our certificate end here; nothing to answer.
        if (ec) return self->close();
        self->read_request();
      });
    }
  }

  void read_request() {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_.options.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(server_.options.max_body_bytes);
    // The whole request must arrive within the timeout, so a slow client cannot hold the
    // connection (and a thread's worth of buffers) forever.
    lowest().expires_after(server_.options.read_timeout);
    beast_http::async_read_header(stream_, buffer_, *parser_,
                                  beast::bind_front_handler(&Session::on_header, this->shared_from_this()));
  }

  // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for an interim response
  // before the body (curl does this for bodies over 1 KiB and would otherwise stall a second).
  // The limits have been checked on the headers already, so an oversized body never gets one.
  void on_header(beast::error_code ec, std::size_t) {
    started_ = std::chrono::steady_clock::now();
    if (ec) return on_read(ec, 0);
    const auto& header = parser_->get();
    if (framing_problem(header)) return reject(400);
    if (parser_->is_done()) return on_read(ec, 0);
    auto expect = header[beast_http::field::expect];
    bool wants_continue = header.version() >= 11 && beast::iequals(expect, "100-continue");
    if (!wants_continue) return read_body();
    auto interim = std::make_shared<beast_http::response<beast_http::empty_body>>(beast_http::status::continue_, 11);
    beast_http::async_write(stream_, *interim,
                            [self = this->shared_from_this(), interim](beast::error_code write_ec, std::size_t) {
                              if (write_ec) return self->close();
                              self->read_body();
                            });
  }

  void read_body() {
    beast_http::async_read(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == beast_http::error::end_of_stream || ec == beast_http::error::partial_message ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted)
      return close();
    if (ec == beast_http::error::header_limit) return reject(431);
    if (ec == beast_http::error::body_limit) return reject(413);
    if (ec && ec.category() == beast_http::make_error_code(beast_http::error::bad_method).category())
      return reject(400);  // malformed HTTP: answer, then close (we cannot resynchronise)
    if (ec) return close();  // network error: nobody to answer

    busy_ = true;
    BeastRequest request = parser_->release();
    bool keep_alive = request.keep_alive() && !server_.stopping;
    unsigned version = request.version();
    bool head = request.method() == beast_http::verb::head;

    auto neutral = to_oauth_request(request, peer_address_);
    if (!neutral) return reject(400);
    apply_forwarding(*neutral);
    if (server_.slow_pool && server_.options.is_slow && server_.options.is_slow(*neutral)) {
      // A password check (Argon2id, tens of ms of CPU) runs on the slow pool, so that the I/O
      // threads keep answering everyone else meanwhile; the answer is written from this session's
      // executor as usual.
      asio::post(*server_.slow_pool, [self = this->shared_from_this(), neutral = std::move(*neutral), version,
                                      keep_alive, head]() mutable {
        auto response = self->call_handler(neutral, version, keep_alive);
        auto executor = self->stream_.get_executor();
        asio::post(executor, [self = std::move(self), neutral = std::move(neutral), response = std::move(response),
                              keep_alive, head]() mutable {
          self->respond(neutral, std::move(response), keep_alive, head);
        });
      });
      return;
    }
    respond(*neutral, call_handler(*neutral, version, keep_alive), keep_alive, head);
  }

  BeastResponse call_handler(const oauth::Request& neutral, unsigned version, bool keep_alive) {
    try {
      return to_beast_response(server_.handler(neutral), version, keep_alive);
    } catch (const std::exception& e) {
      server_.log("error", std::string("handler failed: ") + e.what());
    } catch (...) {
      server_.log("error", "handler failed with an unknown exception");
    }
    return plain_response(500, version, keep_alive);
  }

  void respond(const oauth::Request& neutral, BeastResponse response, bool keep_alive, bool head) {
    if (head) {
      // RFC 9110 §9.3.2: the same headers as GET, no content.
      auto length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    response.set("X-Request-Id", request_id_);
    report(neutral.method, neutral.path, response.result_int());
    write(std::move(response), !keep_alive, false);
  }

  // The client as seen through trusted proxies; from anyone else the forwarding headers are
  // dropped, so nothing after this point can be fooled by them.
  void apply_forwarding(oauth::Request& request) {
    std::vector<std::string_view> forwarded_for;
    std::string_view forwarded_proto;
    std::string_view proxy_request_id;
    for (const auto& [name, value] : request.headers) {
      if (name == "x-forwarded-for") forwarded_for.push_back(value);
      if (name == "x-forwarded-proto" && forwarded_proto.empty()) forwarded_proto = value;
      if (name == "x-request-id" && proxy_request_id.empty()) proxy_request_id = value;
    }
    auto client = resolve_forwarded(server_.trusted_proxies, peer_address_, forwarded_for, forwarded_proto,
                                    kTls ? "https" : "http");
    bool from_proxy = !server_.trusted_proxies.empty() && server_.trusted_proxies.contains(peer_address_);
    request_id_ = from_proxy && usable_request_id(proxy_request_id) ? std::string(proxy_request_id) : new_request_id();
    client_address_ = std::move(client.address);
    scheme_ = std::move(client.scheme);
    if (!from_proxy)
      std::erase_if(request.headers, [](const oauth::Header& h) { return is_forwarding_header(h.first); });
    else
      std::erase_if(request.headers, [](const oauth::Header& h) { return h.first == "x-request-id"; });
    request.headers.emplace_back("x-request-id", request_id_);
    request.remote_address = client_address_;
  }

  void report(std::string_view method, std::string_view path, unsigned status) {
    if (!server_.options.on_request) return;
    RequestRecord record;
    record.request_id = request_id_;
    record.method = method;
    record.path = path.substr(0, path.find('?'));
    record.status = status;
    record.duration = std::chrono::steady_clock::now() - started_;
    record.client_address = client_address_.empty() ? std::string_view(peer_address_) : client_address_;
    record.scheme = scheme_.empty() ? (kTls ? "https" : "http") : std::string_view(scheme_);
    try {
      server_.options.on_request(record);
    } catch (...) {
      // Logging and metrics must never take a response down.
    }
  }

  // The adapter's own error answer; the connection cannot be trusted afterwards, so it closes.
  void reject(unsigned status) {
    busy_ = true;
    request_id_ = new_request_id();
    client_address_.clear();
    scheme_.clear();
    std::string method, path;
    std::optional<std::string> accept;  // known only when the header was read whole
    // A Content-Length over the limit is found once every field is parsed, but before the parser
    // calls the header done: the fields are complete then too.
    if (parser_ && (parser_->is_header_done() || status == 413)) {
      method = std::string(parser_->get().method_string());
      path = std::string(parser_->get().target());
      accept = std::string(parser_->get()[beast_http::field::accept]);
    }
    auto response = adapter_error_response(status, accept, 11);
    response.set("X-Request-Id", request_id_);
    report(method, path, status);
    write(std::move(response), true, true);
  }

  void write(BeastResponse&& response, bool close_after, bool drain_after) {
    response_ = std::move(response);
    lowest().expires_after(server_.options.read_timeout);
    beast_http::async_write(stream_, *response_,
                            [self = this->shared_from_this(), close_after, drain_after](beast::error_code ec, std::size_t) {
                              self->busy_ = false;
                              self->response_.reset();
                              if (ec) return self->close();
                              if (drain_after) return self->drain();
                              if (close_after) return self->close();
                              self->read_request();
                            });
  }

  // After an error answer the client may still be sending (a body over the limit). Closing with
  // unread data makes the kernel send RST, and the client could lose our answer; so shut down
  // our side and read (and discard) briefly until the client closes.
  void drain() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(std::chrono::seconds(2));
    drain_buffer_.resize(4096);
    read_some_and_discard();
  }

  void read_some_and_discard() {
    stream_.async_read_some(asio::buffer(drain_buffer_), [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > 1024 * 1024) return self->close();
      self->read_some_and_discard();
    });
  }

  // For TLS too the TCP connection is simply closed: every response is length-delimited, so a
  // missing close_notify cannot truncate one unnoticed (RFC 8446 §6.1 leaves this to the app).
  void close() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
  }

  Server::Impl& server_;
  std::shared_ptr<ssl::context> tls_context_;  // before stream_: the stream refers to it
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::optional<BeastResponse> response_;
  std::string peer_address_;
  std::string client_address_;
  std::string scheme_;
  std::string request_id_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool busy_ = false;
  std::vector<char> drain_buffer_;
  std::size_t drained_ = 0;
  std::list<std::weak_ptr<SessionBase>>::iterator registry_entry_;
  bool registered_ = false;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), beast::bind_front_handler(&Impl::on_accept, this));
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of file descriptors and the like: wait a moment instead of spinning on accept.
    log("error", "accept failed: " + ec.message());
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping) accept();
    });
    return;
  }
  if (active_connections.load() >= options.max_connections) {
    // Over the cap: refuse at once rather than queue. A plain-HTTP client is told 503 with
    // Retry-After (RFC 9110 §15.6.4); the send buffer of a fresh socket takes these bytes whole, so
    // the non-blocking write never waits. TLS clients are just closed (no handshake is spent).
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nServer: latchkey\r\nContent-Type: application/json\r\n"
        "Cache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 85\r\n\r\n"
        "{\"error\":\"temporarily_unavailable\",\"error_description\":\"too many connections; retry\"}";
    static_assert(kBusy.size() - kBusy.find("\r\n\r\n") - 4 == 85);
    beast::error_code ignored;
    if (!options.tls) {
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
      socket.shutdown(tcp::socket::shutdown_send, ignored);
    }
    socket.close(ignored);
  } else if (options.tls) {
    std::make_shared<TlsSession>(std::move(socket), *this, current_tls_context())->start();
  } else {
    std::make_shared<PlainSession>(std::move(socket), *this, nullptr)->start();
  }
  accept();
}

void Server::Impl::wait_for_reload_signal() {
  reload_signals.async_wait([this](beast::error_code ec, int) {
    if (ec || stopping) return;
    if (!options.tls) {
      log("info", "SIGHUP: no TLS certificate to reload");
    } else {
      try {
        auto fresh = load_tls_context(*options.tls);
        std::lock_guard lock(tls_mutex);
        tls_context = std::move(fresh);
        log("info", "SIGHUP: TLS certificate reloaded from " + options.tls->certificate_file);
      } catch (const std::exception& e) {
        log("error", std::string("SIGHUP: keeping the current TLS certificate: ") + e.what());
      }
    }
    wait_for_reload_signal();
  });
}

void Server::Impl::begin_shutdown() {
  if (stopping.exchange(true)) return;
  beast::error_code ignored;
  acceptor.close(ignored);
  signals.cancel(ignored);
  reload_signals.cancel(ignored);
  accept_retry.cancel();
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(sessions_mutex);
    for (auto& weak : sessions)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->shutdown();
  live.clear();
  shutdown_deadline = std::chrono::steady_clock::now() + options.shutdown_timeout;
  poll_shutdown();
}

// Ends run() when the last connection is gone or the shutdown timeout has passed.
void Server::Impl::poll_shutdown() {
  if (active_connections.load() == 0 || std::chrono::steady_clock::now() >= shutdown_deadline) {
    ioc.stop();
    return;
  }
  shutdown_poll.expires_after(std::chrono::milliseconds(20));
  shutdown_poll.async_wait([this](beast::error_code) { poll_shutdown(); });
}

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  auto& impl = *impl_;
  auto proxies = AddressList::parse(impl.options.trusted_proxies);
  if (!proxies) throw std::runtime_error("server.trusted_proxies: " + proxies.error());
  impl.trusted_proxies = std::move(*proxies);
  if (impl.options.tls) impl.tls_context = load_tls_context(*impl.options.tls);

  std::string where = impl.options.host + ":" + std::to_string(impl.options.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(impl.options.host, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": not an IP address");
  tcp::endpoint endpoint{address, impl.options.port};
  impl.acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(endpoint, ec);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  if (impl.options.stop_on_signals) {
    impl.signals.add(SIGTERM);
    impl.signals.add(SIGINT);
    impl.signals.async_wait([&impl](beast::error_code wait_ec, int) {
      if (!wait_ec) asio::post(impl.acceptor.get_executor(), [&impl] { impl.begin_shutdown(); });
    });
  }
  if (impl.options.reload_on_sighup) {
    impl.reload_signals.add(SIGHUP);
    impl.wait_for_reload_signal();
  }
  impl.accept();
}

Server::~Server() = default;

std::uint16_t Server::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? impl_->options.port : endpoint.port();
}

bool Server::tls() const { return impl_->options.tls.has_value(); }

std::size_t Server::active_connections() const { return impl_->active_connections.load(); }

std::expected<void, std::string> Server::reload_tls() {
  if (!impl_->options.tls) return std::unexpected("TLS is not configured");
  try {
    auto fresh = load_tls_context(*impl_->options.tls);
    std::lock_guard lock(impl_->tls_mutex);
    impl_->tls_context = std::move(fresh);
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(e.what());
  }
}

namespace {

// The CPUs this process may run on (taskset, cpusets), not the machine's: a server pinned to one
// core runs best with one thread, and more threads there only contend on locks and the database.
unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  return std::thread::hardware_concurrency();
}

}  // namespace

void Server::run() {
  unsigned n = impl_->options.threads ? impl_->options.threads : usable_cpus();
  n = std::max(1u, n);
  if (impl_->options.is_slow) {
    unsigned slow = impl_->options.slow_threads ? impl_->options.slow_threads : usable_cpus();
    impl_->slow_pool = std::make_unique<asio::thread_pool>(std::max(1u, slow));
  }
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) pool.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : pool) t.join();
  if (impl_->slow_pool) impl_->slow_pool->join();  // a hash in progress finishes; its answer is dropped
}

void Server::stop() {
  // The acceptor's strand serialises shutdown with accepting.
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] { impl->begin_shutdown(); });
}

}  // namespace latchkey::http
