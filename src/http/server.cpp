#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/convert.h"

namespace latchkey::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
class Session;
}

struct Server::Impl {
  ServerOptions options;
  Handler handler;

  // The session registry outlives the io_context: sessions still queued in it are destroyed
  // with it and unregister themselves then.
  std::mutex sessions_mutex;
  std::list<std::weak_ptr<Session>> sessions;
  std::atomic<std::size_t> active_connections{0};
  std::atomic<bool> stopping{false};

  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::signal_set signals{ioc};
  asio::steady_timer accept_retry{ioc};
  asio::steady_timer shutdown_poll{ioc};
  std::chrono::steady_clock::time_point shutdown_deadline;

  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void begin_shutdown();
  void poll_shutdown();
};

namespace {

// One connection: reads a request, hands it to the handler, writes the response, repeats while
// the connection is kept alive. All of its work runs on its own strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server::Impl& server) : server_(server), stream_(std::move(socket)) {
    ++server_.active_connections;
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      auto address = endpoint.address();
      // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; report them as a.b.c.d.
      if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      remote_address_ = address.to_string();
    }
  }

  ~Session() {
    {
      std::lock_guard lock(server_.sessions_mutex);
      if (registered_) server_.sessions.erase(registry_entry_);
    }
    --server_.active_connections;
  }

  void start() {
    {
      std::lock_guard lock(server_.sessions_mutex);
      registry_entry_ = server_.sessions.insert(server_.sessions.end(), weak_from_this());
      registered_ = true;
    }
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read_request, shared_from_this()));
  }

  // Graceful shutdown: an idle connection is closed now; one with a request under way finishes
  // it first (the response then says Connection: close).
  void shutdown() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      bool idle = !self->busy_ && self->buffer_.size() == 0 && (!self->parser_ || !self->parser_->got_some());
      if (idle) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        self->stream_.cancel();
      }
    });
  }

 private:
  void read_request() {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_.options.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(server_.options.max_body_bytes);
    // The whole request must arrive within the timeout, so a slow client cannot hold the
    // connection (and a thread's worth of buffers) forever.
    stream_.expires_after(server_.options.read_timeout);
    beast_http::async_read_header(stream_, buffer_, *parser_,
                                  beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for an interim response
  // before the body (curl does this for bodies over 1 KiB and would otherwise stall a second).
  // The limits have been checked on the headers already, so an oversized body never gets one.
  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read(ec, 0);
    if (parser_->is_done()) return on_read(ec, 0);
    const auto& header = parser_->get();
    auto expect = header[beast_http::field::expect];
    bool wants_continue = header.version() >= 11 && beast::iequals(expect, "100-continue");
    if (!wants_continue) return read_body();
    auto interim = std::make_shared<beast_http::response<beast_http::empty_body>>(beast_http::status::continue_, 11);
    beast_http::async_write(stream_, *interim, [self = shared_from_this(), interim](beast::error_code write_ec, std::size_t) {
      if (write_ec) return self->close();
      self->read_body();
    });
  }

  void read_body() {
    beast_http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
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

    auto neutral = to_oauth_request(request, remote_address_);
    if (!neutral) return reject(400);
    BeastResponse response;
    try {
      response = to_beast_response(server_.handler(*neutral), version, keep_alive);
    } catch (const std::exception& e) {
      std::cerr << "latchkey-server: handler failed: " << e.what() << '\n';
      response = plain_response(500, version, keep_alive);
    } catch (...) {
      std::cerr << "latchkey-server: handler failed with an unknown exception\n";
      response = plain_response(500, version, keep_alive);
    }
    if (head) {
      // RFC 9110 §9.3.2: the same headers as GET, no content.
      auto length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    write(std::move(response), !keep_alive, false);
  }

  // The adapter's own error answer; the connection cannot be trusted afterwards, so it closes.
  void reject(unsigned status) {
    busy_ = true;
    write(plain_response(status, 11, false), true, true);
  }

  void write(BeastResponse&& response, bool close_after, bool drain_after) {
    response_ = std::move(response);
    stream_.expires_after(server_.options.read_timeout);
    beast_http::async_write(stream_, *response_,
                            [self = shared_from_this(), close_after, drain_after](beast::error_code ec, std::size_t) {
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
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain_buffer_.resize(4096);
    read_some_and_discard();
  }

  void read_some_and_discard() {
    stream_.async_read_some(asio::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > 1024 * 1024) return self->close();
      self->read_some_and_discard();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  Server::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::optional<BeastResponse> response_;
  std::string remote_address_;
  bool busy_ = false;
  std::vector<char> drain_buffer_;
  std::size_t drained_ = 0;
  std::list<std::weak_ptr<Session>>::iterator registry_entry_;
  bool registered_ = false;
};

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), beast::bind_front_handler(&Impl::on_accept, this));
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of file descriptors and the like: wait a moment instead of spinning on accept.
    std::cerr << "latchkey-server: accept failed: " << ec.message() << '\n';
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping) accept();
    });
    return;
  }
  if (active_connections.load() >= options.max_connections) {
    beast::error_code ignored;
    socket.close(ignored);  // over the cap: refuse cheaply rather than queue
  } else {
    std::make_shared<Session>(std::move(socket), *this)->start();
  }
  accept();
}

void Server::Impl::begin_shutdown() {
  if (stopping.exchange(true)) return;
  beast::error_code ignored;
  acceptor.close(ignored);
  signals.cancel(ignored);
  accept_retry.cancel();
  std::vector<std::shared_ptr<Session>> live;
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
  impl.accept();
}

Server::~Server() = default;

std::uint16_t Server::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? impl_->options.port : endpoint.port();
}

void Server::run() {
  unsigned n = impl_->options.threads ? impl_->options.threads : std::thread::hardware_concurrency();
  n = std::max(1u, n);
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) pool.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : pool) t.join();
}

void Server::stop() {
  // The acceptor's strand serialises shutdown with accepting.
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] { impl->begin_shutdown(); });
}

}  // namespace latchkey::http
