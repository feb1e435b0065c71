#include "client/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace latchkey::client {

namespace fs = std::filesystem;

bool is_valid_profile_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.' || name.front() == '-') return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

bool ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return false;
  return ::chmod(dir.c_str(), 0700) == 0;
}

Result<void> write_file_atomically(const fs::path& path, std::string_view content) {
  std::string temp = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(temp.data());  // mode 0600 from the start
  auto io_error = [&](const std::string& what) {
    return fail(ErrorKind::local, what + " " + path.string() + ": " + std::strerror(errno),
                "check the permissions and free space of " + path.parent_path().string());
  };
  if (fd < 0) return io_error("cannot write");
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto err = io_error("cannot write");
      ::close(fd);
      ::unlink(temp.c_str());
      return err;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = io_error("cannot write");
    ::unlink(temp.c_str());
    return err;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    auto err = io_error("cannot replace");
    ::unlink(temp.c_str());
    return err;
  }
  return {};
}

Result<FileLock> FileLock::acquire(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(ErrorKind::local, "cannot open the lock file " + path.string() + ": " + std::strerror(errno),
                "check the permissions of " + path.parent_path().string());
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int saved = errno;
    ::close(fd);
    return fail(ErrorKind::local, "cannot lock " + path.string() + ": " + std::strerror(saved),
                "the file system must support flock(2); set LATCHKEY_HOME to a local directory");
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

fs::path TokenStore::default_home() {
  if (const char* home = std::getenv("LATCHKEY_HOME"); home && *home) return home;
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".latchkey";
  return ".latchkey";
}

fs::path TokenStore::credentials_path(std::string_view profile) const {
  return home_ / "credentials" / (std::string(profile) + ".json");
}

fs::path TokenStore::profile_path(std::string_view profile) const {
  return home_ / "profiles" / (std::string(profile) + ".json");
}

Result<void> TokenStore::ensure_dir(const fs::path& dir) const {
  if (!ensure_private_dir(home_) || !ensure_private_dir(dir))
    return fail(ErrorKind::local, "cannot create " + dir.string() + " with mode 0700",
                "check the permissions of " + home_.string() + " or set LATCHKEY_HOME");
  return {};
}

namespace {

// Reads a JSON object; nullopt when the file does not exist.
Result<std::optional<boost::json::object>> read_json_file(const fs::path& path, const char* what_for) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<boost::json::object>{};
  std::ifstream in(path);
  if (!in)
    return fail(ErrorKind::local, "cannot read " + path.string() + ": " + std::strerror(errno),
                "check its permissions (it should belong to you, mode 0600)");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::system::error_code jec;
  auto value = boost::json::parse(text, jec);
  if (jec || !value.is_object())
    return fail(ErrorKind::local, std::string(what_for) + " file " + path.string() + " is corrupt",
                "delete it and run `latchkey auth login` again");
  return std::optional<boost::json::object>(std::move(value.as_object()));
}

std::string str(const boost::json::object& o, std::string_view name) {
  if (auto* v = o.if_contains(name); v && v->is_string()) return std::string(v->as_string());
  return {};
}

util::Timestamp num(const boost::json::object& o, std::string_view name) {
  if (auto* v = o.if_contains(name); v && v->is_int64()) return v->as_int64();
  return 0;
}

}  // namespace

Result<std::optional<Profile>> TokenStore::load_profile(std::string_view name) const {
  auto json = read_json_file(profile_path(name), "the profile");
  if (!json) return std::unexpected(json.error());
  if (!*json) return std::optional<Profile>{};
  const auto& o = **json;
  Profile p;
  p.name = std::string(name);
  p.issuer = str(o, "issuer");
  p.client_id = str(o, "client_id");
  p.scope = str(o, "scope");
  p.audience = str(o, "audience");
  p.prompt = str(o, "prompt");
  p.redirect_uri = str(o, "redirect_uri");
  p.cacert = str(o, "cacert");
  p.authorization_endpoint = str(o, "authorization_endpoint");
  p.token_endpoint = str(o, "token_endpoint");
  p.device_authorization_endpoint = str(o, "device_authorization_endpoint");
  p.revocation_endpoint = str(o, "revocation_endpoint");
  p.jwks_uri = str(o, "jwks_uri");
  if (auto* ports = o.if_contains("redirect_ports"); ports && ports->is_array())
    for (const auto& port : ports->as_array())
      if (port.is_int64() && port.as_int64() > 0 && port.as_int64() < 65536)
        p.redirect_ports.push_back(static_cast<std::uint16_t>(port.as_int64()));
  if (p.issuer.empty() && p.token_endpoint.empty())
    return fail(ErrorKind::local, "the profile file " + profile_path(name).string() + " has no issuer",
                "run `latchkey auth login --profile " + std::string(name) + " --issuer URL --client-id ID`");
  return std::optional<Profile>(std::move(p));
}

