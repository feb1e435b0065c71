#pragma once
// One error type for the whole client: what failed, what the user can do about it, and a kind
// that maps to the CLI's documented exit codes (docs/cli.md).
#include <expected>
#include <string>

namespace latchkey::client {

enum class ErrorKind {
  internal = 1,        // a bug or something unexpected
  usage = 2,           // bad flags or configuration
  login_required = 3,  // no credentials, or the provider no longer accepts them
  refused = 4,         // the provider refused (access_denied, invalid_client, ...) or its answer failed validation
  network = 5,         // could not reach the provider, TLS, HTTP 5xx, unreadable metadata
  timeout = 6,         // the user did not finish in time
  local = 7,           // the local credential store is unreadable or unwritable
  api = 8,             // `latchkey api`: the API answered with a status other than 2xx
};

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string what;  // what failed
  std::string todo;  // what to do about it (may be empty)

  // "<what> — <todo>" (the CLI prefixes "latchkey: ").
  std::string message() const { return todo.empty() ? what : what + " \u2014 " + todo; }
  int exit_code() const { return static_cast<int>(kind); }
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorKind kind, std::string what, std::string todo = {}) {
  return std::unexpected(Error{kind, std::move(what), std::move(todo)});
}

}  // namespace latchkey::client
