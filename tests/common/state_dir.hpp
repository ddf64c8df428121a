// HYPERCTL_STATE_DIR (where journals live) pointed at a fresh temporary
// folder for the life of one object: the variable is restored and the folder
// removed afterwards.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>

namespace hyperctl_test {

class ScopedStateDir {
 public:
  explicit ScopedStateDir(const std::string& prefix = "hyperctl-state") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
      return;
    }
    path_ = tmpl;
    if (const char* old = std::getenv("HYPERCTL_STATE_DIR")) old_ = old;
    ::setenv("HYPERCTL_STATE_DIR", path_.c_str(), 1);
  }
  ~ScopedStateDir() {
    if (old_)
      ::setenv("HYPERCTL_STATE_DIR", old_->c_str(), 1);
    else
      ::unsetenv("HYPERCTL_STATE_DIR");
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScopedStateDir(const ScopedStateDir&) = delete;
  ScopedStateDir& operator=(const ScopedStateDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::optional<std::string> old_;
};

}  // namespace hyperctl_test
