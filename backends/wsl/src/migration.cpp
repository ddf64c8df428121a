// Offline migration of a WSL distribution; see migration.hpp.
//
// Steps, each recorded in the journal before and after it runs:
//   check              the distribution exists and is Stopped (or is
//                      terminated first with --shutdown), the target URI has
//                      ?location=, no distribution of that name on the target
//                      (but see "same machine" below), the target's wsl.exe
//                      imports VHDs (WSL 2 distributions)
//   shutdown source    only with shutdown_first and a running distribution
//   export             `--export NAME - --format vhd|tar` streamed into
//                      <journal folder>/<id>.archive.vhdx|tar.part, hashed
//                      (SHA-256) and counted on the way, renamed without
//                      .part once wsl.exe ended well (the extension tells
//                      WslConnection::import_from_file whether to pass --vhd)
//   import on target   `--import NAME <location>/NAME - --version N [--vhd]`,
//                      the archive streamed through standard input
//   verify             the target lists the distribution with the same
//                      version; it is exported again from the target and
//                      its size and SHA-256 compared with the archive's
//   remove source      only with remove_source, only after verify: the
//                      source must still export to the archive's bytes, then
//                      `--unregister NAME --force`
//   cleanup            the archive deleted; the journal removed on success
//
// Same machine (another ?location= of the same wsl.exe): the name clashes
// with the source while it is registered and MigrationOptions has no rename,
// so only remove_source makes it possible, in this order: export -> remove
// source (the archive re-read and the source exported again, both equal to
// the recorded SHA-256, before the unregister) -> import -> verify ->
// cleanup (the default flag restored). Until the import is verified the
// archive is the only complete copy: a rollback re-imports the source from it
// into its old folder (as a new registration: a new GUID, the rest of its
// registry entry such as the default user is not carried over).
#include "migration.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperctl/digest.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/journal.hpp"
#include "hyperctl/offline.hpp"
#include "wsl_exe.hpp"

namespace hyperctl::wsl {
namespace {

const std::string kOp = "migrate";
const std::string kCheckOp = "migrate.check";

const char* const kCheck = "check";
const char* const kShutdown = "shutdown source";
const char* const kExport = "export";
const char* const kImport = "import on target";
const char* const kVerify = "verify";
const char* const kRemove = "remove source";
const char* const kCleanup = "cleanup";

// ------------------------------------------------------------- helpers

void report(const ProgressFn& progress, const std::string& phase, std::uint64_t done = 0,
            std::uint64_t total = 0) {
  if (!progress) return;
  Progress p;
  p.phase = phase;
  p.done = done;
  p.total = total;
  p.unit = (done || total) ? "bytes" : "";
  progress(p);
}

std::string data_of(const JournalStep& step, const char* key) {
  return step_data(step, key);
}

// Files (the archive lives on the machine hyperctl runs on).

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::uint64_t> file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_size);
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw Error(ErrorCode::BackendFailure,
                "cannot delete " + quoted(path) + ": " + std::strerror(errno), kOp);
}

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

void fsync_folder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

/// A file written chunk by chunk; closed on scope exit (the caller deletes a
/// partial one).
class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0)
      throw Error(ErrorCode::BackendFailure,
                  "cannot create " + quoted(path_) + ": " + std::strerror(errno), kOp);
  }
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  void write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorCode::BackendFailure,
                    "cannot write " + quoted(path_) + ": " + std::strerror(errno), kOp);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  /// Flushes to disk and closes.
  void finish() {
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      throw Error(ErrorCode::BackendFailure,
                  "cannot write " + quoted(path_) + ": " + std::strerror(errno), kOp);
    }
    fd_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

struct Digest {
  std::string sha256;
  std::uint64_t bytes = 0;
};

Digest hash_file(const std::string& path, const ProgressFn& progress, const std::string& phase,
                 const CancelToken& cancel) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error(ErrorCode::NotFound,
                "cannot read the archive " + quoted(path) + ": " + std::strerror(errno), kOp);
  const std::uint64_t total = file_size(path).value_or(0);
  Sha256 sha;
  Digest d;
  std::vector<char> buf(1 << 20);
  for (;;) {
    if (cancel.cancelled()) {
      ::close(fd);
      throw Error(ErrorCode::Cancelled, "reading the archive cancelled", kOp);
    }
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorCode::BackendFailure,
                  "cannot read the archive " + quoted(path) + ": " + std::strerror(err), kOp);
    }
    if (n == 0) break;
    sha.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    d.bytes += static_cast<std::uint64_t>(n);
    report(progress, phase, d.bytes, std::max(total, d.bytes));
  }
  ::close(fd);
  d.sha256 = sha.hex();
  return d;
}

