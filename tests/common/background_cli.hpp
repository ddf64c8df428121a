// The hyperctl executable started in the background for tests that kill it
// mid-operation (SIGKILL, then --resume / --rollback): argv only, standard
// input from /dev/null, standard output and error into files.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace hyperctl_test {

/// `cli` with `args`; the child has this process's environment
/// (HYPERCTL_STATE_DIR included) with HYPERCTL_PLUGIN_PATH set to
/// `plugin_dir`; its output goes to DIR/cli.out and DIR/cli.err.
class BackgroundCli {
 public:
  BackgroundCli(const std::string& cli, const std::string& plugin_dir, const std::string& dir,
                const std::vector<std::string>& args)
      : out_(dir + "/cli.out"), err_(dir + "/cli.err") {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
      if (std::string(*e).rfind("HYPERCTL_PLUGIN_PATH=", 0) != 0) env_strings.push_back(*e);
    env_strings.push_back("HYPERCTL_PLUGIN_PATH=" + plugin_dir);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings{cli};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
      pid_ = -1;
    }
  }
  ~BackgroundCli() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  BackgroundCli(const BackgroundCli&) = delete;
  BackgroundCli& operator=(const BackgroundCli&) = delete;
  void kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  /// Exit status; -signal when killed.
  int wait() {
    if (pid_ <= 0) return -1000;
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
  }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

 private:
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string out_, err_;
  pid_t pid_ = -1;
};

}  // namespace hyperctl_test
