// The credentials store (credentials.hpp): secrets from the environment, an
// owner-only file, or the terminal. Nothing here ever puts a secret into a
// message: errors name the variable, the file, the line or the key.
#include "hyperctl/credentials.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "posix.hpp"
#include "secrets.hpp"
#include "text.hpp"

namespace hyperctl {

namespace {

using text::quoted;
using text::trim;

bool has_control(const std::string& text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 && c != '\t'; });
}

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

/// The credentials file as lines, checked before a byte is read.
struct CredentialFile {
  bool exists = false;
  std::vector<std::string> lines;
  /// Index of each KEY's line; the secret is in lines[index].
  std::vector<std::pair<std::string, std::size_t>> keys;

  /// The secret of `key`; nullopt when the file has no such key.
  std::optional<std::string> secret(const std::string& key) const {
    for (const auto& [k, index] : keys) {
      if (k != key) continue;
      const std::string& line = lines[index];
      return trim(line.substr(line.find('=') + 1));
    }
    return std::nullopt;
  }
};

[[noreturn]] void file_error(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument, "credentials file " + quoted(path) + ": " + why);
}

CredentialFile read_credentials(const std::string& path) {
  CredentialFile file;
  // O_NONBLOCK: a FIFO put in the file's place must not hang us; it is
  // refused below as not a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return file;
    file_error(path, std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    file_error(path, std::string("cannot stat: ") + std::strerror(err));
  }
  // The checks look at the file opened (fstat), not at the name: nothing can
  // be swapped in between the check and the read.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    file_error(path, "not a regular file; refused");
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    file_error(path, "owned by uid " + std::to_string(st.st_uid) + ", not by you (uid " +
                         std::to_string(::geteuid()) +
                         "); refused: it must be your own file with mode 0600");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    file_error(path, "mode " + mode_text(st.st_mode) +
                         " lets group or others at it; refused (fix: chmod 600 " +
                         escape::terminal_text(path) + ")");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const int err = errno;
      ::close(fd);
      file_error(path, std::string("cannot read: ") + std::strerror(err));
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!text.empty()) secrets::keep_out_of_core_dumps();
  file.exists = true;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    file.lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  for (std::size_t i = 0; i < file.lines.size(); ++i) {
    const std::string t = trim(file.lines[i]);
    if (t.empty() || t[0] == '#') continue;
    const auto eq = t.find('=');
    const std::string where = escape::terminal_text(path) + ":" + std::to_string(i + 1) + ": ";
    // The line itself may be a secret: never quote it.
    if (eq == std::string::npos)
      throw Error(ErrorCode::InvalidArgument, where + "expected KEY = SECRET");
    const std::string key = trim(t.substr(0, eq));
    if (key.empty()) throw Error(ErrorCode::InvalidArgument, where + "no key before '='");
    for (const auto& [k, index] : file.keys) {
      if (k == key)
        throw Error(ErrorCode::InvalidArgument, where + "repeated key " + quoted(key) +
                                                    " (first at line " + std::to_string(index + 1) +
                                                    ")");
    }
    file.keys.emplace_back(key, i);
  }
  return file;
}

/// Replaces the file by `lines`, mode 0600, its folder created 0700.
void write_credentials(const std::string& path, const std::vector<std::string>& lines) {
  const auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0)
    posix::make_dirs(path.substr(0, slash), 0700, "credentials");
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  posix::replace_file(path, text, 0600, "credentials");
}

void check_key(const std::string& key) {
  if (key.empty() || trim(key) != key || key.find('=') != std::string::npos || key[0] == '#' ||
      has_control(key))
    throw Error(
        ErrorCode::InvalidArgument,
        "bad credentials key " + quoted(key) +
            ": no '=', no control characters, no surrounding blanks, not starting with '#' (a "
            "URI with '=' in it cannot be a key: give the host a connection name)");
}

std::optional<std::string> env_value(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

/// One prompt on the terminal at a time, whichever thread asks: fleet
/// commands connect to many hosts at once.
std::mutex& prompt_mutex() {
  static std::mutex m;
  return m;
}

// The prompt clock: wall time during which some thread was at a prompt or
// waiting its turn for one (prompt_wait_total()).
using Clock = std::chrono::steady_clock;
std::mutex g_clock_mutex;
int g_prompters = 0;
Clock::time_point g_prompting_since{};
Clock::duration g_prompt_total{};

// While a prompt has echo off, a signal that ends the process (Ctrl-C,
// kill, hang-up) must not leave the terminal without echo: these handlers
// put it back and let the signal do what it would have done. Only installed
// where the signal had its default action (a caller with its own handler,
// like the CLI's Ctrl-C-cancels, calls restore_prompt_terminal() from it);
// prompts are serialized, so one saved state is enough. A handler may read
// only lock-free atomics: the descriptor is one, stored after the saved state
// it guards (release) and cleared before that state changes again.
std::atomic<int> g_prompt_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);
termios g_prompt_saved{};
constexpr int kEndingSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// Set by abandon_prompt() (from a signal handler, maybe on another thread
// than the prompt's, so the prompt's read is not interrupted: it polls).
// Cleared when a prompt gives up because of it.
std::atomic<bool> g_prompt_abandoned{false};
static_assert(std::atomic<bool>::is_always_lock_free);

