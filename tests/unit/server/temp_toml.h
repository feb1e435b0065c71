#pragma once
// A TOML file in the system temp folder, removed at the end of the test (the config tests' input).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace latchkey::server::testing {

class TempToml {
 public:
  explicit TempToml(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() /
            ("latchkey-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".toml");
    std::ofstream(path_) << text;
  }
  ~TempToml() { std::filesystem::remove(path_); }
  TempToml(const TempToml&) = delete;
  TempToml& operator=(const TempToml&) = delete;
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace latchkey::server::testing
