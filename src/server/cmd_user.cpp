// latchkey-server user create | list | delete
#include <iostream>

#include <boost/json.hpp>

#include "server/admin_rules.h"
#include "server/commands.h"
#include "util/clock.h"
#include "util/password.h"
#include "util/random.h"

namespace latchkey::server {

namespace {

void raise(const std::optional<Problem>& problem) {
  if (problem) throw CommandError(problem->what, problem->what_to_do);
}

struct CreateUserFlags {
  CommonFlags common;
  std::string username;
  bool password_stdin = false;
  std::string email;
  std::string name;
  bool json = false;
};

boost::json::object user_json(const store::User& u) {
  return {{"id", u.id}, {"username", u.username}, {"email", u.email}, {"name", u.name},
          {"created_at", format_time(u.created_at)}};
}

int create_user(const CreateUserFlags& f) {
  raise(check_username(f.username));
  if (!f.password_stdin)
    throw CommandError("no password", "pipe it to --password-stdin (passwords are never taken from the command line)");
  std::string password = read_stdin_secret();
  raise(check_password(password));
  auto config = load_server_config(f.common);
  auto store = open_migrated_store(config);
  if (store->find_user_by_username(f.username))
    throw CommandError("user " + f.username + " already exists",
                       "choose another --username, or `user delete --username " + f.username + "` first");

  util::SystemRandom random;
  store::User user;
  user.id = random.token(16);  // `sub`: random, so it reveals nothing and never changes
  user.username = f.username;
  user.password_hash = util::hash_password(password, config.provider.password_cost);
  user.email = f.email;
  user.name = f.name;
  user.created_at = util::SystemClock().now();
  try {
    store->put_user(user);
  } catch (const store::StoreError& e) {
    throw CommandError("cannot create user " + f.username + ": " + e.what(), "check `user list`");
  }
  if (f.json)
    std::cout << boost::json::serialize(user_json(user)) << '\n';
  else
    std::cout << "created user " << user.username << " (sub " << user.id << ")\n";
  return 0;
}

int list_users(const CommonFlags& common, bool json) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto users = store->list_users();
  if (json) {
    boost::json::array out;
    for (const auto& u : users) out.push_back(user_json(u));
    std::cout << boost::json::serialize(out) << '\n';
    return 0;
  }
  if (users.empty()) std::cout << "no users\n";
  for (const auto& u : users) {
    std::cout << u.username << "  sub " << u.id;
    if (!u.email.empty()) std::cout << "  <" << u.email << ">";
    if (!u.name.empty()) std::cout << "  \"" << u.name << "\"";
    std::cout << '\n';
  }
  return 0;
}

int delete_user(const CommonFlags& common, const std::string& username) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto user = store->find_user_by_username(username);
  if (!user || !store->delete_user(user->id))
    throw CommandError("no user " + username, "see `latchkey-server user list`");
  std::cout << "deleted user " << username << '\n';
  return 0;
}

}  // namespace

void add_user_commands(CLI::App& app, CommandContext& context) {
  auto* group = app.add_subcommand("user", "manage users");
  group->require_subcommand(1);

  auto create_flags = std::make_shared<CreateUserFlags>();
  auto* create = group->add_subcommand("create", "create a user");
  add_common_flags(*create, create_flags->common);
  create->add_option("--username", create_flags->username, "login name")->required();
  create->add_flag("--password-stdin", create_flags->password_stdin, "read the password from stdin")->required();
  create->add_option("--email", create_flags->email, "email address (the email claim)");
  create->add_option("--name", create_flags->name, "full name (the name claim)");
  create->add_flag("--json", create_flags->json, "print JSON");
  create->callback([&context, create_flags] { context.action = [create_flags] { return create_user(*create_flags); }; });

  auto list_common = std::make_shared<CommonFlags>();
  auto list_json = std::make_shared<bool>(false);
  auto* list = group->add_subcommand("list", "list users");
  add_common_flags(*list, *list_common);
  list->add_flag("--json", *list_json, "print JSON");
  list->callback([&context, list_common, list_json] {
    context.action = [list_common, list_json] { return list_users(*list_common, *list_json); };
  });

  auto delete_common = std::make_shared<CommonFlags>();
  auto delete_name = std::make_shared<std::string>();
  auto* del = group->add_subcommand("delete", "delete a user and end their sessions");
  add_common_flags(*del, *delete_common);
  del->add_option("--username", *delete_name, "login name")->required();
  del->callback([&context, delete_common, delete_name] {
    context.action = [delete_common, delete_name] { return delete_user(*delete_common, *delete_name); };
  });
}

}  // namespace latchkey::server