// wsl.exe through the backend's layer.

std::string lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

/// The registry GUID of `d`, "" when the registry could not be read.
std::string guid_of(const Distro& d) {
  return d.registry ? guid_key(d.registry->guid) : std::string();
}

/// `wsl.exe --export NAME - --format F` into `sink`; returns size and SHA-256.
Digest export_to(const WslConnection& c, const std::string& name, const std::string& format,
                 const std::function<void(std::string_view)>& sink, const ProgressFn& progress,
                 const std::string& phase, std::uint64_t expected, const CancelToken& cancel) {
  Sha256 sha;
  Digest d;
  process::Command cmd;
  cmd.argv = {"--export", name, "-", "--format", format};
  cmd.stdout_sink = [&](std::string_view chunk) {
    sha.update(chunk);
    d.bytes += chunk.size();
    if (sink) sink(chunk);
  };
  cmd.cancel = cancel;
  cmd.progress = [&](const Progress& p) {
    if (p.phase == "stdout") report(progress, phase, p.done, std::max(expected, p.done));
  };
  report(progress, phase, 0, expected);
  c.exe().run_raw(std::move(cmd), kOp, name);
  report(progress, phase, d.bytes, std::max(expected, d.bytes));
  d.sha256 = sha.hex();
  return d;
}

/// Paths compared the way Windows does when they look like Windows paths.
bool same_path(const std::string& a, const std::string& b) {
  auto norm = [](std::string p) {
    const bool windows = p.find('\\') != std::string::npos || (p.size() > 1 && p[1] == ':');
    std::replace(p.begin(), p.end(), '\\', '/');
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return windows ? lower(p) : p;
  };
  return norm(a) == norm(b);
}

/// Both connections drive the same wsl.exe on the same machine (the same
/// ssh endpoint, or both local, and the same program).
bool same_machine(const WslConnection& a, const WslConnection& b) {
  const auto& sa = a.exe().runner().ssh();
  const auto& sb = b.exe().runner().ssh();
  if (sa.has_value() != sb.has_value()) return false;
  if (sa && (lower(sa->host) != lower(sb->host) || sa->user != sb->user || sa->port != sb->port))
    return false;
  return a.exe().program() == b.exe().program();
}

WslConnection& wsl_target(Connection& target, const std::string& op) {
  WslConnection* t = wsl_connection_of(target);
  if (!t)
    throw Error(ErrorCode::Unsupported,
                "a WSL distribution migrates only to another WSL connection; the target " +
                    escape::terminal_text(target.uri().raw) + " is a " + target.backend_name() +
                    " connection",
                op);
  return *t;
}

std::string format_for(int version) {
  return version == 1 ? "tar" : "vhd";
}

/// The target's WSL version from `wsl.exe --version`; nullopt, with `why`,
/// when it refuses (an inbox wsl.exe has no --version and no --import --vhd).
std::optional<std::string> wsl_version(const WslConnection& c, std::string& why,
                                       const std::string& op) {
  try {
    const VersionInfo v = parse_version(c.exe().run({"--version"}, op));
    if (!v.wsl_version.empty()) return v.wsl_version;
    why = "wsl.exe --version printed no version";
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported && e.code() != ErrorCode::InvalidArgument &&
        e.code() != ErrorCode::BackendFailure)
      throw;
    why = e.what();
  }
  return std::nullopt;
}

// ------------------------------------------------------------- what is there

/// What the check and the preflight both look at; nothing is changed.
struct Facts {
  Distro source;
  std::string location;     ///< target's ?location=; empty when none
  std::string target_path;  ///< <location>/<name>
  std::optional<Distro> on_target;
  bool same_machine = false;
  bool target_is_source = false;       ///< same machine, and the clash is the source itself
  bool same_folder = false;            ///< ... and the target folder is its folder
  bool clash_has_source_guid = false;  ///< another machine's clash with the source's GUID
  std::optional<std::string> target_wsl;
  std::string target_wsl_why;
  std::string target_list_error;  ///< the target's wsl.exe cannot list (too old)
};

