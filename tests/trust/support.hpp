// What the trust suites share: programs run directly (fork/exec, argv only),
// a real `openssl s_server` with certificates made by `openssl req`, raw TCP
// listeners that refuse, stall or speak plain text, the sshd test bed's state,
// and scoped environment changes. Independent of the code under test.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../common/env.hpp"

namespace trust_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

/// A scratch folder, removed with everything in it.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-trust-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct Ran {
  int status = -1;
  std::string out;
};

/// Runs argv (no shell) with stdin from /dev/null (or `input`), standard
/// error into standard output; returns its status and output.
inline Ran run_program(const std::vector<std::string>& argv, const std::string& input = {}) {
  int out[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  // Everything the child needs is built before fork (no allocation after it).
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::thread writer([fd = in[1], &input] {
    std::size_t done = 0;
    while (done < input.size()) {
      const ssize_t n = ::write(fd, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += std::size_t(n);
    }
    ::close(fd);
  });
  Ran r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) r.out.append(buf, std::size_t(n));
  ::close(out[0]);
  writer.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// `openssl x509 -noout -fingerprint -sha256` of a PEM file: the part after '='.
inline std::string openssl_fingerprint(const fs::path& pem) {
  const Ran r =
      run_program({"openssl", "x509", "-in", pem.string(), "-noout", "-fingerprint", "-sha256"});
  EXPECT_EQ(r.status, 0) << r.out;
  const auto eq = r.out.find('=');
  return eq == std::string::npos ? std::string() : trimmed(r.out.substr(eq + 1));
}

using Vars = hyperctl::test_env::Vars;
using hyperctl::test_env::ScopedEnv;

// ---- TCP listeners on 127.0.0.1

/// A listening socket on 127.0.0.1:<free port>.
inline int listen_any(unsigned& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)
    throw std::runtime_error("bind/listen");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

/// A port on 127.0.0.1 nothing listens on (bound, then released).
inline unsigned closed_port() {
  unsigned port = 0;
  ::close(listen_any(port));
  return port;
}

/// Accepts connections on a thread and either never answers (Stall) or
/// writes one plain-text line and closes (Plain).
class RawServer {
 public:
  enum class Mode { Stall, Plain };
  explicit RawServer(Mode mode) : mode_(mode) {
    fd_ = listen_any(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;
  unsigned port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (mode_ == Mode::Stall) {
        held_.push_back(c);  // open and silent until the end
        continue;
      }
      const std::string reply = "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  Mode mode_;
  int fd_ = -1;
  unsigned port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  std::thread thread_;
};

// ---- openssl s_server

/// Certificates made by `openssl req` in a scratch folder: a self-signed
/// server certificate (CN=trust-test.example), and a CA with a leaf it signed
/// (CN=localhost) for the SNI name "localhost".
struct Certificates {
  fs::path dir;
  fs::path self_cert, self_key, self_der;
  fs::path ca_cert, ca_key, leaf_cert, leaf_key;
  std::string error;  ///< non-empty: openssl failed

  explicit Certificates(const fs::path& folder) : dir(folder) {
    self_cert = dir / "self.pem";
    self_key = dir / "self.key";
    self_der = dir / "self.der";
    ca_cert = dir / "ca.pem";
    ca_key = dir / "ca.key";
    leaf_cert = dir / "leaf.pem";
    leaf_key = dir / "leaf.key";
    const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt",
                                         "ec_paramgen_curve:prime256v1", "-nodes"};
    auto req = [&](std::vector<std::string> argv) {
      if (!error.empty()) return;
      const Ran r = run_program(argv);
      if (r.status != 0) error = "openssl failed: " + r.out;
    };
    std::vector<std::string> self = {"openssl", "req", "-x509", "-days", "2"};
    self.insert(self.end(), ec.begin(), ec.end());
    self.insert(self.end(), {"-keyout", self_key.string(), "-out", self_cert.string(), "-subj",
                             "/CN=trust-test.example/O=hyperctl tests"});
    req(self);
    req({"openssl", "x509", "-in", self_cert.string(), "-outform", "DER", "-out",
         self_der.string()});
    std::vector<std::string> ca = {"openssl", "req", "-x509", "-days", "2"};
    ca.insert(ca.end(), ec.begin(), ec.end());
    ca.insert(ca.end(), {"-keyout", ca_key.string(), "-out", ca_cert.string(), "-subj",
                         "/CN=hyperctl test CA"});
    req(ca);
    std::vector<std::string> leaf = {"openssl", "req"};
    leaf.insert(leaf.end(), ec.begin(), ec.end());
    leaf.insert(leaf.end(), {"-keyout", leaf_key.string(), "-out", (dir / "leaf.csr").string(),
                             "-subj", "/CN=localhost"});
    req(leaf);
    req({"openssl", "x509", "-req", "-in", (dir / "leaf.csr").string(), "-CA", ca_cert.string(),
         "-CAkey", ca_key.string(), "-CAcreateserial", "-days", "2", "-out", leaf_cert.string()});
  }
};

/// `openssl s_server -www` on 127.0.0.1:<port it picks>: the self-signed
/// certificate by default, the CA-signed leaf to clients whose SNI says
/// "localhost". Stopped by its pid.
class TlsServer {
 public:
  explicit TlsServer(const Certificates& certs) {
    if (!certs.error.empty()) {
      error_ = certs.error;
      return;
    }
    const fs::path log = certs.dir / "s_server.log";
    const std::vector<std::string> argv = {"openssl",
                                           "s_server",
                                           "-accept",
                                           "127.0.0.1:0",
                                           "-www",
                                           "-cert",
                                           certs.self_cert.string(),
                                           "-key",
                                           certs.self_key.string(),
                                           "-servername",
                                           "localhost",
                                           "-cert2",
                                           certs.leaf_cert.string(),
                                           "-key2",
                                           certs.leaf_key.string()};
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    const std::string log_path = log.string();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_RDONLY);
      const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(null, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::setpgid(0, 0);
      ::execvp(cargv[0], cargv.data());
      ::_exit(127);
    }
    // It prints "ACCEPT 127.0.0.1:PORT" once it listens.
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
      const std::string text = slurp(log);
      const auto at = text.find("ACCEPT 127.0.0.1:");
      if (at != std::string::npos) {
        port_ = unsigned(std::atoi(text.c_str() + at + 17));
        break;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        error_ = "openssl s_server exited: " + text;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (port_ == 0) error_ = "openssl s_server did not listen within 20 s: " + slurp(log);
  }
  ~TlsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  /// Non-empty: why the server is not there.
  const std::string& error() const { return error_; }
  unsigned port() const { return port_; }

 private:
  pid_t pid_ = 0;
  unsigned port_ = 0;
  std::string error_;
};

// ---- the sshd test bed (tests/testbed/sshd.sh, fixture ssh_daemon)

struct SshBed {
  std::string skip;  ///< non-empty: why the bed cannot be used
  fs::path state;
  std::string host, user;
  unsigned port = 0;
  fs::path identity;
  std::string host_key;  ///< "ssh-ed25519 BASE64" of the bed's host key
};

inline const SshBed& ssh_bed() {
  static const SshBed bed = [] {
    SshBed b;
    const char* state = std::getenv("HYPERCTL_TESTBED_SSH_STATE");
    if (!state || !*state) {
      b.skip = "HYPERCTL_TESTBED_SSH_STATE is not set (run through ctest: fixture ssh_daemon)";
      return b;
    }
    b.state = state;
    if (fs::exists(b.state / "unavailable")) {
      b.skip = "sshd test bed unavailable: " + trimmed(slurp(b.state / "unavailable"));
      return b;
    }
    const std::string port = trimmed(slurp(b.state / "port"));
    if (port.empty()) {
      b.skip = "sshd test bed did not start (no " + (b.state / "port").string() + ")";
      return b;
    }
    b.port = unsigned(std::stoul(port));
    b.host = trimmed(slurp(b.state / "host"));
    b.user = trimmed(slurp(b.state / "user"));
    b.identity = b.state / "id_ed25519";
    std::istringstream pub(slurp(b.state / "host_ed25519_key.pub"));
    std::string type, key;
    pub >> type >> key;
    b.host_key = type + " " + key;
    return b;
  }();
  return bed;
}

/// ssh-keygen's fingerprint ("SHA256:...") of a "KEYTYPE BASE64" key.
inline std::string keygen_fingerprint(const std::string& key) {
  const Ran r = run_program({"ssh-keygen", "-l", "-f", "-"}, key + " test\n");
  EXPECT_EQ(r.status, 0) << r.out;
  std::istringstream words(r.out);
  std::string bits, fp;
  words >> bits >> fp;
  return fp;
}

}  // namespace trust_test
