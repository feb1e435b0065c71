#pragma once
// Opening the user's browser: $BROWSER when set (a command; "%s" is replaced by the URL, else the
// URL is appended), else xdg-open — or wslview under WSL, which opens the Windows browser. The
// URL is passed as one argument, never through a shell's parsing.
#include <sys/types.h>

#include <optional>
#include <string>

namespace latchkey::client {

class BrowserProcess {
 public:
  // Starts the browser command. nullopt with `why` filled when none can be started (no $BROWSER,
  // no graphical session, no opener installed).
  static std::optional<BrowserProcess> launch(const std::string& url, std::string& why);

  // Non-blocking: true once the command has exited with a failure (so the CLI can say so).
  bool failed();
  std::string command() const { return command_; }

 private:
  BrowserProcess(pid_t pid, std::string command) : pid_(pid), command_(std::move(command)) {}
  pid_t pid_;
  std::string command_;
  bool reaped_ = false;
  bool failed_ = false;
};

}  // namespace latchkey::client