Facts gather(WslConnection& src, WslConnection& dst, const VmRef& ref, const std::string& op) {
  Facts f{src.find(ref, op)};
  const std::string& name = f.source.name();
  f.location = dst.location();
  if (!f.location.empty()) f.target_path = dst.install_folder(name, op);
  f.same_machine = same_machine(src, dst);
  f.target_wsl = wsl_version(dst, f.target_wsl_why, op);
  try {
    // wsl.exe compares names case-insensitively ("Ubuntu" clashes with "ubuntu").
    f.on_target = dst.find_name(name);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported) throw;
    f.target_list_error = e.what();  // an old inbox wsl.exe
  }
  if (f.on_target) {
    const std::string a = guid_of(f.source), b = guid_of(*f.on_target);
    // The same wsl.exe lists the same name: the source itself, unless the
    // registry says otherwise (then it is treated as a stranger).
    if (f.same_machine) f.target_is_source = a.empty() || b.empty() || a == b;
    // Another wsl.exe path to this machine, or a cloned machine: never
    // treated as the same, but the advice must not be "unregister it".
    f.clash_has_source_guid = !f.same_machine && !a.empty() && a == b;
    f.same_folder = f.target_is_source && !f.source.base_path().empty() && !f.target_path.empty() &&
                    same_path(f.source.base_path(), f.target_path);
  }
  return f;
}

/// What to do about a distribution of the same name on another machine.
std::string clash_fix(const Facts& f) {
  if (f.clash_has_source_guid)
    return "it has the source's registry GUID: if the target is this same machine reached "
           "through another wsl.exe path, give both URIs the same ?wsl=; else unregister or "
           "rename it there";
  return "unregister or rename it there first";
}

std::string state_of(const ListedDistro& d) {
  return "distribution " + quoted(d.name) + " is " + escape::terminal_text(d.state);
}

// ------------------------------------------------------------- the steps

class Migration final : public OfflineSteps {
 public:
  Migration(WslConnection& source, WslConnection& target) : src_(source), dst_(target) {}

  std::string journal_kind() const override { return kMigrationJournalKind; }
  std::string journal_what() const override { return "a WSL offline migration"; }
  void check(OfflineRun& run, const VmRef& vm) override;
  bool still_done(OfflineRun& run, std::size_t index) override;
  StepKind kind_of(OfflineRun& run, std::size_t index) override;
  void precheck_step(OfflineRun& run, std::size_t index) override;
  void run_step(OfflineRun& run, std::size_t index) override;
  void check_rollback(OfflineRun& run) override;
  void undo_step(OfflineRun& run, std::size_t index) override;
  VmInfo result(OfflineRun& run) override;

 private:
  WslConnection& src_;
  WslConnection& dst_;

  static std::string name(const OfflineRun& r) { return r.checked("name"); }
  static int version(const OfflineRun& r) { return r.checked("version") == "1" ? 1 : 2; }
  static std::string format(const OfflineRun& r) { return r.checked("format"); }
  static std::string archive(const OfflineRun& r) { return r.checked("archive"); }
  static bool swap(const OfflineRun& r) { return r.checked_or_empty("swap") == "yes"; }
  static Digest recorded_export(const OfflineRun& r) {
    const auto& s = r.step(kExport);
    Digest d;
    d.sha256 = data_of(s, "sha256");
    const std::string b = data_of(s, "bytes");
    if (d.sha256.empty() || b.empty())
      throw Error(ErrorCode::InvalidArgument,
                  "journal " + r.journal().id() + " is damaged: its export step has no checksum",
                  kOp);
    d.bytes = std::stoull(b);
    return d;
  }
  static std::string who(const OfflineRun& r) { return "distribution " + quoted(name(r)); }
  const std::string& src_uri() const { return src_.uri().raw; }
  const std::string& dst_uri() const { return dst_.uri().raw; }
  /// Same machine: one name, two candidates (the source, this migration's
  /// copy); only the registry GUID tells them apart, and swap mode is only
  /// ever started with it.
  static bool is_source(const OfflineRun& r, const Distro& d);

  void shutdown(OfflineRun& run);
  void export_archive(OfflineRun& run, std::size_t i);
  void import(OfflineRun& run, std::size_t i);
  void verify(OfflineRun& run, std::size_t v);
  void remove_source(OfflineRun& run);
  void cleanup(OfflineRun& run);
  /// The source still exports to the archive's bytes (and, same machine,
  /// the archive on disk is still intact).
  void source_unchanged(OfflineRun& run);
};

