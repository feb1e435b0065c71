#include "server/dev.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include <boost/json.hpp>

#include "server/admin_rules.h"
#include "server/commands.h"
#include "server/ops.h"
#include "util/base64url.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/password.h"
#include "util/strings.h"

namespace latchkey::server {

namespace fs = std::filesystem;

namespace {

// Writes `content` to `path` with mode 0600 from the first byte (temp file + rename, so a reader
// never sees half a file and the mode is never wider).
void write_private_file(const fs::path& path, const std::string& content) {
  fs::path temp = path;
  temp += ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw CommandError("cannot write " + temp.string() + ": " + std::strerror(errno), "check the folder's permissions");
  ::fchmod(fd, 0600);  // an old temp file may have had another mode
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw CommandError("cannot write " + temp.string() + ": " + std::strerror(errno), "check the disk and permissions");
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0)
    throw CommandError("cannot create " + path.string() + ": " + std::strerror(errno), "check the folder's permissions");
}

DevCredentials read_credentials(const fs::path& path) {
  DevCredentials out;
  std::ifstream in(path);
  if (!in) return out;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return out;  // unreadable: secrets are regenerated below
  const auto& o = value.as_object();
  if (auto* p = o.if_contains("demo_password"); p && p->is_string()) out.demo_password = std::string(p->as_string());
  if (auto* s = o.if_contains("demo_app_secret"); s && s->is_string()) out.demo_app_secret = std::string(s->as_string());
  return out;
}

void write_credentials(const fs::path& path, const DevCredentials& c) {
  boost::json::object o{{"demo_user", kDevUser},
                        {"demo_password", c.demo_password},
                        {"demo_app_client_id", kDevConfidentialClient},
                        {"demo_app_secret", c.demo_app_secret}};
  write_private_file(path, boost::json::serialize(o) + "\n");
}

}  // namespace

fs::path dev_directory(const ServerConfig& config) {
  if (auto file = sqlite_file_of(config.database_url)) {
    fs::path parent = fs::path(*file).parent_path();
    return parent.empty() ? fs::path(".") : parent;
  }
  return ".";
}

void ensure_dev_key_file(ServerConfig& config) {
  fs::path path = dev_directory(config) / kDevKeyFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    util::SystemRandom random;
    write_private_file(path, util::base64url_encode(random.bytes(32)) + "\n");
  }
  config.key_encryption_key_file = path.string();
}

DevCredentials seed_dev_data(const ServerConfig& config, store::Store& store, util::Random& random,
                             const util::Clock& clock) {
  fs::path credentials_path = dev_directory(config) / kDevCredentialsFile;
  DevCredentials credentials = read_credentials(credentials_path);
  bool changed = false;
  auto now = clock.now();

  auto user = store.find_user_by_username(kDevUser);
  if (!user || credentials.demo_password.empty()) {
    store::User demo;
    demo.id = user ? user->id : random.token(16);  // keep the sub when only the password was lost
    demo.username = kDevUser;
    demo.email = "demo@example.com";
    demo.name = "Demo User";
    demo.created_at = user ? user->created_at : now;
    credentials.demo_password = random.token(12);
    demo.password_hash = util::hash_password(credentials.demo_password, config.provider.password_cost);
    if (user) store.delete_user(user->id);
    store.put_user(demo);
    changed = true;
  }

  if (!store.find_client(kDevPublicClient)) {
    store::Client cli;
    cli.id = kDevPublicClient;
    cli.name = "Latchkey CLI";
    cli.is_public = true;
    // RFC 8252 §7.3: the core accepts any port on these loopback URIs.
    cli.redirect_uris = {"http://127.0.0.1/callback", "http://[::1]/callback"};
    cli.scopes = kDefaultClientScopes;
    // The CLI also logs in with the device flow where no browser can open (RFC 8628).
    cli.grant_types = kDefaultGrantTypes;
    cli.grant_types.push_back("urn:ietf:params:oauth:grant-type:device_code");
    cli.created_at = now;
    store.put_client(cli);
  }

  auto app = store.find_client(kDevConfidentialClient);
  if (!app || credentials.demo_app_secret.empty()) {
    store::Client demo_app;
    demo_app.id = kDevConfidentialClient;
    demo_app.name = "Demo App";
    demo_app.is_public = false;
    demo_app.redirect_uris = {kDevAppRedirectUri};
    demo_app.scopes = kDefaultClientScopes;
    demo_app.grant_types = kDefaultGrantTypes;
    demo_app.created_at = app ? app->created_at : now;
    credentials.demo_app_secret = random.token(32);
    demo_app.secret_hash = util::hash_client_secret(credentials.demo_app_secret, random.bytes(16));
    if (app) store.delete_client(app->id);
    store.put_client(demo_app);
    changed = true;
  }

  if (changed) write_credentials(credentials_path, credentials);
  return credentials;
}

void print_dev_banner(std::ostream& out, const ServerConfig& config, const DevCredentials& credentials,
                      util::Random& random) {
  const std::string& issuer = config.provider.issuer;
  std::string state = random.token(16);
  std::string verifier = random.token(32);  // RFC 7636 §4.1: 43 characters of base64url
  std::string challenge = util::base64url_encode(util::sha256(verifier));  // §4.2 S256
  std::string authorize_url = issuer + "/authorize?" +
                              util::encode_form({{"response_type", "code"},
                                                 {"client_id", kDevConfidentialClient},
                                                 {"redirect_uri", kDevAppRedirectUri},
                                                 {"scope", "openid profile"},
                                                 {"state", state},
                                                 {"code_challenge", challenge},
                                                 {"code_challenge_method", "S256"}});
  fs::path dir = dev_directory(config);
  out << "================================================================================\n"
      << " Latchkey development server (--dev): not for production\n"
      << "================================================================================\n"
      << " issuer        " << issuer << "\n"
      << " discovery     " << issuer << "/.well-known/openid-configuration\n"
      << " database      " << config.database_url << "\n"
      << " secrets kept  " << (dir / kDevKeyFile).string() << ", " << (dir / kDevCredentialsFile).string() << "\n"
      << "\n"
      << " demo user     username " << kDevUser << "  password " << credentials.demo_password << "\n"
      << "\n"
      << " public client        " << kDevPublicClient
      << "  (PKCE, redirect http://127.0.0.1:ANY-PORT/callback, http://[::1]:ANY-PORT/callback)\n"
      << " confidential client  " << kDevConfidentialClient << "  secret " << credentials.demo_app_secret << "\n"
      << "                      redirect " << kDevAppRedirectUri << "\n"
      << "\n"
      << " Try it: open this URL, log in as " << kDevUser << ", allow, and copy `code` from the redirect:\n"
      << "   " << authorize_url << "\n"
      << " state=" << state << "  code_verifier=" << verifier << "\n"
      << " then exchange the code:\n"
      << "   curl -u " << kDevConfidentialClient << ":" << credentials.demo_app_secret << " " << issuer << "/token \\\n"
      << "     -d grant_type=authorization_code -d code=CODE -d redirect_uri=" << util::url_encode(kDevAppRedirectUri)
      << " -d code_verifier=" << verifier << "\n"
      << "\n"
      << " Or with the CLI:\n"
      << "   latchkey auth login --issuer " << issuer << " --client-id " << kDevPublicClient << "\n"
      << "================================================================================\n";
}

}  // namespace latchkey::server
