#include "commands.hpp"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string_view>

#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/size.hpp"
#include "hyperctl/version.hpp"
#include "output.hpp"
#include "text.hpp"

namespace hyperctl::cli {

namespace {

// ---------------------------------------------------------------- stderr --

void write_stderr(const std::string& text) {
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

void write_stdout(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string squote(const std::string& name) {
  return "'" + printable(name) + "'";
}

// --------------------------------------------------------------- secrets --

/// Passwords come from HYPERCTL_PASSWORD or a prompt on the controlling
/// terminal with echo off; never from argv, and they are never printed.
std::optional<std::string> ask_secret(const std::string& prompt) {
  if (const char* env = std::getenv("HYPERCTL_PASSWORD"); env && *env) return std::string(env);
  if (!isatty(STDIN_FILENO)) return std::nullopt;
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  const std::string p = printable(prompt) + ": ";
  [[maybe_unused]] auto w1 = ::write(fd, p.data(), p.size());
  termios old{};
  const bool have_tio = tcgetattr(fd, &old) == 0;
  if (have_tio) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string secret;
  char c = 0;
  bool ok = false;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n' || c == '\r') {
      ok = true;
      break;
    }
    secret += c;
  }
  if (have_tio) tcsetattr(fd, TCSAFLUSH, &old);
  [[maybe_unused]] auto w2 = ::write(fd, "\n", 1);
  ::close(fd);
  if (!ok) return std::nullopt;
  return secret;
}

// --------------------------------------------------------------- session --

/// What one invocation works with: the output format, and (only when a
/// command needs it) the registry and one connection.
class Session {
 public:
  explicit Session(const GlobalOptions& g) : g_(g), format_(parse_format(g.output)) {}

  Format format() const { return format_; }

  Registry& registry() {
    if (!registry_) registry_ = std::make_unique<Registry>(g_.plugin_dirs);
    return *registry_;
  }

  Connection& connect(bool read_only = false) {
    if (conn_) return *conn_;
    std::string uri = g_.uri;
    if (uri.empty()) {
      if (const char* env = std::getenv("HYPERCTL_URI")) uri = env;
    }
    if (uri.empty()) {
      throw Error(ErrorCode::InvalidArgument, "no connection URI: give -c URI or set HYPERCTL_URI");
    }
    ConnectOptions options;
    options.secret = ask_secret;
    options.read_only = read_only;
    conn_ = registry().open(uri, options);
    return *conn_;
  }

  VmOps& vms(bool read_only = false) { return connect(read_only).vms(); }
  std::string uri() const { return conn_ ? conn_->uri().str() : std::string(); }