void Migration::check(OfflineRun& run, const VmRef& ref) {
  Journal& j = run.journal();
  const bool shutdown_first = j.param("shutdown_first") == "yes";
  const bool remove_source = j.param("remove_source") == "yes";
  if (dst_.location().empty())
    throw Error(ErrorCode::InvalidArgument,
                "the target " + escape::terminal_text(dst_uri()) +
                    " has no folder for imported distributions; add ?location=DIR to its URI",
                kOp);
  const Facts f = gather(src_, dst_, ref, kOp);
  const ListedDistro& s = f.source.listed;
  const std::string who = "distribution " + quoted(s.name);
  const VmState state = map_state(s.state);
  bool running = false;
  if (state == VmState::Running) {
    if (!shutdown_first)
      throw Error(ErrorCode::Conflict,
                  who +
                      " is running; offline migration needs it stopped (add --shutdown to "
                      "terminate it first)",
                  kOp);
    running = true;
  } else if (state != VmState::Off) {
    throw Error(ErrorCode::Conflict, state_of(s) + "; wait until it is Stopped, then migrate it",
                kOp);
  }
  if (s.version != 1 && s.version != 2)
    throw Error(
        ErrorCode::BackendFailure,
        who + " reports WSL version " + std::to_string(s.version) + "; only 1 and 2 are known",
        kOp);
  if (!f.target_list_error.empty())
    throw Error(ErrorCode::Unsupported,
                "the target's wsl.exe cannot list its distributions (" +
                    escape::terminal_text(f.target_list_error) +
                    "); update WSL there (wsl --update)",
                kOp);
  bool swap = false;
  if (f.on_target) {
    if (!f.target_is_source)
      throw Error(ErrorCode::Conflict,
                  "a distribution named " + quoted(s.name) + " already exists on " +
                      escape::terminal_text(dst_uri()) + " (" + clash_fix(f) + ")",
                  kOp);
    if (f.same_folder)
      throw Error(ErrorCode::InvalidArgument,
                  who + " already lives in " + quoted(f.target_path) + "; nothing to move", kOp);
    if (!remove_source)
      throw Error(ErrorCode::Conflict,
                  "the target " + escape::terminal_text(dst_uri()) +
                      " is the same machine, where " + who +
                      " already exists; --remove-source moves it (the source is unregistered "
                      "only once its export is checked, and a rollback re-imports it), or move "
                      "it in place with: hyperctl set " +
                      escape::terminal_text(s.name) + " --property location=DIR",
                  kOp);
    if (f.source.base_path().empty() || guid_of(f.source).empty())
      throw Error(ErrorCode::Unsupported,
                  "moving " + who +
                      " to another folder of the same machine needs its registry entry (its "
                      "folder, for a rollback), and reg.exe could not read it; move it in place "
                      "with: hyperctl set " +
                      escape::terminal_text(s.name) + " --property location=DIR",
                  kOp);
    swap = true;
  }
  if (s.version == 2 && !f.target_wsl)
    throw Error(ErrorCode::Unsupported,
                "the target's wsl.exe cannot import a WSL 2 distribution's VHD (" +
                    escape::terminal_text(f.target_wsl_why) + "); update WSL there (wsl --update)",
                kOp);

  // The plan, in the journal, in the order the steps run.
  if (running) j.add_step(kShutdown);
  j.add_step(kExport);
  if (swap) {
    j.add_step(kRemove);
    j.add_step(kImport);
    j.add_step(kVerify);
  } else {
    j.add_step(kImport);
    j.add_step(kVerify);
    if (remove_source) j.add_step(kRemove);
  }
  j.add_step(kCleanup);
  // The extension tells import_from_file what it holds (--vhd or not).
  const std::string format = format_for(s.version);
  const std::string archive =
      Journal::folder() + "/" + j.id() + ".archive." + (format == "vhd" ? "vhdx" : "tar");
  j.set_step(*j.find_step(kCheck), StepState::Done,
             {{"name", s.name},
              {"version", std::to_string(s.version)},
              {"format", format},
              {"guid", f.source.registry ? f.source.registry->guid : ""},
              {"base_path", f.source.base_path()},
              {"default", s.is_default ? "yes" : "no"},
              {"target_path", f.target_path},
              {"archive", archive},
              {"swap", swap ? "yes" : "no"}});
}

void Migration::shutdown(OfflineRun& run) {
  run.report("shutdown");
  src_.exe().run({"--terminate", name(run)}, kOp, name(run));
}

bool Migration::still_done(OfflineRun& run, std::size_t index) {
  const JournalStep& s = run.journal().steps()[index];
  if (s.name == kExport) return file_exists(archive(run));
  if (s.name == kImport) {
    const auto there = dst_.find_name(name(run));
    const std::string mine = guid_key(data_of(s, "guid"));
    return there && (mine.empty() || guid_of(*there).empty() || guid_of(*there) == mine);
  }
  return true;
}

StepKind Migration::kind_of(OfflineRun& run, std::size_t index) {
  // Same machine: the archive outlives the unregistering, and a rollback
  // imports the source again from it.
  if (run.journal().steps()[index].name == kRemove)
    return swap(run) ? StepKind::RemovesSourceUndoable : StepKind::RemovesSource;
  return StepKind::Ordinary;
}

