// Where the test plugins were built, and a guard for environment variables.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace hyperctl::test {

/// A folder under the test plugin root: good, bad, order-cli, order-env, lazy.
inline std::string plugin_dir(const std::string& folder) {
  return std::string(HYPERCTL_TEST_PLUGIN_ROOT) + "/" + folder;
}

/// A plugin file, as the registry names it in messages (canonical path).
inline std::string plugin_file(const std::string& folder, const std::string& name) {
  const std::filesystem::path p = plugin_dir(folder) + "/libhyperctl-" + name + ".so";
  std::error_code ec;
  auto c = std::filesystem::canonical(p, ec);
  return ec ? p.string() : c.string();
}

/// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace hyperctl::test
