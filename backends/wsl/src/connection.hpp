// A connection of the WSL backend: the wsl.exe it drives, where imported
// distributions go, and the look-ups and transfers every operation group
// (and the offline migration, migration.cpp) shares.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/uri.hpp"
#include "wsl_exe.hpp"

namespace hyperctl::wsl {

inline constexpr const char* kBackendName = "wsl";

/// One distribution as `wsl --list --verbose` and the registry see it.
struct Distro {
  ListedDistro listed;
  std::optional<RegistryDistro> registry;  ///< when reg.exe could be read

  const std::string& name() const { return listed.name; }
  /// The registry GUID ("{...}") where known, else the name.
  std::string id() const;
  /// The folder holding its disk; "" when the registry could not be read.
  std::string base_path() const;
};

/// Disk formats wsl.exe exports and imports.
/// "tar", "tar.gz", "tar.xz" or "vhd" from a file name's extension
/// (.tar, .tar.gz/.tgz, .tar.xz, .vhd/.vhdx); nullopt for anything else.
std::optional<std::string> archive_format(const std::string& path);

/// `folder` + separator + `leaf`: "\" when the folder looks like a Windows
/// path (a drive letter or a backslash), else "/".
std::string join_path(const std::string& folder, const std::string& leaf);

/// A registry GUID for comparison: braces dropped, lower-case.
std::string guid_key(std::string text);

/// 'name' for messages: quoted, through escape::terminal_text.
std::string quoted(const std::string& name);

class WslVmOps;
class WslStorageOps;
class WslHostOps;
class WslMigrationOps;

class WslConnection final : public Connection {
 public:
  /// `location`: the folder (as wsl.exe sees it) under which imported
  /// distributions get LOCATION/<name>; "" when not configured.
  /// `host_name`: the local host name, or the ssh host.
  WslConnection(Uri uri, WslExe exe, std::string location, std::string host_name);
  ~WslConnection() override;

  const Uri& uri() const override { return uri_; }
  VmOps& vms() override;
  StorageOps& storage() override;
  HostOps& host() override;
  MigrationOps& migration() override;

  WslExe& exe() { return exe_; }
  const WslExe& exe() const { return exe_; }
  const std::string& location() const { return location_; }
  const std::string& host_name() const { return host_name_; }
  bool remote() const { return exe_.runner().remote(); }

  // ---- look-ups (each runs wsl --list --verbose and reg.exe once)
  std::vector<Distro> distros() const;
  /// By id first (GUID, any case, with or without braces), then by exact
  /// name, then by a name differing only in ASCII case (wsl.exe's rule).
  /// Throws Error(NotFound) naming the reference and the URI.
  Distro find(const VmRef& ref, const std::string& op) const;
  /// By name: an exact match, else one that differs only in ASCII case (as
  /// wsl.exe compares names); nullopt when absent.
  std::optional<Distro> find_name(const std::string& name) const;
  VmInfo describe(const Distro& d) const;

  /// LOCATION/<name> for an import. Throws Error(InvalidArgument) saying to
  /// add ?location= when the connection has none, or when the name holds a
  /// path separator or is "." / "..". A local POSIX location
  /// folder is created when missing (wsl.exe makes only the last level).
  std::string install_folder(const std::string& name, const std::string& op) const;

  // ---- transfers, streamed through the runner (work over ssh too)

  /// `wsl --export NAME - --format F` into `local_path`: written to a
  /// temporary file beside it (".<file>.partial-XXXXXX"), synced, renamed
  /// only once wsl.exe exited 0; any failure, cancel or kill removes the
  /// temporary file. An existing `local_path` is Error(Conflict) unless
  /// `overwrite`. `format` empty: from the file's extension (InvalidArgument
  /// when it has none we know). Progress: phase "export", bytes written.
  /// Returns the bytes written.
  std::uint64_t export_to_file(const std::string& name, const std::string& local_path,
                               const std::string& format, bool overwrite,
                               const ProgressFn& progress, const CancelToken& cancel,
                               const std::string& op);

  /// `wsl --import NAME LOCATION/NAME - [--version N] [--vhd]` with the
  /// local archive streamed through standard input (a .vhd/.vhdx file is
  /// imported with --vhd). NAME taken: Error(AlreadyExists). A failed or
  /// cancelled import that left NAME registered unregisters it again.
  /// Progress: phase "import", bytes sent.
  VmInfo import_from_file(const std::string& name, const std::string& local_path,
                          std::optional<int> version, const ProgressFn& progress,
                          const CancelToken& cancel, const std::string& op);

  /// `wsl --unregister NAME --force` (without --force on an inbox wsl.exe,
  /// which never prompts). Destroys the distribution's disk.
  void unregister(const std::string& name, const std::string& op);

 private:
  Uri uri_;
  WslExe exe_;
  std::string location_;
  std::string host_name_;
  std::unique_ptr<WslVmOps> vms_;
  std::unique_ptr<WslStorageOps> storage_;
  std::unique_ptr<WslHostOps> host_;
  std::unique_ptr<WslMigrationOps> migration_;
};

/// The WslConnection behind `connection`; nullptr for another backend's.
WslConnection* wsl_connection_of(Connection& connection);

/// Runs `f`, turning any foreign exception into an Error so that nothing
/// untranslated leaves the plugin.
template <class F>
decltype(auto) guarded(const std::string& op, F&& f) {
  return guard_foreign("the wsl backend", op, std::forward<F>(f));
}

}  // namespace hyperctl::wsl