void Migration::precheck_step(OfflineRun& run, std::size_t index) {
  const std::string step = run.journal().steps()[index].name;
  if (step == kExport) {
    // From scratch: the partial (or unrecorded) archive of an earlier attempt goes.
    remove_file(archive(run) + ".part");
    remove_file(archive(run));
    const auto now = src_.find_name(name(run));
    if (!now)
      throw Error(ErrorCode::NotFound,
                  who(run) + " is no longer on " + escape::terminal_text(src_uri()), kOp);
    if (map_state(now->listed.state) != VmState::Off)
      throw Error(ErrorCode::Conflict,
                  state_of(now->listed) + " on " + escape::terminal_text(src_uri()) +
                      "; it can be exported only while Stopped (terminate it, then resume)",
                  kOp);
  } else if (step == kRemove) {
    if (const auto there = src_.find_name(name(run))) {
      const std::string guid = guid_key(run.checked_or_empty("guid"));
      if (!guid.empty() && !guid_of(*there).empty() && guid_of(*there) != guid)
        throw Error(ErrorCode::Conflict,
                    "the distribution named " + quoted(name(run)) + " on " +
                        escape::terminal_text(src_uri()) +
                        " is no longer the one migrated (its GUID changed); it was not removed",
                    kOp);
      if (map_state(there->listed.state) != VmState::Off)
        throw Error(ErrorCode::Conflict,
                    state_of(there->listed) + " on " + escape::terminal_text(src_uri()) +
                        " (started during the migration?); it was not removed",
                    kOp);
      source_unchanged(run);
      run.check_cancel("the migration");
    }
  }
}

void Migration::export_archive(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const std::string final_path = archive(run);
  const std::string part = final_path + ".part";
  j.set_step(i, StepState::Running, {{"sha256", ""}, {"bytes", ""}});
  Digest d;
  {
    OutFile out(part);
    try {
      d = export_to(
          src_, name(run), format(run), [&](std::string_view chunk) { out.write(chunk); },
          run.progress(), "export", 0, run.cancel());
      out.finish();
    } catch (...) {
      ::unlink(part.c_str());
      throw;
    }
  }
  if (::rename(part.c_str(), final_path.c_str()) != 0)
    throw Error(ErrorCode::BackendFailure,
                "cannot rename " + quoted(part) + ": " + std::strerror(errno), kOp);
  fsync_folder(folder_of(final_path));
  j.set_step(i, StepState::Done, {{"sha256", d.sha256}, {"bytes", std::to_string(d.bytes)}});
}

void Migration::import(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const JournalStep step = j.steps()[i];
  const auto there = dst_.find_name(name(run));
  const std::string mine = guid_key(data_of(step, "guid"));
  if (there) {
    // Ours from an interrupted or unverified attempt: imported again.
    if (data_of(step, "imported") != "yes")
      throw Error(ErrorCode::Conflict,
                  "a distribution named " + quoted(name(run)) + " appeared on " +
                      escape::terminal_text(dst_uri()) +
                      " and was not imported by this migration; unregister it there first",
                  kOp);
    const std::string source_guid = guid_key(run.checked_or_empty("guid"));
    if (swap(run) && !source_guid.empty() && guid_of(*there) == source_guid)
      throw Error(ErrorCode::Conflict,
                  who(run) + " is registered again on the source; roll back and start over", kOp);
    if (!mine.empty() && !guid_of(*there).empty() && guid_of(*there) != mine)
      throw Error(ErrorCode::Conflict,
                  "the distribution named " + quoted(name(run)) + " on " +
                      escape::terminal_text(dst_uri()) +
                      " is not the one this migration imported; unregister it there first",
                  kOp);
    run.report("import");
    dst_.unregister(name(run), kOp);
  }
  // Recorded before it runs: a process killed during the import still has
  // the rollback look for what it left.
  j.set_step(i, StepState::Running, {{"imported", "yes"}, {"guid", ""}});
  dst_.import_from_file(name(run), archive(run), version(run), run.progress(), run.cancel(), kOp);
  const auto now = dst_.find_name(name(run));
  if (!now)
    throw Error(ErrorCode::BackendFailure,
                "wsl.exe reported the import of " + who(run) + " done, but " +
                    escape::terminal_text(dst_uri()) + " does not list it",
                kOp);
  j.set_step(i, StepState::Done, {{"guid", now->registry ? now->registry->guid : ""}});
}

