// Implementation of posix.hpp.
#include "posix.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"

namespace hyperctl::posix {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err,
                       const std::string& operation) {
  throw Error(ErrorCode::BackendFailure,
              "cannot " + what + " '" + escape::terminal_text(path) + "': " + std::strerror(err),
              operation);
}

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? std::string("/") : path.substr(0, slash);
}

/// The file `path` names once its symbolic links are followed: writing
/// through a link must change the file it points to, not swap the link for a
/// plain file (and leave the old content in the target). A link whose target
/// does not exist yet names that target. Anything else: `path` itself.
std::string resolve_links(const std::string& path, const std::string& operation) {
  std::string current = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) break;
    if (hops == 40) fail("write", path, ELOOP, operation);
    if (char* real = ::realpath(current.c_str(), nullptr)) {
      std::string resolved(real);
      std::free(real);
      return resolved;
    }
    // A dangling link: follow it one step by hand.
    std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
    const ssize_t n = ::readlink(current.c_str(), target.data(), target.size());
    if (n < 0) fail("write", path, errno, operation);
    target.resize(static_cast<std::size_t>(n));
    current = target.front() == '/' ? target : folder_of(current) + "/" + target;
  }
  return current;
}

}  // namespace

void make_dirs(const std::string& dir, mode_t mode, const std::string& operation) {
  if (dir.empty()) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fail("create folder", dir, ENOTDIR, operation);
    return;
  }
  const auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(dir.substr(0, slash), mode, operation);
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    fail("create folder", dir, errno, operation);
}

namespace {

/// A new temporary next to `path`, created with `mode` less the umask by
/// the kernel itself: reading the umask would mean setting it, which races
/// every other thread creating files.
int create_with_umask(const std::string& path, mode_t mode, std::string& tmp) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
          std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

}  // namespace

void replace_file(const std::string& link_or_path, std::string_view content, mode_t mode,
                  const std::string& operation, ModeRule rule) {
  // The temporary goes next to the real file, so that the rename replaces it.
  const std::string path = resolve_links(link_or_path, operation);
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = rule == ModeRule::LessUmask ? create_with_umask(path, mode, tmp)
                                             : ::mkostemp(tmp.data(), O_CLOEXEC);  // 0600
  if (fd < 0) fail("write", path, errno, operation);
  int failed = rule == ModeRule::LessUmask || ::fchmod(fd, mode) == 0 ? 0 : errno;
  for (std::size_t done = 0; !failed && done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      failed = n < 0 ? errno : EIO;
    else
      done += static_cast<std::size_t>(n);
  }
  if (!failed && ::fsync(fd) != 0) failed = errno;
  if (::close(fd) != 0 && !failed) failed = errno;
  if (!failed && ::rename(tmp.c_str(), path.c_str()) != 0) failed = errno;
  if (failed) {
    ::unlink(tmp.c_str());
    fail("write", path, failed, operation);
  }
  // The rename survives a crash once the folder is synced.
  if (const int dfd = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string home_dir(bool passwd_fallback) {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  if (passwd_fallback)
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir && *pw->pw_dir)
      return pw->pw_dir;
  return {};
}

std::string user_config_dir(bool passwd_fallback) {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg == '/')
    return std::string(xdg) + "/hyperctl";
  const std::string home = home_dir(passwd_fallback);
  return home.empty() ? std::string() : home + "/.config/hyperctl";
}

SigpipeBlock::SigpipeBlock() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
}

SigpipeBlock::~SigpipeBlock() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec zero{0, 0};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace hyperctl::posix
