// What the command files share: output streams, secrets, the Session that
// opens the connection, argument parsers, Ctrl-C cancellation, the spinner.
#include "support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>

#include "hyperctl/error.hpp"
#include "hyperctl/lingering.hpp"
#include "hyperctl/size.hpp"
#include "hyperctl/uri.hpp"

namespace hyperctl::cli {

// ---------------------------------------------------------------- stderr --

namespace {

ProgressLine* g_progress = nullptr;  // the line on the terminal now, if any

void raw_stderr(const std::string& text) {
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void write_stderr(const std::string& text) {
  if (g_progress) g_progress->clear();
  raw_stderr(text);
}

void write_stdout(const std::string& text) {
  // A result printed after a progress line must not share its terminal line
  // (and be wiped when the line is cleared).
  if (g_progress) g_progress->clear();
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string squote(const std::string& name) {
  return "'" + printable(name) + "'";
}

// --------------------------------------------------------------- secrets --

// ------------------------------------------------------- config and hosts --

namespace {

std::mutex g_config_mutex;
std::optional<FleetConfig> g_config;  // loaded by the first fleet_config()

/// The -c value, else $HYPERCTL_URI; empty when neither is given.
std::string connection_argument(const GlobalOptions& g) {
  if (!g.uri.empty()) return g.uri;
  if (const char* env = std::getenv("HYPERCTL_URI")) return env;
  return {};
}

/// A URI rather than a connection name: it has "://", or it cannot be a
/// name ("qemu:/x" is a mistyped URI, reported by the URI parser).
bool is_uri(const std::string& text) {
  return text.find("://") != std::string::npos || !valid_connection_name(text);
}

/// What connecting to `uri` takes: for a named connection (`entry`), its
/// user and timeout; the secret from the credentials store either way.
ConnectOptions options_for(const ConnectionEntry* entry, const std::string& uri) {
  ConnectOptions o;
  if (entry) {
    o.user = entry->user;
    if (entry->timeout) o.timeout = *entry->timeout;
  }
  o.secret = credential_store().provider(entry, uri);
  return o;
}

fleet::Target target_of(const ConnectionEntry* entry, const std::string& uri,
                        std::optional<std::chrono::milliseconds> deadline) {
  fleet::Target t;
  t.name = entry ? entry->name : uri;
  t.uri = uri;
  t.options = options_for(entry, uri);
  if (entry) t.tags = entry->tags;
  t.deadline = t.options.timeout;  // the connection's timeout, else the default
  if (deadline) {                  // --deadline wins over the connection's own timeout
    t.deadline = *deadline;
    t.options.timeout = *deadline;
  }
  return t;
}

}  // namespace

std::string config_path(const GlobalOptions& g) {
  return g.config_path.empty() ? FleetConfig::default_path() : g.config_path;
}

const FleetConfig& fleet_config(const GlobalOptions& g) {
  std::lock_guard<std::mutex> lock(g_config_mutex);
  if (!g_config) {
    g_config = FleetConfig::load(config_path(g));
  }
  return *g_config;
}

const CredentialStore& credential_store() {
  static const CredentialStore store(CredentialStore::default_path(), isatty(STDIN_FILENO) != 0);
  return store;
}

std::vector<fleet::Target> fleet_targets(const GlobalOptions& g,
                                         const std::vector<std::string>& hosts,
                                         const std::string& group, bool all,
                                         std::optional<std::chrono::milliseconds> deadline) {
  const int given = (hosts.empty() ? 0 : 1) + (group.empty() ? 0 : 1) + (all ? 1 : 0);
  if (given > 1)
    throw Error(ErrorCode::InvalidArgument, "give only one of --hosts, --group and --all");
  std::vector<fleet::Target> targets;
  auto add = [&](const ConnectionEntry* entry, const std::string& uri) {
    const std::string name = entry ? entry->name : uri;
    for (const auto& t : targets)
      if (t.name == name) return;
    targets.push_back(target_of(entry, uri, deadline));
  };
  auto add_name_or_uri = [&](const std::string& text) {
    if (is_uri(text)) {
      (void)Uri::parse(text);
      add(nullptr, text);
      return;
    }
    const ConnectionEntry& entry = fleet_config(g).get(text);  // NotFound naming the file
    add(&entry, entry.uri);
  };
  if (!hosts.empty()) {
    for (const auto& h : hosts) add_name_or_uri(h);
  } else if (!group.empty()) {
    const FleetConfig& cfg = fleet_config(g);
    const auto members = cfg.group(group);
    if (members.empty())
      throw Error(ErrorCode::NotFound,
                  "group " + squote(group) + " has no connections in " + printable(cfg.origin()));
    for (const auto& m : members) add(&m, m.uri);
  } else if (all) {
    const FleetConfig& cfg = fleet_config(g);
    if (cfg.connections().empty())
      throw Error(ErrorCode::NotFound, "no connections in " + printable(cfg.origin()) +
                                           " (add one with: hyperctl hosts add NAME URI)");
    for (const auto& c : cfg.connections()) add(&c, c.uri);
  } else {
    const std::string arg = connection_argument(g);
    if (arg.empty())
      throw Error(ErrorCode::InvalidArgument,
                  "no hosts: give --hosts, --group or --all, or -c NAME|URI");
    add_name_or_uri(arg);
  }
  return targets;
}

std::chrono::milliseconds duration_arg(const std::string& option, const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string unit = text.substr(digits);
  long long scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m")
    scale = 60000;
  if (digits == 0 || digits > 9 || scale == 0)
    throw Error(ErrorCode::InvalidArgument,
                option + " takes a duration like 500ms, 20s or 2m, not " + squote(text));
  const long long ms = std::stoll(text.substr(0, digits)) * scale;
  if (ms == 0) throw Error(ErrorCode::InvalidArgument, option + " must be above 0");
  return std::chrono::milliseconds(ms);
}

JsonValue host_report_json(const fleet::HostReport& r) {
  const bool ok = r.status == fleet::HostStatus::Ok;
  JsonValue o = JsonValue::object();
  o["name"] = r.name;
  o["uri"] = r.uri;
  o["backend"] = r.backend;
  o["status"] = fleet::to_string(r.status);
  o["code"] = ok ? JsonValue(nullptr) : JsonValue(std::string(to_string(r.code)));
  o["message"] = ok ? std::string() : r.message;
  o["elapsed_ms"] = r.elapsed.count();
  return o;
}

int first_failure_status(const std::vector<fleet::HostReport>& reports) {
  for (const auto& r : reports)
    if (r.status != fleet::HostStatus::Ok) return exit_status(r.code);
  return 0;
}

void report_failed_hosts_line(const std::vector<fleet::HostReport>& reports, bool warning) {
  std::size_t failed = 0;
  std::string names;
  for (const auto& r : reports) {
    if (r.status == fleet::HostStatus::Ok) continue;
    if (++failed <= 5)
      names += (names.empty() ? "" : ", ") + r.name + " (" + std::string(to_string(r.code)) + ")";
  }
  if (failed == 0) return;
  if (failed > 5) names += ", ...";
  write_stderr(std::string("hyperctl: ") + (warning ? "warning: " : "error: ") +
               printable(std::to_string(failed) + " of " + std::to_string(reports.size()) +
                         " hosts failed: " + names) +
               "\n");
}

void leave_if_lingering(int status) {
  if (lingering_work() == 0) return;
  // A thread may still be inside a backend library (a call that cannot be
  // interrupted) or at a password prompt: no static destructor may run
  // under it, and the terminal gets its echo back.
  restore_prompt_terminal();
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(status);
}

// --------------------------------------------------------------- session --

ConnectionRequest resolve_connection(const GlobalOptions& g, const std::string& name_or_uri) {
  ConnectionRequest r;
  r.uri = name_or_uri;
  const ConnectionEntry* entry = nullptr;
  if (!is_uri(name_or_uri)) {
    // A name from the config file (names never contain "://").
    entry = &fleet_config(g).get(name_or_uri);  // NotFound: no connection named 'x' in FILE
    r.name = entry->name;
    r.uri = entry->uri;
  }
  r.options = options_for(entry, r.uri);
  return r;
}

std::unique_ptr<Connection> Session::open(const std::string& name_or_uri, bool read_only) {
  ConnectionRequest r = resolve_connection(g_, name_or_uri);
  r.options.read_only = read_only;
  return registry().open(r.uri, r.options);
}

Connection& Session::connect(bool read_only) {
  if (conn_) return *conn_;
  const std::string arg = connection_argument(g_);
  if (arg.empty()) {
    throw Error(ErrorCode::InvalidArgument, "no connection: give -c NAME|URI or set HYPERCTL_URI");
  }
  conn_ = open(arg, read_only);
  return *conn_;
}

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

int report_migration(Session& s, const MigrationResult& r) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", r.seconds);
  JsonValue doc = {{"schema", "hyperctl.migrate/1"},
                   {"operation", r.operation},
                   {"vm", r.vm},
                   {"source", r.source},
                   {"target", r.target},
                   {"mode", r.mode}};
  if (!r.journal.empty()) doc["journal"] = r.journal;
  doc["result"] = "ok";
  doc["seconds"] = r.seconds;
  doc["message"] = r.message;
  if (r.moved) doc["target_vm"] = vm_Json(*r.moved);
  if (s.format() == Format::Json)
    write_stdout(doc.dump(-1, ' ', false, JsonValue::error_handler_t::replace) + "\n");
  else if (s.format() == Format::Csv)
    write_stdout(csv_row({"vm", "target", "mode", "result", "seconds"}) +
                 csv_row({r.vm, r.target, r.mode, "ok", secs}));
  else
    write_stdout(render(s.format(), doc, printable(r.message) + "\n"));
  return 0;
}

void report_migration_progress(const std::string& vm, const std::string& journal,
                               const Progress& p) {
  JsonValue counters = JsonValue::object();
  for (const auto& [k, v] : p.counters) counters[k] = v;
  JsonValue doc = {{"schema", "hyperctl.migrate-progress/1"}, {"vm", vm}};
  if (!journal.empty()) doc["journal"] = journal;
  doc["phase"] = p.phase;
  doc["done"] = p.done;
  doc["total"] = p.total;
  doc["unit"] = p.unit;
  doc["counters"] = counters;
  write_stdout(doc.dump(-1, ' ', false, JsonValue::error_handler_t::replace) + "\n");
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

namespace {

/// `vol:POOL/NAME` -> pool and volume; nullopt when `text` has no vol: prefix.
/// Split at the first '/' only: vSphere volume names are paths in a
/// datastore (`vol:LocalDS_0/vols/d2` is volume `vols/d2` of LocalDS_0).
std::optional<DiskSpec> parse_volume_ref(const std::string& text, const char* option) {
  constexpr std::string_view kPrefix = "vol:";
  if (text.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  const std::string rest = text.substr(kPrefix.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
    throw Error(ErrorCode::InvalidArgument,
                std::string("bad ") + option + ": " + squote(text) + " is not vol:POOL/NAME");
  }
  DiskSpec d;
  d.pool = rest.substr(0, slash);
  d.volume = rest.substr(slash + 1);
  return d;
}

}  // namespace

/// --disk: `SIZE[:FORMAT][@POOL]`, `vol:POOL/NAME`, else a path. A word whose
/// size part starts with a digit and has no '/' is taken for a mistyped size
/// ("10Q") rather than a relative file name, and reported as such.
DiskSpec parse_disk(const std::string& text) {
  if (auto vol = parse_volume_ref(text, "--disk")) return *vol;
  DiskSpec d;
  std::string size_part = text;
  if (text.find('/') == std::string::npos) {
    if (const auto at = size_part.rfind('@'); at != std::string::npos) {
      d.pool = size_part.substr(at + 1);
      size_part.erase(at);
    }
    if (const auto colon = size_part.find(':'); colon != std::string::npos) {
      d.format = size_part.substr(colon + 1);
      size_part.erase(colon);
    }
  }
  try {
    d.size_bytes = parse_size(size_part);
    if (d.size_bytes == 0) {
      throw Error(ErrorCode::InvalidArgument, "disk size must be more than 0: " + squote(text));
    }
    if (text.find('@') != std::string::npos && d.pool.empty()) {
      throw Error(ErrorCode::InvalidArgument, "no pool after '@' in " + squote(text));
    }
    if (text.find(':') != std::string::npos && d.format.empty()) {
      throw Error(ErrorCode::InvalidArgument, "no format after ':' in " + squote(text));
    }
    return d;
  } catch (const Error& e) {
    const bool looks_like_size =
        !size_part.empty() &&
        ((size_part[0] >= '0' && size_part[0] <= '9') || size_part[0] == '-' ||
         size_part[0] == '+' || size_part[0] == '.') &&
        text.find('/') == std::string::npos;
    if (looks_like_size || text.empty()) {
      throw Error(ErrorCode::InvalidArgument, std::string("bad --disk: ") + e.what());
    }
  }
  DiskSpec path;
  path.path = text;
  return path;
}

DiskSpec parse_iso(const std::string& text) {
  if (text.empty()) throw Error(ErrorCode::InvalidArgument, "bad --iso: empty");
  DiskSpec d;
  if (auto vol = parse_volume_ref(text, "--iso"))
    d = *vol;
  else
    d.path = text;
  d.device = "cdrom";
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

// --------------------------------------------------------- cancellation --

namespace {

// The token the signal handler cancels, set while a cancellable call runs.
// A signal handler may only touch lock-free atomics: CancelToken::cancel()
// is one store to a std::atomic<bool>, and the pointer is an atomic too.
std::atomic<CancelToken*> g_cancel{nullptr};
static_assert(std::atomic<CancelToken*>::is_always_lock_free);
static_assert(std::atomic<bool>::is_always_lock_free);

constexpr int kCancelSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_cancel_signal(int sig) {
  CancelToken* token = g_cancel.load();
  if (token == nullptr || token->cancelled()) {
    // The second signal (or one nobody waits for): die of it at once. A
    // password prompt may be waiting with echo off (a re-login during a
    // transfer): the terminal gets its echo back first. The prompt's own
    // handler is not installed over ours; restore_prompt_terminal() is
    // async-signal-safe (an atomic load, tcsetattr, write).
    restore_prompt_terminal();
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    ::raise(sig);
    return;
  }
  token->cancel();
  abandon_prompt();  // a password asked for now would only be thrown away
}

}  // namespace

SigintCancels::SigintCancels(CancelToken& token) {
  g_cancel.store(&token);
  struct sigaction sa {};
  sa.sa_handler = on_cancel_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: let a blocking wait see EINTR
  for (std::size_t i = 0; i < std::size(kCancelSignals); ++i)
    sigaction(kCancelSignals[i], &sa, &old_[i]);
}
SigintCancels::~SigintCancels() {
  for (std::size_t i = 0; i < std::size(kCancelSignals); ++i)
    sigaction(kCancelSignals[i], &old_[i], nullptr);
  g_cancel.store(nullptr);
}

ProgressLine::ProgressLine(std::string label)
    : label_(std::move(label)), tty_(isatty(STDERR_FILENO)) {}

ProgressLine::~ProgressLine() {
  clear();
  if (g_progress == this) g_progress = nullptr;
}

void ProgressLine::clear() {
  if (tty_ && shown_) raw_stderr("\r\033[K");
  shown_ = false;
}

void ProgressLine::update(const Progress& p) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && p.done != p.total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  std::string line = "\r";
  if (p.unit == "bytes" && p.total) {
    constexpr int kWidth = 30;
    const double ratio = static_cast<double>(p.done) / static_cast<double>(p.total);
    const int filled = static_cast<int>(ratio * kWidth);
    line += label_ + " [" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(kWidth - filled), '-') + "] " +
            std::to_string(static_cast<int>(ratio * 100)) + "% " + format_size(p.done) + " / " +
            format_size(p.total);
  } else {
    static constexpr const char* kFrames[] = {"|", "/", "-", "\\"};
    line += std::string(kFrames[frame_++ % 4]) + " " + label_;
    if (p.unit == "ms" && p.total) {
      line += " (" + std::to_string(p.done / 1000) + "/" + std::to_string(p.total / 1000) + " s)";
    }
  }
  raw_stderr(line + "\033[K");
  shown_ = true;
  g_progress = this;
}

}  // namespace hyperctl::cli