void Migration::verify(OfflineRun& run, std::size_t v) {
  Journal& j = run.journal();
  const Digest want = recorded_export(run);
  const auto imp = *j.find_step(kImport);
  auto mismatch = [&](const std::string& what) {
    j.set_step(v, StepState::Failed);
    j.set_step(imp, StepState::Failed);  // a resume imports it again
    throw Error(ErrorCode::BackendFailure,
                "the copy of " + who(run) + " on " + escape::terminal_text(dst_uri()) +
                    " differs from the source (" + what + "); the source was left alone",
                kOp);
  };
  const auto there = dst_.find_name(name(run));
  if (!there)
    throw Error(ErrorCode::NotFound,
                who(run) + " vanished from " + escape::terminal_text(dst_uri()), kOp);
  if (there->listed.version != version(run))
    mismatch("WSL version " + std::to_string(there->listed.version) + " instead of " +
             std::to_string(version(run)));
  // An unmodified distribution exports to the same bytes: on real WSL a VHD
  // export copies ext4.vhdx, and `--import --vhd` stored the archive's VHDX
  // as it was, so a never-started import exports byte for byte what was
  // imported. (A WSL 1 tar is rebuilt from the file tree; the stand-in keeps
  // it identical, real WSL 1 may order or stamp it differently: then this
  // reports a mismatch and leaves both sides for the operator.)
  const Digest got = export_to(dst_, name(run), format(run), {}, run.progress(), "verify",
                               want.bytes, run.cancel());
  if (got.bytes != want.bytes)
    mismatch(std::to_string(got.bytes) + " bytes instead of " + std::to_string(want.bytes));
  if (got.sha256 != want.sha256) mismatch("SHA-256 " + got.sha256 + " instead of " + want.sha256);
  j.set_step(v, StepState::Done, {{"sha256", got.sha256}, {"bytes", std::to_string(got.bytes)}});
}

void Migration::source_unchanged(OfflineRun& run) {
  const Digest want = recorded_export(run);
  if (swap(run)) {
    // The archive is about to become the only complete copy.
    const Digest file = hash_file(archive(run), run.progress(), "verify", run.cancel());
    if (file.bytes != want.bytes || file.sha256 != want.sha256)
      throw Error(ErrorCode::BackendFailure,
                  "the archive " + quoted(archive(run)) +
                      " no longer matches its recorded SHA-256; the source was left alone "
                      "(roll back and start again)",
                  kOp);
  }
  const Digest now = export_to(src_, name(run), format(run), {}, run.progress(), "verify",
                               want.bytes, run.cancel());
  if (now.bytes != want.bytes || now.sha256 != want.sha256)
    throw Error(ErrorCode::Conflict,
                who(run) + " on " + escape::terminal_text(src_uri()) +
                    " changed since it was exported (was it started?); it was not removed "
                    "(roll back and start again)",
                kOp);
}

void Migration::remove_source(OfflineRun& run) {
  if (src_.find_name(name(run))) {
    run.report("remove source");
    src_.unregister(name(run), kOp);
  } else if (run.prior_state() == StepState::Pending) {
    run.report("warning: " + who(run) + " was already gone from " + src_uri());
  }
}

void Migration::cleanup(OfflineRun& run) {
  if (swap(run) && run.checked_or_empty("default") == "yes")
    dst_.exe().run({"--set-default", name(run)}, kOp, name(run));
  remove_file(archive(run) + ".part");
  remove_file(archive(run));
}

void Migration::run_step(OfflineRun& run, std::size_t i) {
  const std::string step = run.journal().steps()[i].name;
  if (step == kShutdown)
    shutdown(run);
  else if (step == kExport)
    export_archive(run, i);
  else if (step == kImport)
    import(run, i);
  else if (step == kVerify)
    verify(run, i);
  else if (step == kRemove)
    remove_source(run);
  else if (step == kCleanup)
    cleanup(run);
  else
    throw Error(ErrorCode::InvalidArgument,
                "journal " + run.journal().id() + " is damaged: unknown step '" + step + "'", kOp);
}

VmInfo Migration::result(OfflineRun& run) {
  return dst_.describe(dst_.find(VmRef(name(run)), kOp));
}

bool Migration::is_source(const OfflineRun& r, const Distro& d) {
  if (guid_of(d).empty())
    throw Error(ErrorCode::Conflict,
                "cannot tell whether the distribution named " + quoted(r.checked_or_empty("name")) +
                    " is the source or this migration's copy (reg.exe gave no GUID); it was "
                    "left alone",
                kOp);
  return guid_of(d) == guid_key(r.checked_or_empty("guid"));
}

