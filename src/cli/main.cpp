// `latchkey`: log in to an OAuth 2.0 / OpenID Connect provider from a terminal and hand access
// tokens to scripts. The flows are in liblatchkey-client; this file parses flags and prints.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>

#include "client/api.h"
#include "client/client.h"
#include "util/random.h"
#include "util/strings.h"

namespace lc = latchkey::client;
using latchkey::util::Timestamp;

namespace {

constexpr const char* kDefaultScope = "openid profile offline_access";

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  unexpected internal error\n"
    "  2  usage: bad flags or profile settings\n"
    "  3  login required: not logged in, or the provider no longer accepts the refresh token\n"
    "  4  refused: the provider refused (access denied, bad client, ...) or its answer failed validation\n"
    "  5  network: the provider could not be reached or answered with a server error\n"
    "  6  timeout: the login was not completed in time\n"
    "  7  local: the credential store under $LATCHKEY_HOME is unreadable or unwritable\n"
    "  8  api: `latchkey api` got an answer other than 2xx (the body is still printed)\n";

struct Common {
  std::string profile = "default";
  bool verbose = false;
  std::string cacert;
};

void add_common(CLI::App* cmd, Common& common) {
  cmd->add_option("--profile", common.profile, "Profile name (default: $LATCHKEY_PROFILE or \"default\")");
  cmd->add_flag("-v,--verbose", common.verbose, "Print the HTTP exchange (secrets redacted) to stderr");
  cmd->add_option("--cacert", common.cacert, "PEM file with the CA certificates to trust for the provider");
}

int report(const lc::Error& e) {
  std::cerr << "latchkey: " << e.message() << "\n";
  return e.exit_code();
}

std::string format_time(Timestamp t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

std::string relative(Timestamp delta) {
  Timestamp a = delta < 0 ? -delta : delta;
  std::string amount = a >= 7200 ? std::to_string(a / 3600) + " h" : a >= 120 ? std::to_string(a / 60) + " min"
                                                                              : std::to_string(a) + " s";
  return delta < 0 ? amount + " ago" : "in " + amount;
}

std::optional<std::chrono::seconds> parse_duration(std::string text) {
  if (text.empty()) return std::nullopt;
  long long unit = 1;
  char last = text.back();
  if (last == 's' || last == 'm' || last == 'h') {
    unit = last == 'h' ? 3600 : last == 'm' ? 60 : 1;
    text.pop_back();
  }
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 9) return std::nullopt;
  long long n = std::stoll(text) * unit;
  if (n <= 0) return std::nullopt;
  return std::chrono::seconds(n);
}

// Everything a command needs, built once flags are parsed.
struct Runtime {
  lc::TokenStore store{lc::TokenStore::default_home()};
  latchkey::util::SystemClock clock;
  latchkey::util::SystemRandom random;
  std::unique_ptr<lc::HttpClient> http;

