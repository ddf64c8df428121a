// The thin layer over wsl.exe: every call builds an argv (never a command
// line), runs it through the core's process runner with WSL_UTF8=1 set, and
// decodes what wsl.exe prints (UTF-16LE with or without BOM, or UTF-8, lines
// ending in \r\r\n, \r\n or \n). Failures become hyperctl::Error through the
// one table in errors.cpp, with wsl.exe's original text in Error::detail().
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperctl/process.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::wsl {

/// Output of wsl.exe as UTF-8 text: BOM dropped; UTF-16LE recognised by its
/// BOM, or by NUL bytes in odd positions; \r\r\n and \r\n become \n.
/// Invalid sequences become U+FFFD (never an exception).
std::string decode_output(std::string_view raw);

/// One row of `wsl.exe --list --verbose`.
struct ListedDistro {
  std::string name;
  std::string state;  ///< wsl.exe's word: Running, Stopped, Installing, Converting, Uninstalling
  int version = 0;    ///< 1 or 2
  bool is_default = false;
};

/// Parses decoded `wsl --list --verbose` output: a header line whose column
/// titles (NAME, STATE, VERSION; localized titles accepted by position) give
/// the column offsets, then rows with "* " (default) or "  " in front. Rows
/// are cut at the header's offsets, so names with dots, dashes or even
/// spaces survive. Throws Error(BackendFailure) on a shape it does not know,
/// quoting the line (through escape::terminal_text).
std::vector<ListedDistro> parse_list_verbose(const std::string& text);

/// wsl.exe's state word → VmState, one table (states.cpp). Unknown words map
/// to VmState::Unknown, keeping the word for display.
VmState map_state(const std::string& word);

/// What the registry says about one distribution (HKCU\...\Lxss\{GUID}),
/// where it can be read; see WslExe::registry().
struct RegistryDistro {
  std::string guid;  ///< "{...}" as in the registry key
  std::string name;
  std::string base_path;  ///< folder holding ext4.vhdx (WSL 2) or rootfs (WSL 1)
  int version = 0;
  // ---- added: the WSL version is bit 0x8 of Flags (the registry's Version
  // is the filesystem layout, 2 for WSL 1 too); `version` comes from Flags.
  std::string vhd_file_name;  ///< VhdFileName (WSL 2; "" when absent: ext4.vhdx)
};

// ---- added for the backend (stable from here on; see README.md) ----------

/// Parses decoded `reg.exe query HKCU\...\Lxss /s` output: one entry per
/// subkey named {GUID} that has a DistributionName. Unknown lines are skipped.
/// `version` is 2 when Flags has 0x8 (LXSS_DISTRO_FLAGS_VM_MODE), else 1;
/// 0 without Flags.
std::vector<RegistryDistro> parse_registry(const std::string& text);

/// What `wsl.exe --version` says (WSL 0.64+; the inbox wsl.exe has no
/// --version). Lines are matched by their English titles, else by position
/// (localized titles): WSL version first, kernel second, Windows last.
struct VersionInfo {
  std::string wsl_version;
  std::string kernel_version;
  std::string windows_version;
};
VersionInfo parse_version(const std::string& text);

/// What `wsl.exe --status` says; empty fields when not found.
struct StatusInfo {
  std::string default_distribution;
  std::string default_version;  ///< "1" or "2"
};
StatusInfo parse_status(const std::string& text);

/// True when this process runs inside a WSL distribution (WSL_DISTRO_NAME
/// set, or /proc/sys/fs/binfmt_misc/WSLInterop present): wsl.exe is then
/// reached through interop and sees only the variables WSLENV lists.
bool inside_wsl();

/// The variables every wsl.exe run gets: WSL_UTF8=1 and, when `inside` is
/// true, WSLENV = `current_wslenv` with WSL_UTF8 appended (unless listed).
std::map<std::string, std::string> wsl_environment(
    bool inside, const std::optional<std::string>& current_wslenv);

/// Runs wsl.exe. `program` is the wsl.exe to run (URI ?wsl=, else
/// $HYPERCTL_WSL, else "wsl.exe"); the runner may be local or over ssh.
class WslExe {
 public:
  WslExe(process::Runner runner, std::string program, std::chrono::milliseconds timeout);

  const std::string& program() const { return program_; }
  const process::Runner& runner() const { return runner_; }

  /// Runs `wsl.exe args...`, decodes stdout/stderr, maps a failure to Error
  /// (operation `op`). Returns the decoded standard output.
  std::string run(const std::vector<std::string>& args, const std::string& op) const;
  /// The same with full control (stdin file, stdout sink, cancel, progress);
  /// `command.argv` holds the arguments after wsl.exe. Output is not decoded
  /// when a sink is set (binary streams: --export ... -).
  process::Result run_raw(process::Command command, const std::string& op) const;

  std::vector<ListedDistro> list() const;
  /// `reg.exe query HKCU\Software\Microsoft\Windows\CurrentVersion\Lxss /s`
  /// (program: $HYPERCTL_REG, else "reg.exe"), parsed; empty when reg.exe
  /// cannot be run (ids then fall back to names).
  std::vector<RegistryDistro> registry() const;

  // ---- added for the backend ----------------------------------------------

  /// The same as run(args, op), naming `distro` in the error message;
  /// `timeout` overrides the connection's (0: none).
  std::string run(const std::vector<std::string>& args, const std::string& op,
                  const std::string& distro,
                  std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;
  /// The same as run_raw(command, op), naming `distro` in the error message.
  /// A non-zero exit throws the mapped Error (exit status 127, the shell's
  /// "not found", is Unreachable); with a stdout sink a short standard
  /// output (up to 4 KiB, no signal) is taken as wsl.exe's message.
  process::Result run_raw(process::Command command, const std::string& op,
                          const std::string& distro) const;
  /// Starts `wsl.exe args...` detached (Runner::spawn_detached, local only)
  /// with the same environment; returns its pid.
  int spawn_detached(const std::vector<std::string>& args, const std::string& op) const;

  /// The reg.exe to run (URI ?reg=, else $HYPERCTL_REG, else "reg.exe").
  void set_reg_program(std::string program) { reg_program_ = std::move(program); }
  const std::string& reg_program() const { return reg_program_; }
  /// The deadline of ordinary calls (the connection's timeout).
  std::chrono::milliseconds timeout() const { return timeout_; }
  /// The environment each run gets (see wsl_environment()).
  const std::map<std::string, std::string>& environment() const { return env_; }

 private:
  process::Runner runner_;
  std::string program_;
  std::chrono::milliseconds timeout_;
  std::string reg_program_;
  std::map<std::string, std::string> env_;
};

}  // namespace hyperctl::wsl