void Migration::check_rollback(OfflineRun& run) {
  const Journal& j = run.journal();
  const auto rm = j.find_step(kRemove);
  if (!rm || j.steps()[*rm].state == StepState::Pending) return;
  // Same machine, source unregistered: the archive must still be there to
  // bring it back, or nothing is undone.
  const std::string name = run.checked_or_empty("name");
  const std::string archive = run.checked_or_empty("archive");
  const auto now = src_.find_name(name);
  const bool present = now && is_source(run, *now);
  if (!present && (archive.empty() || !file_exists(archive)))
    throw Error(ErrorCode::Conflict,
                "the source of migration " + j.id() +
                    " is unregistered and its archive is gone; the target holds the only "
                    "copy, so it cannot be rolled back (resume it with --resume " +
                    j.id() + ")",
                kOp);
}

void Migration::undo_step(OfflineRun& run, std::size_t i) {
  const JournalStep step = run.journal().steps()[i];
  const std::string name = run.checked_or_empty("name");
  const std::string archive = run.checked_or_empty("archive");
  if (step.name == kImport) {
    // What this migration imported on the target, if it is still there.
    const auto there = name.empty() ? std::nullopt : dst_.find_name(name);
    if (data_of(step, "imported") == "yes" && there && !(swap(run) && is_source(run, *there))) {
      const std::string mine = guid_key(data_of(step, "guid"));
      const std::string now = guid_of(*there);
      if (!mine.empty() && !now.empty() && now != mine)
        throw Error(ErrorCode::Conflict,
                    "the distribution named " + quoted(name) + " on " +
                        escape::terminal_text(dst_uri()) +
                        " is not the one this migration imported; it was left alone",
                    kOp);
      if (map_state(there->listed.state) == VmState::Running)
        throw Error(ErrorCode::Conflict,
                    "distribution " + quoted(name) + " is running on " +
                        escape::terminal_text(dst_uri()) + "; stop it there before rolling back",
                    kOp);
      dst_.unregister(name, kOp);
    }
  } else if (step.name == kRemove) {
    // Same machine: the source comes back from the archive into its folder
    // (a new registration: wsl.exe gives it a new GUID).
    const auto now = src_.find_name(name);
    if (now && !is_source(run, *now))
      throw Error(ErrorCode::Conflict,
                  "a distribution named " + quoted(name) +
                      " that is not the source is registered on " +
                      escape::terminal_text(src_uri()) + "; unregister it, then roll back again",
                  kOp);
    if (!now) {
      process::Command cmd;
      cmd.argv = {"--import", name,        run.checked_or_empty("base_path"),
                  "-",        "--version", run.checked_or_empty("version")};
      if (run.checked_or_empty("format") == "vhd") cmd.argv.push_back("--vhd");
      cmd.stdin_file = archive;
      src_.exe().run_raw(std::move(cmd), kOp, name);
      if (run.checked_or_empty("default") == "yes")
        src_.exe().run({"--set-default", name}, kOp, name);
    }
  } else if (step.name == kExport && !archive.empty()) {
    remove_file(archive + ".part");
    remove_file(archive);
  }
}

}  // namespace

// ------------------------------------------------------------- the group

WslMigrationOps::WslMigrationOps(WslConnection& c) : MigrationOps(kBackendName), c_(c) {}

