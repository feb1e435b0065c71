#include "client/browser.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

#include "util/strings.h"

extern char** environ;

namespace latchkey::client {

namespace {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string_view rest(path);
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return false;
}

bool is_wsl() {
  if (std::getenv("WSL_DISTRO_NAME")) return true;
  std::ifstream in("/proc/sys/kernel/osrelease");
  std::string release;
  std::getline(in, release);
  return util::to_lower(release).find("microsoft") != std::string::npos;
}

std::optional<pid_t> spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The browser must not read our terminal nor scribble on stdout (which `auth token` owns).
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return std::nullopt;
  return pid;
}

}  // namespace

std::optional<BrowserProcess> BrowserProcess::launch(const std::string& url, std::string& why) {
  if (const char* browser = std::getenv("BROWSER"); browser && *browser) {
    // $BROWSER may list several commands separated by ':'; the first is used.
    std::string command(browser);
    command = command.substr(0, command.find(':'));
    // Run through sh so that "$BROWSER" may hold arguments; the URL travels as "$1", unparsed.
    std::string script = command.find("%s") != std::string::npos ? command : command + " %s";
    std::string replaced;
    for (std::size_t i = 0; i < script.size(); ++i) {
      if (script.compare(i, 2, "%s") == 0) {
        replaced += "\"$1\"";
        ++i;
      } else {
        replaced += script[i];
      }
    }
    if (auto pid = spawn({"/bin/sh", "-c", replaced, "latchkey-browser", url})) return BrowserProcess(*pid, command);
    why = "cannot run $BROWSER (" + command + ")";
    return std::nullopt;
  }
  std::string opener;
  if (is_wsl() && on_path("wslview")) opener = "wslview";
  else if (std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY") || is_wsl()) opener = "xdg-open";
  if (opener.empty()) {
    // Over SSH without X forwarding, xdg-open would start a text browser in this terminal.
    why = "no graphical session (DISPLAY and WAYLAND_DISPLAY are unset)";
    return std::nullopt;
  }
  if (!on_path(opener)) {
    why = opener + " is not installed";
    return std::nullopt;
  }
  if (auto pid = spawn({opener, url})) return BrowserProcess(*pid, opener);
  why = "cannot run " + opener;
  return std::nullopt;
}

bool BrowserProcess::failed() {
  if (reaped_) return failed_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    failed_ = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  } else if (r < 0) {
    reaped_ = true;  // already reaped elsewhere: say nothing
  }
  return failed_;
}

}  // namespace latchkey::client