/// Echo back on, when a prompt has it off (async-signal-safe: one atomic
/// load, tcsetattr and write).
void restore_echo() {
  const int fd = g_prompt_fd.load(std::memory_order_acquire);
  if (fd >= 0) {
    ::tcsetattr(fd, TCSANOW, &g_prompt_saved);
    [[maybe_unused]] auto w = ::write(fd, "\n", 1);
  }
}

extern "C" void restore_terminal_and_reraise(int sig) {
  restore_echo();
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // delivered once this handler returns: the default action
}

class EchoOffGuard {
 public:
  EchoOffGuard(int fd, const termios& saved) {
    g_prompt_saved = saved;
    g_prompt_fd.store(fd, std::memory_order_release);
    for (std::size_t i = 0; i < std::size(kEndingSignals); ++i) {
      struct sigaction current {};
      installed_[i] = false;
      if (::sigaction(kEndingSignals[i], nullptr, &current) != 0 || current.sa_handler != SIG_DFL ||
          (current.sa_flags & SA_SIGINFO))
        continue;
      struct sigaction sa {};
      sa.sa_handler = restore_terminal_and_reraise;
      sigemptyset(&sa.sa_mask);
      installed_[i] = ::sigaction(kEndingSignals[i], &sa, &old_[i]) == 0;
    }
  }
  ~EchoOffGuard() {
    for (std::size_t i = 0; i < std::size(kEndingSignals); ++i)
      if (installed_[i]) ::sigaction(kEndingSignals[i], &old_[i], nullptr);
    g_prompt_fd.store(-1, std::memory_order_release);
  }
  EchoOffGuard(const EchoOffGuard&) = delete;
  EchoOffGuard& operator=(const EchoOffGuard&) = delete;

 private:
  struct sigaction old_[std::size(kEndingSignals)]{};
  bool installed_[std::size(kEndingSignals)] = {};
};

}  // namespace

std::string credentials_file_key(const ConnectionEntry& c) {
  if (c.credentials.empty() || c.credentials == "file") return c.name;
  if (c.credentials.rfind("file:", 0) == 0) return c.credentials.substr(5);
  return {};
}