 private:
  const GlobalOptions& g_;
  Format format_;
  std::unique_ptr<Registry> registry_;  // declared first: outlives conn_
  std::unique_ptr<Connection> conn_;
};

/// The result of a command that changes one VM.
int report_action(Session& s, const std::string& operation, const std::string& vm,
                  const std::string& result, const std::string& message) {
  JsonValue doc = {{"schema", "hyperctl.result/1"},
                   {"operation", operation},
                   {"vm", vm},
                   {"result", result},
                   {"message", message}};
  write_stdout(render(s.format(), doc, printable(message) + "\n"));
  return 0;
}

/// A command whose result is a VM (create, define, set): a message line as
/// table, the hyperctl.vm/1 document otherwise.
int report_vm(Session& s, const VmInfo& vm, const std::string& message) {
  switch (s.format()) {
    case Format::Table:
      write_stdout(printable(message) + "\n");
      break;
    case Format::Csv:
      write_stdout(vm_list_csv({vm}));
      break;
    case Format::Json:
      write_stdout(to_json_text(vm_doc_Json(s.uri(), vm)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(vm_doc_Json(s.uri(), vm)));
      break;
  }
  return 0;
}

std::vector<VmState> parse_states(const std::vector<std::string>& names) {
  std::vector<VmState> states;
  for (const auto& n : names) {
    if (n.empty()) continue;
    auto st = parse_vm_state(n);
    if (!st) {
      throw Error(ErrorCode::InvalidArgument,
                  "unknown state " + squote(n) +
                      " (running, paused, suspended, off, crashed, transitional, unknown)");
    }
    states.push_back(*st);
  }
  return states;
}

/// --disk: a size when parse_size accepts it, else a path. A word that starts
/// with a digit and has no '/' is taken for a mistyped size ("10Q") rather
/// than a relative file name, and reported as such.
DiskSpec parse_disk(const std::string& text) {
  DiskSpec d;
  try {
    d.size_bytes = parse_size(text);
    if (d.size_bytes == 0) {
      throw Error(ErrorCode::InvalidArgument, "disk size must be more than 0: " + squote(text));
    }
    return d;
  } catch (const Error& e) {
    const bool looks_like_size = !text.empty() &&
                                 ((text[0] >= '0' && text[0] <= '9') || text[0] == '-' ||
                                  text[0] == '+' || text[0] == '.') &&
                                 text.find('/') == std::string::npos;
    if (looks_like_size || text.empty()) {
      throw Error(ErrorCode::InvalidArgument, std::string("bad --disk: ") + e.what());
    }
  }
  d.path = text;
  return d;
}

std::uint64_t parse_memory(const std::string& text) {
  std::uint64_t bytes = 0;
  try {
    bytes = parse_size(text);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, std::string("bad --memory: ") + e.what());
  }
  if (bytes == 0)
    throw Error(ErrorCode::InvalidArgument, "bad --memory: must be more than 0: " + squote(text));
  return bytes;
}

std::string read_input(const std::string& file) {
  int fd = STDIN_FILENO;
  if (file != "-") {
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      throw Error(err == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument,
                  "cannot read " + squote(file) + ": " + std::strerror(err));
    }
  }
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      if (fd != STDIN_FILENO) ::close(fd);
      throw Error(ErrorCode::InvalidArgument,
                  "cannot read " + (file == "-" ? std::string("standard input") : squote(file)) +
                      ": " + std::strerror(err));
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  if (fd != STDIN_FILENO) ::close(fd);
  if (data.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error(ErrorCode::InvalidArgument,
                (file == "-" ? std::string("standard input") : squote(file)) + " is empty");
  }
  return data;
}

// ------------------------------------------------------------- shutdown --

CancelToken* g_cancel = nullptr;  // set while a cancellable wait runs

extern "C" void on_sigint(int) {
  if (g_cancel == nullptr || g_cancel->cancelled()) {
    // Second Ctrl-C (or none expected): stop now.
    ::signal(SIGINT, SIG_DFL);
    ::raise(SIGINT);
    return;
  }
  g_cancel->cancel();
}

/// Installs the SIGINT handler for one wait and restores the old one after.
class SigintCancels {
 public:
  explicit SigintCancels(CancelToken& token) {
    g_cancel = &token;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: let a blocking wait see EINTR
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintCancels() {
    sigaction(SIGINT, &old_, nullptr);
    g_cancel = nullptr;
  }
  SigintCancels(const SigintCancels&) = delete;
  SigintCancels& operator=(const SigintCancels&) = delete;

 private:
  struct sigaction old_ {};
};

/// A spinner on stderr, only when stderr is a terminal.
class Spinner {
 public:
  explicit Spinner(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO)) {}
  ~Spinner() {
    if (tty_ && shown_) write_stderr("\r\033[K");
  }
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;

  void update(const Progress& p) {
    if (!tty_) return;
    static constexpr const char* kFrames[] = {"|", "/", "-", "\\"};
    std::string line = "\r" + std::string(kFrames[frame_++ % 4]) + " " + label_;
    if (p.unit == "ms" && p.total) {
      line += " (" + std::to_string(p.done / 1000) + "/" + std::to_string(p.total / 1000) + " s)";
    }
    line += "\033[K";
    write_stderr(line);
    shown_ = true;
  }

 private:
  std::string label_;
  bool tty_;
  bool shown_ = false;
  unsigned frame_ = 0;
};

}  // namespace

// ------------------------------------------------------------- commands --

