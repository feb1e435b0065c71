// The server's TOML configuration loader (server/config.h load_config): an operator's file is not
// hostile, but a typo must end in one clear error line, never a crash or an exception.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_support.h"
#include "server/config.h"

using namespace latchkey;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // load_config reads a path; one scratch file per fuzzing process (parallel jobs do not share).
  static const std::string path = "/tmp/latchkey-fuzz-config-" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  server::ConfigSources sources;
  sources.file = path;
  auto config = server::load_config(sources);
  if (config) {
    FUZZ_CHECK(!config->provider.issuer.empty());
    FUZZ_CHECK(!config->provider.issuer.ends_with("/"));
  } else {
    // Errors are one line that starts with "config: " (config.h).
    FUZZ_CHECK(config.error().starts_with("config: "));
    FUZZ_CHECK(config.error().find('\n') == std::string::npos);
  }
  return 0;
}
