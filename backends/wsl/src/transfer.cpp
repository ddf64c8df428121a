// Streams between wsl.exe and local files: export (download), import
// (upload), and unregistering.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "connection.hpp"
#include "hyperctl/escape.hpp"

namespace hyperctl::wsl {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void io_failure(const std::string& op, const std::string& what, int err) {
  throw Error(ErrorCode::BackendFailure, op + ": " + what + ": " + std::strerror(err), op);
}

/// A temporary file beside the target, removed unless committed.
class PartialFile {
 public:
  PartialFile(const fs::path& target, const std::string& op) : op_(op) {
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string tmpl = (dir / ("." + target.filename().string() + ".partial-XXXXXX")).string();
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0)
      io_failure(op, "cannot create a temporary file in " + wsl::quoted(dir.string()), errno);
    path_ = tmpl;
  }
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  void write(std::string_view chunk) {
    while (!chunk.empty()) {
      const ssize_t n = ::write(fd_, chunk.data(), chunk.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        io_failure(op_, "cannot write " + wsl::quoted(path_), errno);
      }
      chunk.remove_prefix(static_cast<std::size_t>(n));
      written_ += static_cast<std::uint64_t>(n);
    }
  }

  /// fsync, rename over the target, fsync the folder.
  void commit(const fs::path& target) {
    if (::fsync(fd_) != 0) io_failure(op_, "cannot sync " + wsl::quoted(path_), errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) io_failure(op_, "cannot close " + wsl::quoted(path_), errno);
    if (::rename(path_.c_str(), target.c_str()) != 0)
      io_failure(op_, "cannot rename the download to " + wsl::quoted(target.string()), errno);
    committed_ = true;
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

  std::uint64_t written() const { return written_; }

 private:
  std::string op_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
  std::uint64_t written_ = 0;
};

}  // namespace

std::uint64_t WslConnection::export_to_file(const std::string& name, const std::string& local_path,
                                            const std::string& format, bool overwrite,
                                            const ProgressFn& progress, const CancelToken& cancel,
                                            const std::string& op) {
  std::string fmt = format;
  if (fmt.empty()) {
    const auto f = archive_format(local_path);
    if (!f)
      throw Error(ErrorCode::InvalidArgument,
                  op + ": cannot tell the export format from " + wsl::quoted(local_path) +
                      ": name it .tar, .tar.gz (.tgz), .tar.xz or .vhd/.vhdx",
                  op);
    fmt = *f;
  }
  if (!find_name(name))
    throw Error(ErrorCode::NotFound,
                op + ": no WSL distribution " + wsl::quoted(name) + " on " +
                    escape::terminal_text(uri_.raw),
                op);
  const fs::path target(local_path);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec)) && !overwrite)
    throw Error(
        ErrorCode::AlreadyExists,
        op + ": " + wsl::quoted(local_path) + " exists; choose another file or overwrite it", op);
  if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, op + ": cancelled", op);

  PartialFile partial(target, op);
  process::Command c;
  c.argv = {"--export", name, "-", "--format", fmt};
  c.stdout_sink = [&partial](std::string_view chunk) { partial.write(chunk); };
  c.cancel = cancel;
  if (progress)
    c.progress = [&progress](const Progress& p) {
      if (p.phase != "stdout") return;
      Progress out;
      out.phase = "export";
      out.done = p.done;
      out.unit = "bytes";
      progress(out);
    };
  exe_.run_raw(std::move(c), op, name);
  partial.commit(target);
  return partial.written();
}

VmInfo WslConnection::import_from_file(const std::string& name, const std::string& local_path,
                                       std::optional<int> version, const ProgressFn& progress,
                                       const CancelToken& cancel, const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, op + ": no distribution name", op);
  std::error_code ec;
  if (!fs::is_regular_file(local_path, ec))
    throw Error(ErrorCode::InvalidArgument, op + ": no file " + wsl::quoted(local_path), op);
  const auto fmt = archive_format(local_path);
  if (!fmt)
    throw Error(ErrorCode::InvalidArgument,
                op + ": " + wsl::quoted(local_path) +
                    " is not an archive wsl.exe imports (.tar, .tar.gz, .tgz, .tar.xz, .vhd, "
                    ".vhdx)",
                op);
  if (version && *version != 1 && *version != 2)
    throw Error(ErrorCode::InvalidArgument, op + ": WSL version must be 1 or 2", op);
  const std::string folder = install_folder(name, op);
  if (find_name(name))
    throw Error(ErrorCode::AlreadyExists,
                op + ": a WSL distribution named " + wsl::quoted(name) +
                    " exists already; delete it first (hyperctl delete --force)",
                op);
  if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, op + ": cancelled", op);

  process::Command c;
  c.argv = {"--import", name, folder, "-"};
  if (version) c.argv.insert(c.argv.end(), {"--version", std::to_string(*version)});
  if (*fmt == "vhd") c.argv.push_back("--vhd");
  c.stdin_file = local_path;
  c.cancel = cancel;
  if (progress)
    c.progress = [&progress](const Progress& p) {
      if (p.phase != "stdin") return;
      Progress out;
      out.phase = "import";
      out.done = p.done;
      out.total = p.total;
      out.unit = "bytes";
      progress(out);
    };
  try {
    exe_.run_raw(std::move(c), op, name);
  } catch (const Error& e) {
    // Nothing half-imported may stay registered under the name; but a name
    // wsl.exe found taken (someone else's import won a race) is not ours.
    if (e.code() != ErrorCode::AlreadyExists) {
      try {
        if (find_name(name)) unregister(name, op);
      } catch (const Error&) {
      }
    }
    throw;
  }
  const auto d = find_name(name);
  if (!d)
    throw Error(ErrorCode::BackendFailure,
                op + ": wsl.exe imported " + wsl::quoted(name) + " but does not list it", op);
  return describe(*d);
}

void WslConnection::unregister(const std::string& name, const std::string& op) {
  try {
    exe_.run({"--unregister", name, "--force"}, op, name);
  } catch (const Error& e) {
    // An inbox wsl.exe has no --force, and no prompt to skip either.
    if (e.code() != ErrorCode::Unsupported) throw;
    exe_.run({"--unregister", name}, op, name);
  }
}

}  // namespace hyperctl::wsl