  lc::Client client(const Common& common, const std::string& cacert) {
    lc::CurlOptions options;
    options.cacert = common.cacert.empty() ? cacert : common.cacert;
    if (common.verbose) options.trace = [](std::string_view s) { std::cerr << s; };
    http = lc::make_curl_client(std::move(options));
    return lc::Client({*http, store, clock, random, std::cerr});
  }
};

lc::Result<lc::Profile> existing_profile(Runtime& rt, const Common& common) {
  if (!lc::is_valid_profile_name(common.profile))
    return lc::fail(lc::ErrorKind::usage, "invalid profile name '" + common.profile + "'",
                    "use letters, digits, '-', '_' and '.'");
  auto p = rt.store.load_profile(common.profile);
  if (!p) return std::unexpected(p.error());
  if (!*p) {
    std::string flag = common.profile == "default" ? "" : " --profile " + common.profile;
    return lc::fail(lc::ErrorKind::login_required, "no profile '" + common.profile + "'",
                    "run `latchkey auth login" + flag + " --issuer URL --client-id ID`");
  }
  return **p;
}

struct LoginFlags {
  std::string issuer, client_id, scope, audience, prompt, redirect_uri, timeout = "5m";
  std::string authorization_endpoint, token_endpoint, device_authorization_endpoint, revocation_endpoint, jwks_uri;
  std::vector<int> redirect_ports;
  bool secret_stdin = false, no_browser = false, device = false;
};

int cmd_login(Runtime& rt, const Common& common, const LoginFlags& f) {
  if (!lc::is_valid_profile_name(common.profile))
    return report({lc::ErrorKind::usage, "invalid profile name '" + common.profile + "'", "use letters, digits, '-', '_' and '.'"});
  auto loaded = rt.store.load_profile(common.profile);
  if (!loaded) return report(loaded.error());
  lc::Profile p = loaded->value_or(lc::Profile{});
  p.name = common.profile;
  bool fresh = !*loaded;
  auto set = [](std::string& field, const std::string& flag) {
    if (!flag.empty()) field = flag;
  };
  if (!f.issuer.empty() && f.issuer != p.issuer && !fresh && f.client_id.empty())
    return report({lc::ErrorKind::usage, "--issuer changes the provider of profile " + p.name + " but keeps its client id",
                   "pass --client-id too, or use another --profile"});
  set(p.issuer, f.issuer);
  set(p.client_id, f.client_id);
  set(p.scope, f.scope);
  set(p.audience, f.audience);
  if (!f.prompt.empty()) {
    // OIDC Core §3.1.2.1 defines these; "none" cannot work for an interactive login.
    for (const auto& value : latchkey::util::split_spaces(f.prompt))
      if (value != "login" && value != "consent" && value != "select_account")
        return report({lc::ErrorKind::usage, "--prompt " + std::string(value) + " is not a prompt value for a login",
                       "use login, consent or select_account (space separated)"});
    p.prompt = f.prompt;
  }
  set(p.redirect_uri, f.redirect_uri);
  set(p.cacert, common.cacert);
  set(p.authorization_endpoint, f.authorization_endpoint);
  set(p.token_endpoint, f.token_endpoint);
  set(p.device_authorization_endpoint, f.device_authorization_endpoint);
  set(p.revocation_endpoint, f.revocation_endpoint);
  set(p.jwks_uri, f.jwks_uri);
  if (p.scope.empty()) p.scope = kDefaultScope;
  if (!f.redirect_ports.empty()) {
    p.redirect_ports.clear();
    for (int port : f.redirect_ports) {
      if (port < 1 || port > 65535)
        return report({lc::ErrorKind::usage, "--redirect-port " + std::to_string(port) + " is not a port", "use 1-65535"});
      p.redirect_ports.push_back(static_cast<std::uint16_t>(port));
    }
  }
  if (p.issuer.empty() && p.token_endpoint.empty())
    return report({lc::ErrorKind::usage, "no issuer for profile " + p.name, "pass --issuer URL (and --client-id ID)"});
  if (p.client_id.empty()) return report({lc::ErrorKind::usage, "no client id for profile " + p.name, "pass --client-id ID"});
  if (!p.redirect_uri.empty())
    if (auto ok = lc::loopback_options_from_uri(p.redirect_uri); !ok) return report(ok.error());

  lc::LoginOptions options;
  auto timeout = parse_duration(f.timeout);
  if (!timeout) return report({lc::ErrorKind::usage, "--timeout " + f.timeout + " is not a duration", "use e.g. 300, 90s, 5m"});
  options.timeout = *timeout;
  options.device = f.device;
  options.open_browser = !f.no_browser;
  if (f.secret_stdin) {
    std::string secret;
    std::getline(std::cin, secret);
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (secret.empty())
      return report({lc::ErrorKind::usage, "--client-secret-stdin read an empty line", "pipe the secret into latchkey"});
    options.client_secret = secret;
  } else if (!fresh) {
    // A confidential client's secret from the previous login is reused.
    if (auto old = rt.store.load_tokens(p.name); old && *old) options.client_secret = (*old)->client_secret;
  }

  auto client = rt.client(common, p.cacert);
  auto tokens = client.login(p, options);
  if (!tokens) return report(tokens.error());
  if (auto saved = rt.store.save_profile(p); !saved) return report(saved.error());
  std::cerr << "Logged in to " << p.issuer << (tokens->subject.empty() ? "" : " as " + tokens->subject)
            << " (profile " << p.name << ").\n";
  return 0;
}

int cmd_status(Runtime& rt, const Common& common, bool json) {
  auto p = existing_profile(rt, common);
  if (!p) return report(p.error());
  auto t = rt.store.load_tokens(p->name);
  if (!t) return report(t.error());
  Timestamp now = rt.clock.now();
  if (json) {
    boost::json::object o{{"profile", p->name}, {"issuer", p->issuer}, {"client_id", p->client_id},
                          {"logged_in", t->has_value()}};
    if (*t) {
      const auto& tok = **t;
      o["subject"] = tok.subject;
      o["scope"] = tok.scope;
      o["expires_at"] = tok.expires_at ? boost::json::value(tok.expires_at) : boost::json::value(nullptr);
      o["expired"] = tok.expires_at != 0 && tok.expires_at <= now;
      o["obtained_at"] = tok.obtained_at;
      o["has_refresh_token"] = !tok.refresh_token.empty();
    }
    std::cout << boost::json::serialize(o) << "\n";
    return *t ? 0 : 3;
  }
  std::cout << "Profile:   " << p->name << "\nIssuer:    " << p->issuer << "\nClient:    " << p->client_id << "\n";
  if (!*t) {
    std::cout << "Status:    not logged in\n";
    return 3;
  }
  const auto& tok = **t;
  std::cout << "Subject:   " << (tok.subject.empty() ? "(no id_token)" : tok.subject) << "\n"
            << "Scopes:    " << tok.scope << "\n";
  if (tok.expires_at)
    std::cout << "Expires:   " << format_time(tok.expires_at) << " (" << (tok.expires_at <= now ? "expired " : "")
              << relative(tok.expires_at - now) << ")\n";
  else
    std::cout << "Expires:   unknown (the provider did not say)\n";
  if (tok.obtained_at) std::cout << "Obtained:  " << format_time(tok.obtained_at) << "\n";
  std::cout << "Refresh:   " << (tok.refresh_token.empty() ? "no refresh token" : "refresh token stored") << "\n";
  return 0;
}

int cmd_token(Runtime& rt, const Common& common, long long min_valid) {
  auto p = existing_profile(rt, common);
  if (!p) return report(p.error());
  auto client = rt.client(common, p->cacert);
  auto t = client.valid_tokens(*p, min_valid);
  if (!t) return report(t.error());
  std::cout << t->access_token << "\n";
  return 0;
}

int cmd_refresh(Runtime& rt, const Common& common) {
  auto p = existing_profile(rt, common);
  if (!p) return report(p.error());
  auto client = rt.client(common, p->cacert);
  auto t = client.refresh(*p);
  if (!t) return report(t.error());
  std::cerr << "Refreshed (profile " << p->name << ")"
            << (t->expires_at ? "; the access token expires " + relative(t->expires_at - rt.clock.now()) : "") << ".\n";
  return 0;
}

int cmd_logout(Runtime& rt, const Common& common) {
  auto p = existing_profile(rt, common);
  if (!p) return report(p.error());
  auto client = rt.client(common, p->cacert);
  auto r = client.logout(*p);
  if (!r) return report(r.error());
  if (!r->had_tokens && r->revocation_problem.empty()) {
    std::cerr << "Not logged in (profile " << p->name << "); nothing to do.\n";
    return 0;
  }
  if (r->revoked) std::cerr << "Revoked the tokens at " << p->issuer << ".\n";
  else std::cerr << "latchkey: warning: the provider was not asked to revoke the tokens (" << r->revocation_problem
                 << "); they stay valid there until they expire.\n";
  std::cerr << "Logged out (profile " << p->name << ").\n";
  return 0;
}

struct ApiFlags {
  std::string url, method, data;
  std::vector<std::string> headers;
  bool include = false;
};

int cmd_api(Runtime& rt, const Common& common, const ApiFlags& f) {
  auto p = existing_profile(rt, common);
  if (!p) return report(p.error());
  lc::ApiRequest request;
  request.url = f.url;
  request.body = f.data;
  if (f.data.starts_with('@')) {  // curl's -d @FILE and -d @- (stdin)
    std::string name = f.data.substr(1);
    std::ifstream file;
    if (name != "-") {
      file.open(name, std::ios::binary);
      if (!file) return report({lc::ErrorKind::usage, "-d @" + name + ": cannot read the file", "check the path"});
    }
    std::istream& in = name == "-" ? std::cin : file;
    request.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  request.method = !f.method.empty() ? f.method : f.data.empty() ? "GET" : "POST";
  if (request.method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
    return report({lc::ErrorKind::usage, "-X " + f.method + " is not a method", "use e.g. GET, POST, PUT, PATCH, DELETE"});
  bool has_content_type = false;
  for (const auto& h : f.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || h.find_first_of("\r\n") != std::string::npos)
      return report({lc::ErrorKind::usage, "-H '" + h + "' is not a header", "use -H 'Name: value'"});
    std::string name = latchkey::util::trim(h.substr(0, colon));
    has_content_type = has_content_type || latchkey::util::to_lower(name) == "content-type";
    request.headers.emplace_back(name, latchkey::util::trim(h.substr(colon + 1)));
  }
  if (!f.data.empty() && !has_content_type)  // as curl does for -d
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");

  auto client = rt.client(common, p->cacert);
  auto r = lc::call_api(client, *rt.http, *p, request);
  if (!r) return report(r.error());
  const auto& res = r->response;
  if (f.include) {
    std::cout << "HTTP " << res.status << "\n";
    for (const auto& [k, v] : res.headers) std::cout << k << ": " << v << "\n";
    std::cout << "\n";
  }
  std::cout << res.body << std::flush;
  if (res.status >= 200 && res.status < 300) return 0;
  std::string challenge = res.header("www-authenticate");
  std::cerr << "latchkey: the API answered HTTP " << res.status
            << (challenge.empty() ? "" : " (WWW-Authenticate: " + challenge + ")") << "\n";
  if (!r->refresh_problem.empty())
    std::cerr << "latchkey: the token was not accepted and could not be refreshed: " << r->refresh_problem << "\n";
  return static_cast<int>(lc::ErrorKind::api);
}

int cmd_profiles(Runtime& rt) {
  auto names = rt.store.list_profiles();
  if (!names) return report(names.error());
  if (names->empty()) {
    std::cerr << "No profiles yet: run `latchkey auth login --issuer URL --client-id ID`.\n";
    return 0;
  }
  for (const auto& name : *names) {
    auto p = rt.store.load_profile(name);
    auto t = rt.store.load_tokens(name);
    std::string issuer = p && *p ? (*p)->issuer : "?";
    std::string state = !t ? "credentials unreadable" : *t ? "logged in" : "logged out";
    std::cout << name << "\t" << issuer << "\t" << state << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"latchkey: log in to an OAuth 2.0 / OpenID Connect provider and hand out access tokens", "latchkey"};
  app.footer(std::string("\nState lives in $LATCHKEY_HOME (default ~/.latchkey).\n") + kExitCodes);
  app.require_subcommand(1);
  auto* auth = app.add_subcommand("auth", "Log in, print tokens, log out");
  auth->require_subcommand(1);
  auth->footer(kExitCodes);

  Common common;
  if (const char* env = std::getenv("LATCHKEY_PROFILE"); env && *env) common.profile = env;
  LoginFlags login_flags;
  bool status_json = false;
  long long min_valid = 60;

  auto* login = auth->add_subcommand("login", "Log in with the browser (or --device) and store the tokens");
  add_common(login, common);
  login->add_option("--issuer", login_flags.issuer, "The provider's issuer URL (remembered in the profile)");
  login->add_option("--client-id", login_flags.client_id, "The client id registered with the provider");
  login->add_flag("--client-secret-stdin", login_flags.secret_stdin,
                  "Read the client secret (confidential clients) from the first line of stdin");
  login->add_option("--scope", login_flags.scope, std::string("Space-separated scopes (default: ") + kDefaultScope + ")");
  login->add_option("--audience", login_flags.audience, "Audience(s) of the access token, sent as `audience`");
  login->add_option("--prompt", login_flags.prompt,
                    "OIDC prompt (login, consent, select_account); `consent` makes some providers grant "
                    "offline_access (remembered)");
  login->add_flag("--no-browser", login_flags.no_browser, "Only print the URL, do not open a browser");
  login->add_flag("--device", login_flags.device, "Use the device flow (RFC 8628): for machines without a browser");
  login->add_option("--redirect-port", login_flags.redirect_ports,
                    "Loopback port(s) for the redirect, first free one wins (default: any free port)")
      ->delimiter(',');
  login->add_option("--redirect-uri", login_flags.redirect_uri,
                    "Exact loopback redirect URI, e.g. http://127.0.0.1:8250/callback");
  login->add_option("--timeout", login_flags.timeout, "How long to wait for the login (default 5m; e.g. 90s, 10m)");
  login->add_option("--authorization-endpoint", login_flags.authorization_endpoint, "Skip discovery: authorization endpoint");
  login->add_option("--token-endpoint", login_flags.token_endpoint, "Skip discovery: token endpoint");
  login->add_option("--device-authorization-endpoint", login_flags.device_authorization_endpoint,
                    "Device authorization endpoint (RFC 8628)");
  login->add_option("--revocation-endpoint", login_flags.revocation_endpoint, "Revocation endpoint (RFC 7009)");
  login->add_option("--jwks-uri", login_flags.jwks_uri, "The provider's JWKS, to check id_tokens");
  login->footer(kExitCodes);

  auto* status = auth->add_subcommand("status", "Show the issuer, subject, scopes and expiry (never a token)");
  add_common(status, common);
  status->add_flag("--json", status_json, "Machine-readable output");
  auto* token = auth->add_subcommand("token", "Print a valid access token (refreshing it first when needed)");
  add_common(token, common);
  token->add_option("--min-valid", min_valid, "Refresh when the token expires within this many seconds (default 60)")
      ->check(CLI::NonNegativeNumber);
  auto* refresh = auth->add_subcommand("refresh", "Refresh the tokens now");
  add_common(refresh, common);
  auto* logout = auth->add_subcommand("logout", "Revoke the refresh token at the provider and delete the local tokens");
  add_common(logout, common);
  auto* profiles = auth->add_subcommand("profiles", "List profiles");
  add_common(profiles, common);
  for (auto* cmd : {status, token, refresh, logout, profiles}) cmd->footer(kExitCodes);

  ApiFlags api_flags;
  auto* api = app.add_subcommand("api", "Call a protected API with the profile's access token (refreshed as needed)");
  add_common(api, common);
  api->add_option("url", api_flags.url, "The API URL (https, or http on loopback)")->required();
  api->add_option("-X,--request", api_flags.method, "HTTP method (default GET, or POST with -d)");
  api->add_option("-d,--data", api_flags.data, "Request body; @FILE reads a file, @- stdin");
  api->add_option("-H,--header", api_flags.headers, "Extra header 'Name: value' (repeatable)")->allow_extra_args(false);
  api->add_flag("-i,--include", api_flags.include, "Print the status line and response headers before the body");
  api->footer(kExitCodes);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "latchkey: " << e.what() << " \u2014 see `latchkey auth --help`\n";
    return 2;
  }

  try {
    Runtime rt;
    if (*login) return cmd_login(rt, common, login_flags);
    if (*status) return cmd_status(rt, common, status_json);
    if (*token) return cmd_token(rt, common, min_valid);
    if (*refresh) return cmd_refresh(rt, common);
    if (*logout) return cmd_logout(rt, common);
    if (*profiles) return cmd_profiles(rt);
    if (*api) return cmd_api(rt, common, api_flags);
  } catch (const std::exception& e) {
    std::cerr << "latchkey: unexpected error: " << e.what() << " \u2014 please report it with --verbose output\n";
    return 1;
  }
  return 2;
}