PreflightReport WslMigrationOps::preflight(const VmRef& vm, Connection& target,
                                           const MigrationOptions& options) {
  return guarded(kCheckOp, [&] {
    PreflightReport rep;
    auto add = [&](const char* check, CheckLevel level, std::string message, std::string fix = {}) {
      rep.items.push_back(PreflightItem{check, level, std::move(message), std::move(fix)});
    };
    if (options.mode == MigrationMode::Live)
      add("mode", CheckLevel::Blocker, "WSL distributions move offline only", "use --offline");
    WslConnection& dst = wsl_target(target, kCheckOp);
    const Facts f = gather(c_, dst, vm, kCheckOp);
    const ListedDistro& s = f.source.listed;
    const std::string who = "distribution " + quoted(s.name);

    const VmState state = map_state(s.state);
    if (state == VmState::Off)
      add("source-state", CheckLevel::Ok, who + " is Stopped");
    else if (state == VmState::Running && options.shutdown_first)
      add("source-state", CheckLevel::Ok, who + " is Running; it will be terminated first");
    else if (state == VmState::Running)
      add("source-state", CheckLevel::Blocker,
          who + " is Running: an offline migration needs it Stopped",
          "use --shutdown (wsl --terminate), or stop it first");
    else
      add("source-state", CheckLevel::Blocker, state_of(s), "wait until it is Stopped");

    if (f.location.empty())
      add("location", CheckLevel::Blocker,
          "the target URI names no folder for imported distributions",
          "add ?location=DIR to the target URI (e.g. wsl:///?location=D:\\WSL)");
    else
      add("location", CheckLevel::Ok, "imported into " + quoted(f.target_path));

    const std::string in_place = "move it in place with: hyperctl set " +
                                 escape::terminal_text(s.name) + " --property location=DIR";
    if (!f.target_list_error.empty())
      add("name-clash", CheckLevel::Blocker,
          "the target's wsl.exe cannot list its distributions (" +
              escape::terminal_text(f.target_list_error) + ")",
          "update WSL on the target (wsl --update)");
    else if (!f.on_target)
      add("name-clash", CheckLevel::Ok,
          "no distribution named " + quoted(s.name) + " on the target");
    else if (!f.target_is_source)
      add("name-clash", CheckLevel::Blocker,
          "a distribution named " + quoted(s.name) + " already exists on the target", clash_fix(f));
    else if (f.same_folder)
      add("name-clash", CheckLevel::Blocker, who + " already lives in " + quoted(f.target_path),
          "pick another ?location=");
    else if (!options.remove_source)
      add("name-clash", CheckLevel::Blocker,
          "the target is the same machine, where " + who + " already exists",
          "--remove-source moves it: the source is unregistered only after the copy is "
          "verified (on one machine: after its export is checked, and a rollback re-imports "
          "it), or " +
              in_place);
    else if (f.source.base_path().empty() || guid_of(f.source).empty())
      add("name-clash", CheckLevel::Blocker,
          "the target is the same machine, and the registry entry of " + who +
              " (its folder, needed for a rollback) cannot be read",
          in_place);
    else
      add("name-clash", CheckLevel::Warning,
          "the target is the same machine: " + who +
              " is exported, unregistered, then imported into the new folder; until the "
              "import is verified the archive is the only copy (a rollback re-imports it)");

    if (s.version == 1 && f.target_list_error.empty())
      add("wsl-version", CheckLevel::Ok, "a WSL 1 distribution moves as a tar");
    else if (f.target_wsl)
      add("wsl-version", CheckLevel::Ok,
          "the target runs WSL " + escape::terminal_text(*f.target_wsl));
    else
      add("wsl-version", CheckLevel::Blocker,
          "the target's wsl.exe cannot import a WSL 2 distribution's VHD (" +
              escape::terminal_text(f.target_wsl_why) + ")",
          "update WSL on the target (wsl --update, or install it from the Microsoft Store)");
    return rep;
  });
}

VmInfo WslMigrationOps::migrate(const VmRef& vm, Connection& target,
                                const MigrationOptions& options, const ProgressFn& progress,
                                const CancelToken& cancel) {
  return guarded(kOp, [&]() -> VmInfo {
    if (options.mode != MigrationMode::Offline)
      throw Error(ErrorCode::Unsupported,
                  std::string("the ") + kBackendName +
                      " backend does not support migrate.live: WSL distributions move offline "
                      "only: use --offline",
                  "migrate.live");
    WslConnection& dst = wsl_target(target, kOp);
    if (!options.target_pool.empty())
      throw Error(ErrorCode::InvalidArgument,
                  "WSL has no storage pools: the target folder is the ?location= of the target "
                  "URI (drop --target-pool)",
                  kOp);
    Migration m(c_, dst);
    OfflineStart start;
    start.source_uri = c_.uri().raw;
    start.target_uri = dst.uri().raw;
    start.vm = vm;
    start.shutdown_first = options.shutdown_first;
    start.remove_source = options.remove_source;
    return run_offline_migration(m, start, progress, cancel, kOp);
  });
}

VmInfo WslMigrationOps::resume(const std::string& journal_id, Connection& target,
                               const ProgressFn& progress, const CancelToken& cancel) {
  return guarded(kOp, [&]() -> VmInfo {
    WslConnection& dst = wsl_target(target, kOp);
    Migration m(c_, dst);
    return resume_offline_migration(m, journal_id, c_.uri().raw, target.uri().raw, progress, cancel,
                                    kOp);
  });
}

void WslMigrationOps::rollback(const std::string& journal_id, Connection& target) {
  guarded(kOp, [&] {
    WslConnection& dst = wsl_target(target, kOp);
    Migration m(c_, dst);
    rollback_offline_migration(m, journal_id, c_.uri().raw, target.uri().raw, kOp);
  });
}

}  // namespace hyperctl::wsl
