// latchkey-server migrate | keys list | keys rotate | keys prune | config check
#include <iostream>

#include <boost/json.hpp>

#include "jose/jwk.h"
#include "oauth/keyring.h"
#include "server/commands.h"
#include "util/clock.h"
#include "util/random.h"

namespace latchkey::server {

namespace {

int migrate(const CommonFlags& common) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto keks = load_key_encryption_keys(config);
  auto alg = jose::algorithm_from_string(config.provider.signing_alg);
  if (!alg) throw CommandError("keys.algorithm " + config.provider.signing_alg + " is not supported", "use ES256 or RS256");
  util::SystemRandom random;
  util::SystemClock clock;
  // Signing keys are made here (or at serve's start), never lazily per request; the store makes
  // the insert atomic so two instances starting together create one key.
  oauth::KeyRing keys(*store, keks);
  bool created = keys.ensure_signing_key(*alg, random, clock);
  try {
    keys.reload();  // proves the key-encryption key opens what is stored
  } catch (const std::exception& e) {
    throw CommandError(std::string("the signing keys do not open: ") + e.what(),
                       "use the key-encryption key the database was created with");
  }
  std::cout << "database schema is up to date; "
            << (created ? "created a " + config.provider.signing_alg + " signing key" : "a signing key exists") << '\n';
  return 0;
}

int list_keys(const CommonFlags& common, bool json) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto keys = store->list_keys();
  if (json) {
    boost::json::array out;
    for (const auto& k : keys) {
      boost::json::object o{{"kid", k.kid},
                            {"alg", k.alg},
                            {"status", k.retired_at == 0 ? "active" : "retired"},
                            {"created_at", format_time(k.created_at)}};
      if (k.retired_at) o["retired_at"] = format_time(k.retired_at);
      out.push_back(std::move(o));
    }
    std::cout << boost::json::serialize(out) << '\n';
    return 0;
  }
  if (keys.empty()) std::cout << "no signing keys (run `latchkey-server migrate`)\n";
  for (const auto& k : keys)
    std::cout << k.kid << "  " << k.alg << "  " << (k.retired_at == 0 ? "active " : "retired") << "  created "
              << format_time(k.created_at) << '\n';
  return 0;
}

int rotate_key(const CommonFlags& common, const std::string& algorithm, bool json) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto keks = load_key_encryption_keys(config);
  std::string alg_name = algorithm.empty() ? config.provider.signing_alg : algorithm;
  auto alg = jose::algorithm_from_string(alg_name);
  if (!alg) throw CommandError("--algorithm " + alg_name + " is not supported", "use ES256 or RS256");
  util::SystemRandom random;
  util::SystemClock clock;
  oauth::KeyRing keys(*store, keks);
  try {
    keys.reload();  // refuse to rotate under a key-encryption key that cannot open the others
  } catch (const std::exception& e) {
    throw CommandError(std::string("the signing keys do not open: ") + e.what(),
                       "use the key-encryption key the database was created with");
  }
  std::string kid = keys.rotate(*alg, random, clock);
  if (json)
    std::cout << boost::json::serialize(boost::json::object{{"kid", kid}, {"alg", alg_name}}) << '\n';
  else
    std::cout << "new active " << alg_name << " signing key " << kid
              << "; the previous key stays published for verification. Running servers switch within "
                 "a few seconds.\n";
  return 0;
}

int prune_keys(const CommonFlags& common, bool json) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  oauth::KeyRing keys(*store, load_key_encryption_key(config));
  util::SystemClock clock;
  auto removed = keys.prune(clock, oauth::longest_token_lifetime(config.provider));
  if (json) {
    boost::json::array kids;
    for (const auto& k : removed) kids.emplace_back(k);
    std::cout << boost::json::serialize(boost::json::object{{"removed", kids}}) << '\n';
  } else if (removed.empty()) {
    std::cout << "nothing to prune: every retired key may still have signed a live token\n";
  } else {
    for (const auto& k : removed) std::cout << "removed retired key " << k << '\n';
  }
  return 0;
}

int check_config(const std::string& path) {
  // The file alone (with built-in defaults): the environment and flags are not part of it.
  ConfigSources sources;
  sources.file = path;
  auto config = load_config(sources);
  if (!config) throw CommandError(config.error(), "see docs/configuration.md");
  std::cout << "ok\n";
  return 0;
}

}  // namespace

void add_migrate_command(CLI::App& app, CommandContext& context) {
  auto common = std::make_shared<CommonFlags>();
  auto* migrate_cmd = app.add_subcommand("migrate", "create or upgrade the database schema and the first signing key");
  add_common_flags(*migrate_cmd, *common);
  migrate_cmd->callback([&context, common] { context.action = [common] { return migrate(*common); }; });
}

void add_keys_commands(CLI::App& app, CommandContext& context) {
  auto* group = app.add_subcommand("keys", "signing keys");
  group->require_subcommand(1);
  auto common = std::make_shared<CommonFlags>();
  auto json = std::make_shared<bool>(false);
  auto* list = group->add_subcommand("list", "list signing keys");
  add_common_flags(*list, *common);
  list->add_flag("--json", *json, "print JSON");
  list->callback([&context, common, json] { context.action = [common, json] { return list_keys(*common, *json); }; });

  auto rotate_common = std::make_shared<CommonFlags>();
  auto rotate_alg = std::make_shared<std::string>();
  auto rotate_json = std::make_shared<bool>(false);
  auto* rotate = group->add_subcommand("rotate", "make a new signing key the active one");
  add_common_flags(*rotate, *rotate_common);
  rotate->add_option("--algorithm", *rotate_alg, "ES256 or RS256 (default: keys.algorithm)");
  rotate->add_flag("--json", *rotate_json, "print JSON");
  rotate->callback([&context, rotate_common, rotate_alg, rotate_json] {
    context.action = [=] { return rotate_key(*rotate_common, *rotate_alg, *rotate_json); };
  });

  auto prune_common = std::make_shared<CommonFlags>();
  auto prune_json = std::make_shared<bool>(false);
  auto* prune = group->add_subcommand(
      "prune", "remove retired keys once every token they signed has expired (serve also does this by itself)");
  add_common_flags(*prune, *prune_common);
  prune->add_flag("--json", *prune_json, "print JSON");
  prune->callback([&context, prune_common, prune_json] {
    context.action = [=] { return prune_keys(*prune_common, *prune_json); };
  });
}

void add_config_commands(CLI::App& app, CommandContext& context) {
  auto* group = app.add_subcommand("config", "configuration");
  group->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* check = group->add_subcommand("check", "validate a configuration file");
  check->add_option("FILE", *path, "TOML file")->required();
  check->callback([&context, path] { context.action = [path] { return check_config(*path); }; });
}

}  // namespace latchkey::server