std::string credential_env_name(const std::string& connection_name) {
  std::string name = "HYPERCTL_PASSWORD_";
  for (const char c : connection_name) {
    if (c >= 'a' && c <= 'z')
      name += static_cast<char>(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      name += c;
    else
      name += '_';
  }
  return name;
}

UserWait::UserWait() {
  std::lock_guard lock(g_clock_mutex);
  if (g_prompters++ == 0) g_prompting_since = Clock::now();
}

UserWait::~UserWait() {
  std::lock_guard lock(g_clock_mutex);
  if (--g_prompters == 0) g_prompt_total += Clock::now() - g_prompting_since;
}

std::chrono::nanoseconds prompt_wait_total() {
  std::lock_guard lock(g_clock_mutex);
  Clock::duration total = g_prompt_total;
  if (g_prompters > 0) total += Clock::now() - g_prompting_since;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(total);
}

void restore_prompt_terminal() {
  restore_echo();
}

void abandon_prompt() {
  g_prompt_abandoned.store(true);
}

std::optional<std::string> prompt_secret(const std::string& prompt) {
  const UserWait waiting_for_the_user;  // the turn too: it is the user's time
  std::lock_guard<std::mutex> lock(prompt_mutex());
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  // Echo goes off before the prompt is shown, so that nothing typed after
  // the prompt is echoed or flushed away; what was typed before it is.
  termios old{};
  const bool have_tio = ::tcgetattr(fd, &old) == 0;
  std::optional<EchoOffGuard> guard;
  if (have_tio) {
    guard.emplace(fd, old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);
    quiet.c_lflag |= ICANON;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  secrets::keep_out_of_core_dumps();  // before the first character typed
  const std::string shown = escape::terminal_text(prompt) + ": ";
  [[maybe_unused]] auto w1 = ::write(fd, shown.data(), shown.size());
  std::string secret;
  bool ended = false;
  char c = 0;
  for (;;) {
    if (g_prompt_abandoned.exchange(false)) break;
    pollfd ready{fd, POLLIN, 0};
    const int polled = ::poll(&ready, 1, 200);
    if (polled < 0 && errno != EINTR) break;
    if (polled <= 0) continue;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) break;
    if (c == '\n' || c == '\r') {
      ended = true;
      break;
    }
    secret += c;
  }
  if (have_tio) ::tcsetattr(fd, TCSANOW, &old);
  [[maybe_unused]] auto w2 = ::write(fd, "\n", 1);
  guard.reset();
  ::close(fd);
  if (!ended) {
    // Wipe what was typed before end of file: no half secret is used.
    std::fill(secret.begin(), secret.end(), '\0');
    return std::nullopt;
  }
  return secret;
}

std::string CredentialStore::default_path() {
  if (auto p = env_value("HYPERCTL_CREDENTIALS")) return *p;
  const std::string dir = posix::user_config_dir();
  return dir.empty() ? std::string() : dir + "/credentials";  // none: env and prompt still work
}

CredentialStore::CredentialStore(std::string path, bool interactive)
    : path_(std::move(path)), interactive_(interactive) {}

std::optional<std::string> CredentialStore::secret_for(const ConnectionEntry* entry,
                                                       const std::string& uri,
                                                       const std::string& prompt) const {
  const std::string spec = entry ? entry->credentials : std::string();
  auto from_file = [&](const std::string& key) -> std::optional<std::string> {
    if (path_.empty()) return std::nullopt;
    return read_credentials(path_).secret(key);
  };
  auto ask = [&]() -> std::optional<std::string> {
    if (!interactive_) return std::nullopt;
    return prompt_secret(prompt);
  };

  // A password from the environment (the file and the prompt see to it
  // themselves) is now a copy of ours too.
  const auto held = [](std::optional<std::string> v) {
    if (v) secrets::keep_out_of_core_dumps();
    return v;
  };

  if (spec == "none") return std::nullopt;
  if (spec == "prompt") return ask();
  if (spec == "file" || spec.rfind("file:", 0) == 0) return from_file(credentials_file_key(*entry));
  if (spec.rfind("env:", 0) == 0) {
    const std::string var = spec.substr(4);
    secrets::hide_variable(var);  // an entry made in code, not read from the file
    if (auto v = env_value(var)) return held(std::move(v));
    throw Error(ErrorCode::InvalidArgument, "connection " + quoted(entry->name) +
                                                " takes its password from $" +
                                                escape::terminal_text(var) + ", which is not set");
  }
  if (!spec.empty())
    // The value is not repeated: it may be the password itself, put there
    // by mistake.
    throw Error(ErrorCode::InvalidArgument,
                "connection " + quoted(entry->name) +
                    ": its credentials setting is not one of env:VAR, file, file:KEY, prompt, "
                    "none");

  if (entry) {
    if (auto v = env_value(credential_env_name(entry->name))) return held(std::move(v));
  }
  if (auto v = from_file(entry ? entry->name : uri)) return v;
  if (auto v = env_value("HYPERCTL_PASSWORD")) return held(std::move(v));
  return ask();
}

SecretProvider CredentialStore::provider(const ConnectionEntry* entry,
                                         const std::string& uri) const {
  std::optional<ConnectionEntry> copy;
  if (entry) copy = *entry;
  return [this, copy, uri](const std::string& prompt) {
    return secret_for(copy ? &*copy : nullptr, uri, prompt);
  };
}

void CredentialStore::store(const std::string& key, const std::string& secret) const {
  secrets::keep_out_of_core_dumps();
  check_key(key);
  if (path_.empty())
    throw Error(ErrorCode::InvalidArgument,
                "no credentials file: set HYPERCTL_CREDENTIALS, XDG_CONFIG_HOME or HOME");
  if (secret.find_first_of("\r\n") != std::string::npos || secret.find('\0') != std::string::npos)
    throw Error(ErrorCode::InvalidArgument, "the secret for " + quoted(key) +
                                                " holds a line break or NUL; it cannot be stored");
  if (trim(secret) != secret)
    throw Error(ErrorCode::InvalidArgument, "the secret for " + quoted(key) +
                                                " starts or ends with blanks; it cannot be stored");
  CredentialFile file = read_credentials(path_);
  const std::string line = key + " = " + secret;
  bool replaced = false;
  for (const auto& [k, index] : file.keys) {
    if (k == key) {
      file.lines[index] = line;
      replaced = true;
    }
  }
  if (!replaced) file.lines.push_back(line);
  write_credentials(path_, file.lines);
}

bool CredentialStore::erase(const std::string& key) const {
  if (path_.empty()) return false;
  CredentialFile file = read_credentials(path_);
  const auto it = std::find_if(file.keys.begin(), file.keys.end(),
                               [&](const auto& k) { return k.first == key; });
  if (it == file.keys.end()) return false;
  file.lines.erase(file.lines.begin() + static_cast<std::ptrdiff_t>(it->second));
  write_credentials(path_, file.lines);
  return true;
}

}  // namespace hyperctl
