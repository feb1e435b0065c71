#pragma once
// latchkey-server's command groups. Each cmd_*.cpp registers its subcommands on the CLI11 app;
// the chosen one stores its action in CommandContext::action, which main() runs after parsing,
// so that every error reaches one place that prints it as one line.
#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "server/config.h"
#include "store/store.h"

namespace latchkey::server {

// An error the operator can act on: printed as "latchkey-server: <what> — <what to do>".
class CommandError : public std::runtime_error {
 public:
  CommandError(std::string what, std::string what_to_do)
      : std::runtime_error(what), what_to_do_(std::move(what_to_do)) {}
  const std::string& what_to_do() const { return what_to_do_; }

 private:
  std::string what_to_do_;
};

// Flags every command shares (--config, --database, --dev; serve adds --listen and --issuer).
struct CommonFlags {
  std::string config_file;
  std::string database_url;
  std::string listen;
  std::string issuer;
  bool dev = false;
};

struct CommandContext {
  std::function<int()> action;  // set by the chosen subcommand
};

void add_common_flags(CLI::App& command, CommonFlags& flags);

// Defaults < file < environment < flags; throws CommandError naming the bad key.
ServerConfig load_server_config(const CommonFlags& flags);

// Opens the configured database and brings its schema up to date.
// Opens and migrates the configured database. A database that cannot be reached yet (PostgreSQL
// starting next to us) is retried for up to `wait`, then the command fails.
std::unique_ptr<store::Store> open_migrated_store(const ServerConfig& config,
                                                  std::chrono::seconds wait = std::chrono::seconds{0});

// The raw 32-byte key-encryption key from LATCHKEY_KEY_ENCRYPTION_KEY or keys.encryption_key_file.
std::string load_key_encryption_key(const ServerConfig& config);
// The current key-encryption key, then the previous one when a rotation is under way.
std::vector<std::string> load_key_encryption_keys(const ServerConfig& config);

// All of stdin minus one trailing newline, so `echo secret |` and `printf secret |` agree.
std::string read_stdin_secret();

void add_serve_command(CLI::App& app, CommandContext& context);
void add_migrate_command(CLI::App& app, CommandContext& context);
void add_client_commands(CLI::App& app, CommandContext& context);
void add_user_commands(CLI::App& app, CommandContext& context);
void add_keys_commands(CLI::App& app, CommandContext& context);
void add_config_commands(CLI::App& app, CommandContext& context);

// "2024-05-01T12:00:00Z"
std::string format_time(store::Timestamp t);

}  // namespace latchkey::server
