// The vSphere suites' test bed: a simulated vCenter or ESXi host per suite
// (tests/vsphere/sim: govmomi's simulator behind HTTPS with a fresh
// self-signed certificate, on 127.0.0.1), a second session into it through
// govmomi's own client (`show`, `files`) to check what the plugin did, and
// the plugin opened through the Registry as the CLI does.
//
// Use (one simulator per suite, started in SetUpTestSuite):
//
//   class VmTest : public vsphere_test::SimTest<VmTest> {
//    public:
//     static vsphere_test::SimOptions sim_options() { return {.vms = 3}; }
//   };
//   TEST_F(VmTest, Lists) {
//     auto conn = sim().connect();
//     EXPECT_EQ(conn->vms().list().size(), sim().show()["vms"].size());
//   }
//
// A suite that overrides SetUp() calls SimTest::SetUp() first and returns
// when IsSkipped() or HasFatalFailure(). When the simulator cannot be built
// here (no Go, no govmomi) the tests skip with the reason, except in CI
// (CI=true or HYPERCTL_TESTBED_REQUIRED=1) where that is a failure; a
// simulator that is built but does not start is always a failure.
//
// The simulator exits when its stdin closes, so it does not outlive a test
// process that crashes; its datastores live in a temporary folder removed
// with it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/backend.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/registry.hpp"

extern char** environ;

// Set by tests/vsphere/CMakeLists.txt; these defaults let the header compile
// elsewhere (the simulator is then unavailable).
#ifndef HYPERCTL_TEST_VCSIM
#define HYPERCTL_TEST_VCSIM ""
#endif
#ifndef HYPERCTL_TEST_VCSIM_MISSING
#define HYPERCTL_TEST_VCSIM_MISSING "the vSphere simulator is not configured in this build"
#endif
#ifndef HYPERCTL_TEST_VSPHERE_PLUGIN_DIR
#define HYPERCTL_TEST_VSPHERE_PLUGIN_DIR ""
#endif
#ifndef HYPERCTL_TEST_HYPERCTL_CLI
#define HYPERCTL_TEST_HYPERCTL_CLI ""
#endif

namespace vsphere_test {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// CI (CI=true/1/yes) or HYPERCTL_TESTBED_REQUIRED=1: missing parts fail.
inline bool required() {
  for (const char* var : {"HYPERCTL_TESTBED_REQUIRED", "CI"}) {
    const char* v = std::getenv(var);
    if (!v) continue;
    const std::string s = v;
    if (s == "1" || s == "true" || s == "TRUE" || s == "True" || s == "yes") return true;
  }
  return false;
}

/// One registry for the process: plugin libraries stay loaded for its life.
inline hyperctl::Registry& registry() {
  static hyperctl::Registry r({HYPERCTL_TEST_VSPHERE_PLUGIN_DIR});
  return r;
}

/// A random password per simulator (letters and digits).
inline std::string random_secret(std::size_t n = 20) {
  static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += alphabet[rd() % (sizeof alphabet - 1)];
  return out;
}

/// Result of a program run to its end.
struct RunResult {
  int status = -1;  ///< exit status; 128+N for signal N; -1 could not run
  std::string out, err;
};

inline std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "status " << r.status << "\n--- stdout:\n" << r.out << "\n--- stderr:\n" << r.err;
}

namespace detail {

/// Environment for a child: ours with `set` applied (nullopt removes).
inline std::vector<std::string> child_env(
    const std::map<std::string, std::optional<std::string>>& set) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : set) {
    if (v)
      env[k] = *v;
    else
      env.erase(k);
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

inline std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

/// fork + execve with the three standard descriptors given (-1: /dev/null).
/// With `die_with_parent`, the child gets SIGTERM when this thread ends.
/// Only async-signal-safe calls between fork and exec.
inline pid_t spawn(std::vector<std::string> argv, std::vector<std::string> env, int in, int out,
                   int err, bool die_with_parent) {
  auto cargv = c_strings(argv);
  auto cenv = c_strings(env);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;  // parent (or -1)
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
  }
  const int null = ::open("/dev/null", O_RDWR);
  ::dup2(in >= 0 ? in : null, 0);
  ::dup2(out >= 0 ? out : null, 1);
  ::dup2(err >= 0 ? err : null, 2);
  ::execve(cargv[0], cargv.data(), cenv.data());
  ::_exit(127);
}

