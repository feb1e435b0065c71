// latchkey-server: the authorization server and its admin commands.
// Every failure ends as one line on stderr, "latchkey-server: <what> — <what to do>", and a
// non-zero exit; nothing escapes as an uncaught exception.
#include <iostream>

#include <CLI/CLI.hpp>

#include "server/commands.h"
#include "store/store.h"

namespace {

void print_error(const std::string& what, const std::string& what_to_do) {
  std::cerr << "latchkey-server: " << what << " \u2014 " << what_to_do << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace latchkey::server;
  CLI::App app{"Latchkey authorization server (OAuth 2.0 / OpenID Connect)", "latchkey-server"};
  app.require_subcommand(1);
  CommandContext context;
  add_serve_command(app, context);
  add_migrate_command(app, context);
  add_client_commands(app, context);
  add_user_commands(app, context);
  add_keys_commands(app, context);
  add_config_commands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // Usage errors: one line in the same shape as every other error.
    print_error(e.what(), "see latchkey-server --help (or COMMAND --help)");
    return 2;
  }
  if (!context.action) return app.exit(CLI::CallForHelp());
  try {
    return context.action();
  } catch (const CommandError& e) {
    print_error(e.what(), e.what_to_do());
  } catch (const latchkey::store::StoreError& e) {
    print_error(std::string("database error: ") + e.what(), "check --database / database.url and that the database is reachable");
  } catch (const std::exception& e) {
    print_error(std::string("unexpected error: ") + e.what(), "please report this with the command you ran");
  } catch (...) {
    print_error("unexpected error", "please report this with the command you ran");
  }
  return 1;
}
