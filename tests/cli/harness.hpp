// Runs the hyperctl executable for the CLI suites: argv only (posix_spawn,
// never a shell), a controlled environment, stdin, and captured
// stdout/stderr/exit status. Header-only; each suite is one executable.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace hyperctl_cli_test {

namespace fs = std::filesystem;
using nlohmann::json;

struct Result {
  int status = -1;
  std::string out;
  std::string err;
  std::chrono::microseconds elapsed{0};
};

struct RunOptions {
  /// Environment changes: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
  std::string input;  ///< standard input
  /// Sends `signal` (SIGINT, as Ctrl-C would, unless told otherwise) this
  /// long after the start.
  std::optional<std::chrono::milliseconds> sigint_after;
  int signal = SIGINT;
  /// Sends `signal` a second time this long after the start.
  std::optional<std::chrono::milliseconds> again_after;
};

inline RunOptions with_env(std::map<std::string, std::optional<std::string>> env) {
  RunOptions o;
  o.env = std::move(env);
  return o;
}

inline RunOptions with_input(std::string input) {
  RunOptions o;
  o.input = std::move(input);
  return o;
}

inline std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "status " << r.status << "\n--- stdout:\n" << r.out << "--- stderr:\n" << r.err;
}

/// Spawns hyperctl with `args`, feeding `input` and collecting both outputs.
/// The child gets the test's environment without any HYPERCTL_* variable,
/// plus HYPERCTL_PLUGIN_PATH pointing at the build tree's plugins.
inline Result run(const std::vector<std::string>& args, const RunOptions& opt = {}) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq == std::string::npos || kv.rfind("HYPERCTL_", 0) == 0) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env["HYPERCTL_PLUGIN_PATH"] = HYPERCTL_TEST_PLUGIN_DIR;
  for (const auto& [k, v] : opt.env) {
    if (v)
      env[k] = *v;
    else
      env.erase(k);
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{HYPERCTL_CLI};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);

  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
    close(in[1]), close(out[0]), close(err[0]);
    return r;
  }

  signal(SIGPIPE, SIG_IGN);
  std::size_t written = 0;
  int in_fd = in[1];
  if (opt.input.empty()) close(in_fd), in_fd = -1;
  std::string* sinks[2] = {&r.out, &r.err};
  int fds[2] = {out[0], err[0]};
  const auto deadline = t0 + std::chrono::seconds(90);
  bool sigint_sent = false, again_sent = false;
  while (fds[0] >= 0 || fds[1] >= 0 || in_fd >= 0) {
    const auto now = std::chrono::steady_clock::now();
    if (opt.sigint_after && !sigint_sent && now - t0 >= *opt.sigint_after) {
      kill(pid, opt.signal);
      sigint_sent = true;
    }
    if (opt.again_after && sigint_sent && !again_sent && now - t0 >= *opt.again_after) {
      kill(pid, opt.signal);
      again_sent = true;
    }
    pollfd p[3];
    int n = 0;
    int which[3];
    for (int i = 0; i < 2; ++i)
      if (fds[i] >= 0) p[n] = {fds[i], POLLIN, 0}, which[n++] = i;
    if (in_fd >= 0) p[n] = {in_fd, POLLOUT, 0}, which[n++] = 2;
    if (now > deadline) {
      ADD_FAILURE() << "hyperctl did not finish within 90 s; killed";
      kill(pid, SIGKILL);
      break;
    }
    const bool signal_due = (opt.sigint_after && !sigint_sent) || (opt.again_after && !again_sent);
    if (poll(p, static_cast<nfds_t>(n), signal_due ? 20 : 1000) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int j = 0; j < n; ++j) {
      if (!p[j].revents) continue;
      if (which[j] == 2) {
        const ssize_t w = write(in_fd, opt.input.data() + written, opt.input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 || written == opt.input.size()) close(in_fd), in_fd = -1;
        continue;
      }
      char buf[8192];
      const ssize_t got = read(p[j].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[which[j]]->append(buf, static_cast<std::size_t>(got));
      } else {
        close(p[j].fd);
        fds[which[j]] = -1;
      }
    }
  }
  for (int fd : fds)
    if (fd >= 0) close(fd);
  if (in_fd >= 0) close(in_fd);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  r.elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return r;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

/// An error run: the status, exactly one line on stderr in our format, and
/// nothing on stdout.
inline void expect_error(const Result& r, int status, const std::string& mention = {}) {
  EXPECT_EQ(r.status, status) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_FALSE(r.err.empty() || r.err.back() != '\n') << r;
  EXPECT_EQ(r.err.rfind("hyperctl: error: ", 0), 0u) << r;
  EXPECT_TRUE(r.out.empty()) << r;
  if (!mention.empty()) {
    EXPECT_NE(r.err.find(mention), std::string::npos) << r;
  }
}

inline void expect_ok(const Result& r) {
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(r.err.empty()) << r;
}

/// Display columns, as a terminal counts them (CJK wide = 2).
inline std::size_t columns(const std::string& s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (std::size_t k = 1; k < len && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    w += (cp >= 0x4E00 && cp <= 0x9FFF) ? 2 : 1;
    i += len;
  }
  return w;
}

/// A scratch folder removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-cli-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

 private:
  fs::path path_;
};

}  // namespace hyperctl_cli_test