Result<void> TokenStore::save_profile(const Profile& p) const {
  if (auto ok = ensure_dir(home_ / "profiles"); !ok) return ok;
  boost::json::object o;
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) o[k] = v;
  };
  put("issuer", p.issuer);
  put("client_id", p.client_id);
  put("scope", p.scope);
  put("audience", p.audience);
  put("prompt", p.prompt);
  put("redirect_uri", p.redirect_uri);
  put("cacert", p.cacert);
  put("authorization_endpoint", p.authorization_endpoint);
  put("token_endpoint", p.token_endpoint);
  put("device_authorization_endpoint", p.device_authorization_endpoint);
  put("revocation_endpoint", p.revocation_endpoint);
  put("jwks_uri", p.jwks_uri);
  if (!p.redirect_ports.empty()) {
    boost::json::array ports;
    for (auto port : p.redirect_ports) ports.emplace_back(port);
    o["redirect_ports"] = std::move(ports);
  }
  return write_file_atomically(profile_path(p.name), boost::json::serialize(o) + "\n");
}

Result<std::vector<std::string>> TokenStore::list_profiles() const {
  std::vector<std::string> names;
  for (const char* sub : {"profiles", "credentials"}) {
    std::error_code ec;
    fs::path dir = home_ / sub;
    if (!fs::exists(dir, ec)) continue;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& path = it->path();
      if (path.extension() != ".json") continue;
      std::string name = path.stem().string();
      if (!is_valid_profile_name(name)) continue;
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    if (ec) return fail(ErrorKind::local, "cannot list " + dir.string() + ": " + ec.message(), "check its permissions");
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::optional<StoredTokens>> TokenStore::load_tokens(std::string_view profile) const {
  auto json = read_json_file(credentials_path(profile), "the credentials");
  if (!json) return std::unexpected(json.error());
  if (!*json) return std::optional<StoredTokens>{};
  const auto& o = **json;
  StoredTokens t;
  t.access_token = str(o, "access_token");
  t.token_type = str(o, "token_type");
  t.expires_at = num(o, "expires_at");
  t.refresh_token = str(o, "refresh_token");
  t.id_token = str(o, "id_token");
  t.scope = str(o, "scope");
  t.subject = str(o, "subject");
  t.obtained_at = num(o, "obtained_at");
  t.client_secret = str(o, "client_secret");
  if (t.access_token.empty() && t.refresh_token.empty())
    return fail(ErrorKind::local, "the credentials file " + credentials_path(profile).string() + " holds no token",
                "delete it and run `latchkey auth login` again");
  return std::optional<StoredTokens>(std::move(t));
}

Result<void> TokenStore::save_tokens(std::string_view profile, const StoredTokens& t) const {
  if (auto ok = ensure_dir(home_ / "credentials"); !ok) return ok;
  boost::json::object o;
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) o[k] = v;
  };
  put("access_token", t.access_token);
  put("token_type", t.token_type);
  if (t.expires_at) o["expires_at"] = t.expires_at;
  put("refresh_token", t.refresh_token);
  put("id_token", t.id_token);
  put("scope", t.scope);
  put("subject", t.subject);
  if (t.obtained_at) o["obtained_at"] = t.obtained_at;
  put("client_secret", t.client_secret);
  return write_file_atomically(credentials_path(profile), boost::json::serialize(o) + "\n");
}

Result<void> TokenStore::delete_tokens(std::string_view profile) const {
  std::error_code ec;
  fs::remove(credentials_path(profile), ec);
  if (ec)
    return fail(ErrorKind::local, "cannot delete " + credentials_path(profile).string() + ": " + ec.message(),
                "delete it by hand");
  return {};
}

Result<FileLock> TokenStore::lock(std::string_view profile) const {
  if (auto ok = ensure_dir(home_ / "credentials"); !ok) return std::unexpected(ok.error());
  return FileLock::acquire(home_ / "credentials" / (std::string(profile) + ".lock"));
}

}  // namespace latchkey::client
