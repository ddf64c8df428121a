#include "support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace hyperctl::fuzz {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "contract broken: %s\n", what);
  std::abort();
}

namespace {

std::string& dir_name() {
  static std::string dir;
  return dir;
}

void remove_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_name(), ignored);
}

}  // namespace

const std::string& temp_dir() {
  std::string& dir = dir_name();
  if (!dir.empty()) return dir;
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/hyperctl-fuzz-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  dir = pattern;
  std::atexit(remove_dir);
  return dir;
}

void write_file(const std::string& path, std::string_view bytes, unsigned mode) {
  // O_TRUNC keeps the inode, so the mode given applies on creation only;
  // fchmod makes it hold for a file left by an earlier input too.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  check(fd >= 0, "cannot create a file in the temporary folder");
  check(::fchmod(fd, mode) == 0, "cannot set a file's mode");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    check(n > 0, "cannot write a file in the temporary folder");
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace hyperctl::fuzz
