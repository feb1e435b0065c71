// latchkey-server user create | list | delete | role add|remove | group add|remove
#include <algorithm>
#include <iostream>

#include <boost/json.hpp>

#include "oauth/audit.h"
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

boost::json::array to_json_array(const std::vector<std::string>& items) {
  boost::json::array out;
  for (const auto& s : items) out.emplace_back(s);
  return out;
}

boost::json::object user_json(const store::User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"email", u.email},
          {"name", u.name},
          {"roles", to_json_array(u.roles)},
          {"groups", to_json_array(u.groups)},
          {"created_at", format_time(u.created_at)}};
}

std::string join_or_none(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
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
  // Admin changes are security events (issue 7 §7); the password is never logged.
  oauth::audit("user_created", {{"user_id", user.id}, {"username", user.username}, {"via", "cli"}});
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
    if (!u.roles.empty()) std::cout << "  roles: " << join_or_none(u.roles) << '\n';
    if (!u.groups.empty()) std::cout << "  groups: " << join_or_none(u.groups) << '\n';
  }
  return 0;
}

int delete_user(const CommonFlags& common, const std::string& username) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto user = store->find_user_by_username(username);
  if (!user || !store->delete_user(user->id))
    throw CommandError("no user " + username, "see `latchkey-server user list`");
  oauth::audit("user_deleted", {{"user_id", user->id}, {"username", username}, {"via", "cli"}});
  std::cout << "deleted user " << username << '\n';
  return 0;
}

// `user role add|remove` and `user group add|remove`: one name for one user.
struct MembershipFlags {
  CommonFlags common;
  std::string username;
  std::string name;
};

enum class Membership { role, group };

int change_membership(const MembershipFlags& f, Membership kind, bool add) {
  const char* noun = kind == Membership::role ? "role" : "group";
  raise(check_role_or_group(noun, f.name));
  auto config = load_server_config(f.common);
  auto store = open_migrated_store(config);
  auto user = store->find_user_by_username(f.username);
  if (!user) throw CommandError("no user " + f.username, "see `latchkey-server user list`");
  const auto& before = kind == Membership::role ? user->roles : user->groups;
  bool had = std::find(before.begin(), before.end(), f.name) != before.end();
  bool found = kind == Membership::role
                   ? (add ? store->add_user_role(user->id, f.name) : store->remove_user_role(user->id, f.name))
                   : (add ? store->add_user_group(user->id, f.name) : store->remove_user_group(user->id, f.name));
  if (!found) throw CommandError("no user " + f.username, "see `latchkey-server user list` (deleted just now?)");
  if (had != add)
    oauth::audit(add ? "user_membership_added" : "user_membership_removed",
                 {{"user_id", user->id}, {"username", user->username}, {"kind", noun}, {"name", f.name}, {"via", "cli"}});
  auto after = store->find_user(user->id);
  const auto& now = after ? (kind == Membership::role ? after->roles : after->groups) : before;
  if (add && had)
    std::cout << "user " << f.username << " already has " << noun << " " << f.name << '\n';
  else if (add)
    std::cout << "added " << noun << " " << f.name << " to user " << f.username << '\n';
  else if (had)
    std::cout << "removed " << noun << " " << f.name << " from user " << f.username << '\n';
  else
    std::cout << "user " << f.username << " has no " << noun << " " << f.name << " (nothing to remove)\n";
  std::cout << f.username << " " << noun << "s: " << join_or_none(now) << '\n';
  if (had != add)
    std::cout << "(tokens issued from now on carry this; tokens already issued keep what they had until they expire)\n";
  return 0;
}

void add_membership_commands(CLI::App& group, CommandContext& context, Membership kind) {
  const std::string noun = kind == Membership::role ? "role" : "group";
  auto* sub = group.add_subcommand(noun, "add or remove a user's " + noun + "s (the RFC 9068 " + noun + "s claim)");
  sub->require_subcommand(1);
  for (bool add : {true, false}) {
    auto flags = std::make_shared<MembershipFlags>();
    auto* cmd = sub->add_subcommand(add ? "add" : "remove", (add ? "give a user a " : "take a ") + noun +
                                                                 (add ? "" : " from a user"));
    add_common_flags(*cmd, flags->common);
    cmd->add_option("--username", flags->username, "login name")->required();
    cmd->add_option("--" + noun, flags->name, noun + " name")->required();
    cmd->callback([&context, flags, kind, add] {
      context.action = [flags, kind, add] { return change_membership(*flags, kind, add); };
    });
  }
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

  add_membership_commands(*group, context, Membership::role);
  add_membership_commands(*group, context, Membership::group);
}

}  // namespace latchkey::server
