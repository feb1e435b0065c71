// latchkey-server client create | list | delete
#include <iostream>

#include <boost/json.hpp>

#include "oauth/audit.h"
#include "server/admin_rules.h"
#include "server/commands.h"
#include "util/clock.h"
#include "util/password.h"
#include "util/random.h"
#include "util/strings.h"

namespace latchkey::server {

namespace {

void raise(const std::optional<Problem>& problem) {
  if (problem) throw CommandError(problem->what, problem->what_to_do);
}

struct CreateClientFlags {
  CommonFlags common;
  std::string client_id;
  bool is_public = false;
  bool secret_stdin = false;
  std::vector<std::string> redirect_uris;
  std::string scope = util::join(kDefaultClientScopes);
  std::vector<std::string> grant_types;
  std::vector<std::string> audiences;
  std::vector<std::string> web_origins;
  std::vector<std::string> allowed_claims;
  std::string name;
  bool json = false;
};

boost::json::array to_json_array(const std::vector<std::string>& items) {
  boost::json::array out;
  for (const auto& s : items) out.emplace_back(s);
  return out;
}

boost::json::object client_json(const store::Client& c) {
  return {{"client_id", c.id},
          {"name", c.name},
          {"type", c.is_public ? "public" : "confidential"},
          {"redirect_uris", to_json_array(c.redirect_uris)},
          {"scopes", to_json_array(c.scopes)},
          {"grant_types", to_json_array(c.grant_types)},
          {"audiences", to_json_array(c.audiences)},
          {"web_origins", to_json_array(c.web_origins)},
          {"allowed_claims", to_json_array(c.allowed_claims)},
          {"created_at", format_time(c.created_at)}};
}

int create_client(const CreateClientFlags& f) {
  raise(check_client_id(f.client_id));
  if (f.redirect_uris.empty())
    throw CommandError("no redirect URI", "pass --redirect-uri URI (repeatable)");
  for (const auto& uri : f.redirect_uris) raise(check_redirect_uri(uri));
  auto listed_scopes = util::split_spaces(f.scope);
  raise(check_scopes(listed_scopes));
  std::vector<std::string> allowed_claims;
  for (const auto& claim : f.allowed_claims) {
    raise(check_allowed_claim(claim));
    if (!util::contains(allowed_claims, claim)) allowed_claims.push_back(claim);
  }
  auto scopes = scopes_with_claims(listed_scopes, allowed_claims);
  if (!scopes) raise(scopes.error());
  std::vector<std::string> web_origins;
  for (const auto& origin : f.web_origins) {
    auto normalized = normalize_web_origin_flag(origin);
    if (!normalized) raise(normalized.error());
    if (!util::contains(web_origins, *normalized)) web_origins.push_back(*normalized);
  }
  auto grant_types = f.grant_types.empty() ? kDefaultGrantTypes : f.grant_types;
  for (const auto& g : grant_types) raise(check_grant_type(g));
  for (const auto& a : f.audiences)
    if (a.empty()) throw CommandError("an --audience is empty", "pass the audience's identifier, e.g. https://api.example.com");

  util::SystemRandom random;
  std::string secret;
  bool generated = false;
  if (!f.is_public) {
    if (f.secret_stdin) {
      secret = read_stdin_secret();
      raise(check_client_secret(secret));
    } else {
      secret = random.token(32);  // 256 bits, shown once
      generated = true;
    }
  }
  auto config = load_server_config(f.common);
  auto store = open_migrated_store(config);
  if (store->find_client(f.client_id))
    throw CommandError("client " + f.client_id + " already exists",
                       "choose another --client-id, or `client delete --client-id " + f.client_id + "` first");

  store::Client client;
  client.id = f.client_id;
  client.name = f.name.empty() ? f.client_id : f.name;
  client.is_public = f.is_public;
  if (!f.is_public) client.secret_hash = util::hash_client_secret(secret, random.bytes(16));
  client.redirect_uris = f.redirect_uris;
  client.scopes = *scopes;
  client.grant_types = grant_types;
  client.audiences = f.audiences;
  client.web_origins = web_origins;
  client.allowed_claims = allowed_claims;
  client.created_at = util::SystemClock().now();
  try {
    store->put_client(client);
  } catch (const store::StoreError& e) {
    // A second `client create` racing this one lands here.
    throw CommandError("cannot create client " + f.client_id + ": " + e.what(), "check `client list`");
  }
  // Admin changes are security events (issue 7 §7); the secret itself is never logged.
  oauth::audit("client_created", {{"client_id", client.id},
                                  {"client_type", client.is_public ? "public" : "confidential"},
                                  {"grant_types", util::join(client.grant_types, " ")},
                                  {"via", "cli"}});

  if (f.json) {
    auto out = client_json(client);
    if (generated) out["client_secret"] = secret;
    std::cout << boost::json::serialize(out) << '\n';
  } else {
    std::cout << "created " << (f.is_public ? "public" : "confidential") << " client " << client.id << '\n';
    if (generated)
      std::cout << "client_secret: " << secret << "\n"
                << "(shown once: it is stored hashed and cannot be displayed again)\n";
  }
  return 0;
}

int list_clients(const CommonFlags& common, bool json) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  auto clients = store->list_clients();
  if (json) {
    boost::json::array out;
    for (const auto& c : clients) out.push_back(client_json(c));
    std::cout << boost::json::serialize(out) << '\n';
    return 0;
  }
  if (clients.empty()) std::cout << "no clients\n";
  for (const auto& c : clients) {
    std::cout << c.id << "  " << (c.is_public ? "public" : "confidential") << "  \"" << c.name << "\"\n"
              << "  redirect_uris: " << util::join(c.redirect_uris) << "\n"
              << "  scopes: " << util::join(c.scopes) << "\n"
              << "  grant_types: " << util::join(c.grant_types) << "\n";
    if (!c.audiences.empty()) std::cout << "  audiences: " << util::join(c.audiences) << "\n";
    if (!c.web_origins.empty()) std::cout << "  web_origins: " << util::join(c.web_origins) << "\n";
    if (!c.allowed_claims.empty()) std::cout << "  allowed_claims: " << util::join(c.allowed_claims) << "\n";
  }
  return 0;
}

int delete_client(const CommonFlags& common, const std::string& id) {
  auto config = load_server_config(common);
  auto store = open_migrated_store(config);
  if (!store->delete_client(id)) throw CommandError("no client " + id, "see `latchkey-server client list`");
  oauth::audit("client_deleted", {{"client_id", id}, {"via", "cli"}});
  std::cout << "deleted client " << id << '\n';
  return 0;
}

}  // namespace