/// Reads one line from `fd` (without the newline) within `timeout`; nullopt
/// on end of file or timeout. `buffer` keeps what was read past the line.
inline std::optional<std::string> read_line(int fd, std::string& buffer,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

inline int exit_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

}  // namespace detail

/// Runs `argv` (argv[0] a path; never a shell) to its end with `env` changes
/// and `input` on stdin, collecting stdout and stderr; killed after `timeout`
/// (status 128+9).
inline RunResult run(const std::vector<std::string>& argv,
                     const std::map<std::string, std::optional<std::string>>& env = {},
                     const std::string& input = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  RunResult r;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return r;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return r;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    return r;
  }
  const pid_t pid = detail::spawn(argv, detail::child_env(env), in[0], out[1], err[1], true);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(in[1]), ::close(out[0]), ::close(err[0]);
    return r;
  }
  // Small inputs only (commands, passwords): written at once, then closed.
  std::size_t written = 0;
  ::signal(SIGPIPE, SIG_IGN);
  while (written < input.size()) {
    const ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  ::close(in[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true, killed = false;
  while (out_open || err_open) {
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(p, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    char chunk[8192];
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(p[i].fd, chunk, sizeof chunk);
      if (n > 0)
        (i == 0 ? r.out : r.err).append(chunk, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR)
        (i == 0 ? out_open : err_open) = false;
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  r.status = killed ? 128 + SIGKILL : detail::exit_status(ws);
  return r;
}

struct SimOptions {
  std::string mode = "vpx";  ///< "vpx" (a vCenter) or "esx" (a standalone host)
  /// VMs per resource pool: vpx puts `vms` on each standalone host and `vms`
  /// in each cluster, so the total is vms * (hosts + clusters) * datacenters;
  /// esx: the total.
  int vms = 2;
  int hosts = 1;          ///< vpx: standalone hosts per datacenter
  int clusters = 1;       ///< vpx: clusters per datacenter
  int cluster_hosts = 3;  ///< vpx: hosts per cluster
  int datacenters = 1;    ///< vpx
  /// vpx: > 0 puts each datacenter in a folder (F0/DC0), as an inventory
  /// organised by site would be: its dcPath is then "F0/DC0".
  int folders = 0;
  int datastores = 1;
  bool autostart = true;  ///< the created VMs are powered on
  bool tls = true;        ///< false: plain HTTP
  std::string user = "hyper";
  std::string password;      ///< empty: random, per simulator
  std::string idle_timeout;  ///< a Go duration ("2s"): sessions idle that long expire
  /// A Go duration: kept-alive connections idle that long are closed by the
  /// simulator (as a vCenter's proxy does).
  std::string connection_idle_timeout;
  /// METHOD=MODE[*N] (modes: truncated, malformed, fault, notauth, html500,
  /// close, ok (an empty answer, the call not made), delay:DURATION, and for
  /// RetrievePropertiesEx pages:N (the answer in N pages, continued by token
  /// with ContinueRetrievePropertiesEx; CancelRetrievePropertiesEx drops the
  /// rest)); see also Simulator::inject().
  std::vector<std::string> inject;
};

class Simulator {
 public:
  /// Whether the simulator binary is here; `why` says why not.
  static bool available(std::string* why = nullptr) {
    const std::string bin = HYPERCTL_TEST_VCSIM;
    if (!bin.empty() && ::access(bin.c_str(), X_OK) == 0) return true;
    if (why)
      *why = bin.empty() ? std::string(HYPERCTL_TEST_VCSIM_MISSING)
                         : "the vSphere simulator " + bin + " is not built";
    return false;
  }

  /// Starts one; nullptr with `why` when it is unavailable or did not start.
  static std::unique_ptr<Simulator> start(const SimOptions& options, std::string* why = nullptr) {
    std::string reason;
    if (!available(&reason)) {
      if (why) *why = reason;
      return nullptr;
    }
    std::unique_ptr<Simulator> sim(new Simulator(options));
    if (!sim->launch(&reason)) {
      if (why) *why = "the vSphere simulator did not start: " + reason;
      return nullptr;
    }
    return sim;
  }

  ~Simulator() { stop(); }
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  /// Closes its stdin (it exits), waits up to 5 s, then kills it; removes
  /// its datastores. Idempotent.
  void stop() {
    if (stdin_ >= 0) ::close(stdin_), stdin_ = -1;
    if (pid_ > 0) {
      int ws = 0;
      bool gone = false;
      for (int i = 0; i < 50 && !gone; ++i) {
        const pid_t r = ::waitpid(pid_, &ws, WNOHANG);
        gone = r == pid_ || (r < 0 && errno == ECHILD);
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!gone) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &ws, 0);
      }
      pid_ = -1;
    }
    if (stdout_ >= 0) ::close(stdout_), stdout_ = -1;
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  const SimOptions& options() const { return options_; }
  /// The ready line: url, host, port, thumbprint, pid, mode, user, and the
  /// inventory's counts (vms, hosts, clusters, datastores, datacenters).
  const json& info() const { return info_; }
  std::string scheme() const { return options_.mode == "esx" ? "esx" : "vsphere"; }
  std::string host() const { return info_.at("host").get<std::string>(); }
  unsigned port() const { return info_.at("port").get<unsigned>(); }
  /// SHA-256, upper-case hex pairs joined by ':'.
  std::string thumbprint() const { return info_.at("thumbprint").get<std::string>(); }
  std::string user() const { return options_.user; }
  std::string password() const { return options_.password; }
  /// https://127.0.0.1:PORT/sdk
  std::string sdk_url() const { return info_.at("url").get<std::string>(); }
  int pid() const { return pid_; }
  /// How many VMs the simulator created.
  int vm_count() const { return info_.at("vms").get<int>(); }
  /// The simulator's stderr so far (for messages).
  std::string log() const {
    std::ifstream in(dir_ / "vcsim.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  /// vsphere://USER@127.0.0.1:PORT/?thumbprint=TP (esx:// in esx mode),
  /// with `extra_query` ("insecure=1", "timeout=5"...) appended.
  std::string uri(const std::string& extra_query = "") const {
    std::string u = base_uri() + "?thumbprint=" + thumbprint();
    if (!extra_query.empty()) u += "&" + extra_query;
    return u;
  }
  /// The same without a thumbprint: the trust store or the CAs decide.
  std::string uri_without_pin(const std::string& extra_query = "") const {
    std::string u = base_uri();
    if (!extra_query.empty()) u += "?" + extra_query;
    return u;
  }

  /// Options whose secret provider answers the password.
  hyperctl::ConnectOptions connect_options() const {
    hyperctl::ConnectOptions o;
    const std::string pw = options_.password;
    o.secret = [pw](const std::string&) -> std::optional<std::string> { return pw; };
    return o;
  }
  /// The plugin's connection to uri(extra_query). Throws hyperctl::Error.
  std::unique_ptr<hyperctl::Connection> connect(const std::string& extra_query = "") const {
    return registry().open(uri(extra_query), connect_options());
  }

  /// The whole inventory through a second session (govmomi's client):
  /// product {name, fullName, apiType, version, build, apiVersion,
  /// instanceUuid}; datacenters {name, rawName, moref, path (inventory
  /// path of stored names: "DC0", "F0/DC0")}; clusters {name, moref, hosts};
  /// hosts {name,
  /// moref, connectionState, powerState, inMaintenanceMode, cluster?,
  /// cpuModel, cpuVendor, cpuMhz, numCpu (threads), numCpuCores, numCpuPkgs,
  /// memoryBytes, vendor, model}; datastores {name, moref, type, capacity,
  /// free, accessible, url, hosts}; networks {name, rawName, moref, type};
  /// vms {name, rawName, moref, uuid, instanceUuid, powerState, numCpu,
  /// memoryMB, guestId, annotation, template, vmPathName, host, datastores,
  /// disks [{file, capacityBytes, key, label}], nics [{mac, network, key,
  /// label, connected, type}], snapshots [{name, rawName, moref,
  /// description, state, quiesced, children}], currentSnapshot ("" when
  /// none)}; sessions: how many sessions other than show's own. Every list
  /// is sorted by name. `name` is decoded (vSphere stores '%', '/', '\' as
  /// %25, %2f, %5c); rawName is as stored. Throws std::runtime_error.
  json show() const { return client("show", {}); }

  /// The files under a datastore folder (and its subfolders) through the
  /// HostDatastoreBrowser: [{path (relative to the datastore), size, type
  /// (FileInfo subtype: FolderFileInfo, VmDiskFileInfo...)}], sorted by path.
  json files(const std::string& datastore, const std::string& path = "") const {
    std::vector<std::string> extra = {"-datastore", datastore};
    if (!path.empty()) extra.insert(extra.end(), {"-path", path});
    return client("files", extra);
  }

  /// The VM named `name` in show(), or null.
  json find_vm(const std::string& name) const {
    const json all = show();
    for (const auto& vm : all["vms"])
      if (vm["name"] == name) return vm;
    return nullptr;
  }

  /// Sends one control command; returns its one-line answer ("ok",
  /// "error: ...", or JSON for stats). Thread-safe.
  std::string command(const std::string& line) {
    std::lock_guard<std::mutex> lock(command_mutex_);
    if (stdin_ < 0) throw std::runtime_error("the simulator is stopped");
    const std::string msg = line + "\n";
    if (::write(stdin_, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size()))
      throw std::runtime_error("cannot write to the simulator: " + std::string(strerror(errno)));
    auto reply = detail::read_line(stdout_, buffer_, std::chrono::seconds(20));
    if (!reply) throw std::runtime_error("no answer from the simulator to '" + line + "'");
    return *reply;
  }
  /// From now on answer METHOD wrongly: "RetrievePropertiesEx=truncated",
  /// "Login=close*1" (the next call only), "PowerOnVM_Task=delay:2s",
  /// "ShutdownGuest=ok" (accepted, never done).
  /// Throws std::runtime_error when the simulator refuses the spec.
  void inject(const std::string& spec) { expect_ok("inject " + spec); }
  /// Changes a host behind the API's back: `what` maintenance (arg on|off),
  /// cpu-vendor (arg the vendor), drop-network / drop-datastore (arg its
  /// name: the host no longer sees it). Throws std::runtime_error if refused.
  void host_control(const std::string& host, const std::string& what, const std::string& arg) {
    expect_ok("host " + host + " " + what + " " + arg);
  }
  /// Removes every injection rule.
  void clear_injections() { expect_ok("clear"); }
  /// {"requests": N, "methods": {"RetrievePropertiesEx": n, ...},
  /// "open_page_tokens": n}: the HTTP requests seen since the start or
  /// reset_stats(), the SOAP calls by method (the fixture's own
  /// show()/files() sessions count too), and the paged answers (pages:N) not
  /// yet read to the end nor cancelled.
  json stats() { return json::parse(command("stats")); }
  void reset_stats() { expect_ok("reset-stats"); }
  /// Ends every open session (as an expiry would); returns how many.
  int expire_sessions() {
    const std::string r = command("expire-sessions");
    if (r.rfind("ok", 0) != 0) throw std::runtime_error("expire-sessions: " + r);
    return r.size() > 3 ? std::stoi(r.substr(3)) : 0;
  }

  /// Runs the hyperctl CLI with `args`, the password in HYPERCTL_PASSWORD
  /// (never in argv) and the build tree's plugins.
  RunResult cli(const std::vector<std::string>& args,
                std::map<std::string, std::optional<std::string>> env = {},
                std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    std::vector<std::string> argv = {HYPERCTL_TEST_HYPERCTL_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    env.emplace("HYPERCTL_PASSWORD", options_.password);
    env.emplace("HYPERCTL_PLUGIN_PATH", HYPERCTL_TEST_VSPHERE_PLUGIN_DIR);
    return run(argv, env, {}, timeout);
  }

 private:
  explicit Simulator(SimOptions options) : options_(std::move(options)) {
    if (options_.password.empty()) options_.password = random_secret();
  }

  std::string base_uri() const {
    return scheme() + "://" + options_.user + "@" + host() + ":" + std::to_string(port()) + "/";
  }

  void expect_ok(const std::string& line) {
    const std::string r = command(line);
    if (r != "ok") throw std::runtime_error(line + ": " + r);
  }

  json client(const std::string& sub, const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = {
        HYPERCTL_TEST_VCSIM, sub, "-url", sdk_url(), "-user", user(), "-thumbprint", thumbprint()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const RunResult r = run(argv, {{"HYPERCTL_VCSIM_PASSWORD", options_.password}});
    if (r.status != 0)
      throw std::runtime_error("hyperctl-vcsim " + sub + " failed: " + r.err + r.out);
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      throw std::runtime_error("hyperctl-vcsim " + sub + ": not JSON (" + e.what() + "): " + r.out);
    }
  }

  bool launch(std::string* why) {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-vcsim-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      *why = "mkdtemp: " + std::string(strerror(errno));
      return false;
    }
    dir_ = tmpl;
    fs::create_directories(dir_ / "tmp");
    const SimOptions& o = options_;
    std::vector<std::string> argv = {HYPERCTL_TEST_VCSIM,
                                     "serve",
                                     "-stdin",
                                     "-mode=" + o.mode,
                                     "-vms=" + std::to_string(o.vms),
                                     "-hosts=" + std::to_string(o.hosts),
                                     "-clusters=" + std::to_string(o.clusters),
                                     "-cluster-hosts=" + std::to_string(o.cluster_hosts),
                                     "-datacenters=" + std::to_string(o.datacenters),
                                     "-folders=" + std::to_string(o.folders),
                                     "-datastores=" + std::to_string(o.datastores),
                                     std::string("-autostart=") + (o.autostart ? "true" : "false"),
                                     std::string("-tls=") + (o.tls ? "true" : "false"),
                                     "-user=" + o.user};
    if (!o.idle_timeout.empty()) argv.push_back("-idle-timeout=" + o.idle_timeout);
    if (!o.connection_idle_timeout.empty())
      argv.push_back("-conn-idle-timeout=" + o.connection_idle_timeout);
    for (const auto& spec : o.inject) argv.push_back("-inject=" + spec);

    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) {
      *why = "pipe: " + std::string(strerror(errno));
      return false;
    }
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]), ::close(in[1]);
      *why = "pipe: " + std::string(strerror(errno));
      return false;
    }
    const fs::path log = dir_ / "vcsim.log";
    const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    auto env = detail::child_env(
        {{"HYPERCTL_VCSIM_PASSWORD", o.password}, {"TMPDIR", (dir_ / "tmp").string()}});
    pid_ = detail::spawn(argv, std::move(env), in[0], out[1], err, true);
    ::close(in[0]);
    ::close(out[1]);
    if (err >= 0) ::close(err);
    stdin_ = in[1];
    stdout_ = out[0];
    ::signal(SIGPIPE, SIG_IGN);  // a simulator that died must not kill the tests
    if (pid_ < 0) {
      *why = "fork: " + std::string(strerror(errno));
      return false;
    }
    auto line = detail::read_line(stdout_, buffer_, std::chrono::seconds(30));
    if (!line) {
      *why = "no ready line within 30 s; its log: " + this->log();
      return false;
    }
    try {
      info_ = json::parse(*line);
      (void)port();
      (void)thumbprint();
    } catch (const std::exception& e) {
      *why = "unreadable ready line '" + *line + "': " + e.what();
      return false;
    }
    return true;
  }

  SimOptions options_;
  fs::path dir_;
  json info_;
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  std::string buffer_;
  std::mutex command_mutex_;  ///< one command and its answer at a time
};

/// Skips (outside CI, when the simulator cannot be built here) or fails the
/// current test, saying why.
#define VSPHERE_SKIP_OR_FAIL(why)                                               \
  do {                                                                          \
    if (!::vsphere_test::required() && !::vsphere_test::Simulator::available()) \
      GTEST_SKIP() << (why);                                                    \
    FAIL() << (why);                                                            \
  } while (0)

/// For a test that starts its own simulator:
///   VSPHERE_START_SIM(sim, vsphere_test::SimOptions{.mode = "esx"});
/// declares `sim` (std::unique_ptr<Simulator>), or skips/fails as SimTest does.
#define VSPHERE_START_SIM(var, ...)                                     \
  std::string var##_why;                                                \
  auto var = ::vsphere_test::Simulator::start(__VA_ARGS__, &var##_why); \
  if (!var) VSPHERE_SKIP_OR_FAIL(var##_why)

/// Base of a suite with one simulator: Suite::sim_options() says which.
template <class Suite>
class SimTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() { sim_ = Simulator::start(Suite::sim_options(), &why_); }
  static void TearDownTestSuite() { sim_.reset(); }

 protected:
  /// Skips (outside CI, when the simulator cannot be built here) or fails.
  void SetUp() override {
    if (!sim_) VSPHERE_SKIP_OR_FAIL(why_);
  }
  static Simulator& sim() { return *sim_; }

  static inline std::unique_ptr<Simulator> sim_;
  static inline std::string why_;
};

}  // namespace vsphere_test
