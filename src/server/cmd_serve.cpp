// latchkey-server serve: store + keys + protocol core + HTTP adapter, until SIGTERM/SIGINT.
#include <unistd.h>
#if defined(__GLIBC__) && !defined(LATCHKEY_WITH_MIMALLOC)
#include <malloc.h>
#endif

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <thread>

#include "http/server.h"
#include "jose/jwk.h"
#include "oauth/keyring.h"
#include "oauth/provider.h"
#include "server/commands.h"
#include "server/dev.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/ops.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::server {

namespace {

constexpr std::chrono::seconds kKeyReloadInterval{10};
constexpr std::chrono::seconds kStartupDatabaseWait{30};
// Expired rows go every kPurgeEvery-th round (a minute), in batches short enough never to stall
// requests (issue 6 §4); a round stops after kPurgeMaxBatches batches and continues next time.
constexpr int kPurgeEvery = 6;
constexpr std::size_t kPurgeBatch = 1000;
constexpr int kPurgeMaxBatches = 20;

// Removes expired rows; returns how many went. Several instances on one database take turns (the
// store lets one purge at a time).
std::size_t purge_expired_rows(store::Store& store, util::Clock& clock) {
  std::size_t total = 0;
  for (int i = 0; i < kPurgeMaxBatches; ++i) {
    const std::size_t n = store.purge_expired(clock.now(), kPurgeBatch);
    total += n;
    if (n < kPurgeBatch) break;
  }
  return total;
}

// The protocol core's log lines join the server's log (same format and level).
void core_log_sink(std::string_view level, std::string_view message) { process_logger().log(level, message); }

int serve(const CommonFlags& flags) {
  auto config = load_server_config(flags);
  Logger& logger = process_logger();
  logger.configure(parse_log_level(config.log.level), resolve_log_format(config.log.format, ::isatty(STDERR_FILENO)));
  oauth::set_log_sink(&core_log_sink);
  // Migrations are idempotent and locked: safe on every start of every instance. A database that is
  // still starting (containers, a restart of both) gets kStartupDatabaseWait.
  auto store = open_migrated_store(config, kStartupDatabaseWait);
  auto keks = load_key_encryption_keys(config);
  auto alg = jose::algorithm_from_string(config.provider.signing_alg);
  if (!alg) throw CommandError("keys.algorithm " + config.provider.signing_alg + " is not supported", "use ES256 or RS256");

  util::SystemClock clock;
  util::SystemRandom random;
  oauth::KeyRing keys(*store, keks);
  keys.ensure_signing_key(*alg, random, clock);
  try {
    keys.reload();
  } catch (const std::exception& e) {
    throw CommandError(std::string("cannot load the signing keys: ") + e.what(),
                       "use the key-encryption key this database was created with");
  }

  std::optional<DevCredentials> dev_credentials;
  if (config.dev) dev_credentials = seed_dev_data(config, *store, random, clock);

#if defined(__GLIBC__) && !defined(LATCHKEY_WITH_MIMALLOC)
  // glibc gives freed heap tops back to the kernel above 128 KiB by default; each request's
  // allocations crossed that line, so every request paid two brk calls and page faults. Keep up
  // to 8 MiB of free heap instead (RSS after load, not the idle figure).
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
  http::ServerOptions options;
  options.is_slow = oauth::checks_password;
  options.host = config.listen.host;
  options.port = config.listen.port;
  options.threads = config.threads;
  options.max_header_bytes = config.http.max_header_bytes;
  options.max_body_bytes = config.http.max_body_bytes;
  options.read_timeout = std::chrono::seconds(config.http.read_timeout_seconds);
  options.max_connections = config.http.max_connections;
  options.shutdown_timeout = std::chrono::seconds(config.http.shutdown_timeout_seconds);
  if (config.tls.enabled()) options.tls = http::TlsFiles{config.tls.certificate_file, config.tls.private_key_file};
  options.trusted_proxies = config.trusted_proxies;
  Metrics metrics;
  options.on_request = [&metrics, &logger](const http::RequestRecord& record) {
    metrics.record_request(record.path, record.status, record.duration);
    logger.request(record);
  };
  options.log = [&logger](std::string_view level, std::string_view message) { logger.log(level, message); };

  auto metrics_allowed = http::AddressList::parse(config.metrics_allowed_addresses);
  if (!metrics_allowed) throw CommandError("metrics.allowed_addresses: " + metrics_allowed.error(), "see docs/configuration.md");
  auto sqlite_file = sqlite_file_of(config.database_url);
  ReadinessCheck readiness = [&store, &keys, sqlite_file]() -> std::optional<std::string> {
    // A cheap indexed lookup: proves the database answers and the schema is current.
    try {
      store->find_client("latchkey-readiness-probe");
    } catch (const std::exception& e) {
      return std::string("database: ") + e.what();
    }
    if (sqlite_file)
      if (auto problem = check_sqlite_file(*sqlite_file)) return problem;
    auto snapshot = keys.snapshot();
    if (!snapshot || !snapshot->active) return std::string("no signing key loaded");
    return std::nullopt;
  };

  // The provider needs the final issuer, which with port 0 is known only after binding.
  std::unique_ptr<oauth::Provider> provider;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<OpsEndpoints> ops;
  try {
    server = std::make_unique<http::Server>(options, [&provider, &ops](const oauth::Request& request) {
      // Health and metrics belong to the server, not to the protocol core.
      if (OpsEndpoints::is_ops_path(request.path)) return *ops->handle(request);
      return provider->handle(request);
    });
  } catch (const std::exception& e) {
    throw CommandError(e.what(), "check server.listen, tls.* and server.trusted_proxies");
  }
  ops = std::make_unique<OpsEndpoints>(metrics, std::move(*metrics_allowed), readiness,
                                       [&server] { return server->active_connections(); });
  ops->set_pool_stats([&store] { return store->pool_stats(); });
  const char* scheme = config.tls.enabled() ? "https://" : "http://";
  ListenAddress bound{config.listen.host, server->port()};
  if (config.issuer_from_listen) config.provider.issuer = scheme + bound.authority();
  provider = std::make_unique<oauth::Provider>(config.provider, *store, keys, clock, random);
  provider->set_observer(&metrics);

  if (dev_credentials) print_dev_banner(std::cout, config, *dev_credentials, random);
  // Test harnesses and scripts wait for this line.
  std::cout << "latchkey-server listening on " << scheme << bound.authority() << " (issuer " << config.provider.issuer
            << ")" << std::endl;
  // Housekeeping: another instance (or `keys rotate`) may change the keys in the shared store, so
  // pick that up; and remove expired rows now and then.
  std::jthread key_watcher([&keys, &clock, &config, &store](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    for (int round = 1; !stop.stop_requested(); ++round) {
      wake.wait_for(lock, stop, kKeyReloadInterval, [] { return false; });  // wakes early on stop
      if (stop.stop_requested()) break;
      try {
        // Retired keys leave the JWKS once nothing they signed can still be valid.
        keys.prune(clock, oauth::longest_token_lifetime(config.provider));
        keys.reload_if_changed();
      } catch (const std::exception& e) {
        process_logger().log(LogLevel::warn,
                             std::string("cannot reload signing keys (keeping the current ones): ") + e.what());
      }
      if (round % kPurgeEvery != 0) continue;
      try {
        if (auto removed = purge_expired_rows(*store, clock); removed > 0)
          process_logger().log(LogLevel::info, "removed " + std::to_string(removed) + " expired rows");
      } catch (const std::exception& e) {
        process_logger().log(LogLevel::warn, std::string("cannot remove expired rows (will retry): ") + e.what());
      }
    }
  });
  server->run();
  key_watcher.request_stop();
  key_watcher.join();
  std::cout << "latchkey-server stopped" << std::endl;
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<CommonFlags>();
  auto* serve_cmd = app.add_subcommand("serve", "run the authorization server");
  add_common_flags(*serve_cmd, *flags);
  serve_cmd->add_option("--listen", flags->listen, "HOST:PORT to listen on, e.g. 127.0.0.1:8080 or [::1]:8080");
  serve_cmd->add_option("--issuer", flags->issuer, "issuer URL (https unless loopback or --dev)");
  serve_cmd->callback([&context, flags] { context.action = [flags] { return serve(*flags); }; });
}

}  // namespace latchkey::server