void add_client_commands(CLI::App& app, CommandContext& context) {
  auto* group = app.add_subcommand("client", "manage OAuth clients");
  group->require_subcommand(1);

  auto create_flags = std::make_shared<CreateClientFlags>();
  auto* create = group->add_subcommand("create", "register a client");
  add_common_flags(*create, create_flags->common);
  create->add_option("--client-id", create_flags->client_id, "client identifier")->required();
  auto* pub = create->add_flag("--public", create_flags->is_public, "public client (no secret; PKCE required)");
  auto* sec = create->add_flag("--secret-stdin", create_flags->secret_stdin,
                               "read the client secret from stdin (else one is generated)");
  pub->excludes(sec);
  create->add_option("--redirect-uri", create_flags->redirect_uris, "redirect URI (repeatable)")->required();
  create->add_option("--scope", create_flags->scope, "space-separated scopes the client may ask for")
      ->capture_default_str();
  create->add_option("--grant-type", create_flags->grant_types,
                     "grant type (repeatable; default authorization_code refresh_token)");
  create->add_option("--audience", create_flags->audiences, "audience the client may ask for (repeatable)");
  create->add_option("--web-origin", create_flags->web_origins,
                     "browser origin (scheme://host[:port]) that may call the token, revocation and userinfo "
                     "endpoints cross-origin (CORS; repeatable)");
  create->add_option("--allow-claim", create_flags->allowed_claims,
                     "claim the client may receive: roles or groups (repeatable; adds the scope of the same name)");
  create->add_option("--name", create_flags->name, "display name shown on the consent page");
  create->add_flag("--json", create_flags->json, "print JSON");
  create->callback([&context, create_flags] { context.action = [create_flags] { return create_client(*create_flags); }; });

  auto list_common = std::make_shared<CommonFlags>();
  auto list_json = std::make_shared<bool>(false);
  auto* list = group->add_subcommand("list", "list clients");
  add_common_flags(*list, *list_common);
  list->add_flag("--json", *list_json, "print JSON");
  list->callback([&context, list_common, list_json] {
    context.action = [list_common, list_json] { return list_clients(*list_common, *list_json); };
  });

  auto delete_common = std::make_shared<CommonFlags>();
  auto delete_id = std::make_shared<std::string>();
  auto* del = group->add_subcommand("delete", "delete a client");
  add_common_flags(*del, *delete_common);
  del->add_option("--client-id", *delete_id, "client identifier")->required();
  del->callback([&context, delete_common, delete_id] {
    context.action = [delete_common, delete_id] { return delete_client(*delete_common, *delete_id); };
  });
}

}  // namespace latchkey::server