int run_list(const GlobalOptions& g, const ListArgs& a) {
  Session s(g);
  VmFilter filter;
  filter.states = parse_states(a.states);
  filter.name_glob = a.name_glob;
  const auto vms = s.vms(true).list(filter);
  switch (s.format()) {
    case Format::Table:
      write_stdout(vm_list_table(vms));
      break;
    case Format::Csv:
      write_stdout(vm_list_csv(vms));
      break;
    case Format::Json:
      write_stdout(to_json_text(vm_list_Json(s.uri(), vms)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(vm_list_Json(s.uri(), vms)));
      break;
  }
  return 0;
}

int run_info(const GlobalOptions& g, const std::string& vm) {
  Session s(g);
  const VmInfo info = s.vms(true).get(vm);
  if (s.format() == Format::Table) {
    write_stdout(vm_info_text(info));
    return 0;
  }
  return report_vm(s, info, "");
}

int run_action(const GlobalOptions& g, Action action, const std::string& vm) {
  Session s(g);
  VmOps& ops = s.vms();
  const char* op = "";
  const char* done = "";
  switch (action) {
    case Action::Start:
      ops.start(vm), op = "vm.start", done = "started";
      break;
    case Action::PowerOff:
      ops.power_off(vm), op = "vm.poweroff", done = "powered off";
      break;
    case Action::Reboot:
      ops.reboot(vm), op = "vm.reboot", done = "is rebooting";
      break;
    case Action::Reset:
      ops.reset(vm), op = "vm.reset", done = "reset";
      break;
    case Action::Suspend:
      ops.suspend(vm), op = "vm.suspend", done = "suspended (paused)";
      break;
    case Action::Resume:
      ops.resume(vm), op = "vm.resume", done = "resumed";
      break;
    case Action::Save:
      ops.save(vm), op = "vm.save", done = "saved to disk and stopped";
      break;
  }
  return report_action(s, op, vm, "ok", "VM " + squote(vm) + " " + done);
}

int run_shutdown(const GlobalOptions& g, const ShutdownArgs& a) {
  Session s(g);
  VmOps& ops = s.vms();
  ShutdownOptions options;
  options.timeout = std::chrono::seconds(a.timeout_s);
  options.force = a.force;
  CancelToken cancel;
  ShutdownOutcome outcome{};
  {
    Spinner spinner("waiting for VM " + squote(a.vm) + " to shut down");
    SigintCancels guard(cancel);
    outcome = ops.shutdown(
        a.vm, options, [&](const Progress& p) { spinner.update(p); }, cancel);
  }
  std::string result, message;
  switch (outcome) {
    case ShutdownOutcome::Stopped:
      result = "stopped", message = "VM " + squote(a.vm) + " shut down";
      break;
    case ShutdownOutcome::ForcedOff:
      result = "forced-off", message = "VM " + squote(a.vm) + " did not stop within " +
                                       std::to_string(a.timeout_s) + " s; powered off (--force)";
      break;
    case ShutdownOutcome::AlreadyOff:
      result = "already-off", message = "VM " + squote(a.vm) + " was already off";
      break;
  }
  return report_action(s, "vm.shutdown", a.vm, result, message);
}

int run_create(const GlobalOptions& g, const CreateArgs& a) {
  Session s(g);  // checks -o before anything is created
  VmSpec spec;
  spec.name = a.name;
  if (a.name.empty()) throw Error(ErrorCode::InvalidArgument, "--name must not be empty");
  if (a.vcpus == 0) throw Error(ErrorCode::InvalidArgument, "--vcpus must be at least 1");
  spec.vcpus = a.vcpus;
  spec.memory_bytes = parse_memory(a.memory);
  for (const auto& d : a.disks) spec.disks.push_back(parse_disk(d));
  spec.networks = a.networks;

  VmOps& ops = s.vms();
  VmInfo vm = ops.create(spec);
  std::string message = "VM " + squote(vm.name) + " created";
  if (a.start) {
    ops.start(vm.id.empty() ? VmRef(vm.name) : VmRef(vm.id));
    vm = ops.get(vm.id.empty() ? VmRef(vm.name) : VmRef(vm.id));
    message += " and started";
  }
  if (!vm.id.empty()) message += " (id " + vm.id + ")";
  return report_vm(s, vm, message);
}

int run_define(const GlobalOptions& g, const std::string& file) {
  Session s(g);
  const std::string config = read_input(file);
  const VmInfo vm = s.vms().define(config);
  std::string message = "VM " + squote(vm.name) + " defined";
  if (!vm.id.empty()) message += " (id " + vm.id + ")";
  return report_vm(s, vm, message);
}

int run_delete(const GlobalOptions& g, const DeleteArgs& a) {
  Session s(g);
  DeleteOptions options;
  options.with_storage = a.with_storage;
  options.force = a.force;
  s.vms().remove(a.vm, options);
  return report_action(
      s, a.with_storage ? "vm.delete-storage" : "vm.delete", a.vm, "ok",
      "VM " + squote(a.vm) + " deleted" + (a.with_storage ? " with its storage" : ""));
}

int run_set(const GlobalOptions& g, const SetArgs& a) {
  Session s(g);
  ResourceSettings settings;
  if (a.vcpus) {
    if (*a.vcpus == 0) throw Error(ErrorCode::InvalidArgument, "--vcpus must be at least 1");
    settings.vcpus = a.vcpus;
  }
  if (a.memory) settings.memory_bytes = parse_memory(*a.memory);
  if (!settings.vcpus && !settings.memory_bytes) {
    throw Error(ErrorCode::InvalidArgument, "nothing to set: give --vcpus and/or --memory");
  }
  settings.live = a.live;
  const VmInfo vm = s.vms().set_resources(a.vm, settings);
  return report_vm(s, vm,
                   "VM " + squote(a.vm) + " updated" + (a.live ? " (configuration and live)" : ""));
}

int run_autostart(const GlobalOptions& g, const std::string& vm, bool enabled) {
  Session s(g);
  s.vms().set_autostart(vm, enabled);
  return report_action(s, "vm.autostart", vm, enabled ? "on" : "off",
                       "VM " + squote(vm) + " autostart " + (enabled ? "on" : "off"));
}

int run_export_config(const GlobalOptions& g, const std::string& vm) {
  Session s(g);
  const std::string config = s.vms(true).export_config(vm);
  if (s.format() == Format::Table) {
    write_stdout(config);
    if (!config.empty() && config.back() != '\n') write_stdout("\n");
    return 0;
  }
  JsonValue doc = {{"schema", "hyperctl.vm-config/1"},
                   {"uri", s.uri()},
                   {"vm", vm},
                   {"backend", s.connect().backend_name()},
                   {"config", config}};
  write_stdout(render(s.format(), doc, config));
  return 0;
}

int run_backends(const GlobalOptions& g) {
  Session s(g);
  Registry& reg = s.registry();
  const auto plugins = reg.discover();
  switch (s.format()) {
    case Format::Table:
      write_stdout(backends_text(reg.search_path(), plugins));
      break;
    case Format::Csv:
      write_stdout(backends_csv(plugins));
      break;
    case Format::Json:
      write_stdout(to_json_text(backends_Json(reg.search_path(), plugins)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(backends_Json(reg.search_path(), plugins)));
      break;
  }
  return 0;
}

int run_version(const GlobalOptions& g) {
  const Format format = parse_format(g.output);
  const std::string v(hyperctl::version());
  JsonValue doc = {{"schema", "hyperctl.version/1"}, {"version", v}};
  write_stdout(render(format, doc, "hyperctl " + v + "\n"));
  return 0;
}

int usage_error(const std::string& message) {
  write_stderr("hyperctl: error: " + printable(message) + "\n");
  return 2;
}

int guarded(bool debug, const std::function<int()>& body) {
  int status = 0;
  try {
    status = body();
  } catch (const Error& e) {
    std::string text = "hyperctl: error: " + printable(e.what()) + "\n";
    if (debug) {
      text += "hyperctl: debug: code=" + std::string(to_string(e.code())) +
              " operation=" + (e.operation().empty() ? "-" : printable(e.operation())) +
              " detail=" + (e.detail().empty() ? "-" : printable(e.detail())) + "\n";
    }
    write_stderr(text);
    return exit_status(e.code());
  } catch (const std::exception& e) {
    write_stderr("hyperctl: error: internal error: " + printable(e.what()) + "\n");
    return 1;
  } catch (...) {
    write_stderr("hyperctl: error: internal error\n");
    return 1;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    write_stderr("hyperctl: error: cannot write to standard output: " +
                 std::string(std::strerror(errno)) + "\n");
    return 1;
  }
  return status;
}

}  // namespace hyperctl::cli
