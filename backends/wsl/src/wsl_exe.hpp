// The thin layer over wsl.exe: every call builds an argv (never a command
// line), runs it through the core's process runner with WSL_UTF8=1 set, and
// decodes what wsl.exe prints (UTF-16LE with or without BOM, or UTF-8, lines
// ending in \r\r\n, \r\n or \n). Failures become hyperctl::Error through the
// one table in errors.cpp, with wsl.exe's original text in Error::detail().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
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
};

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

 private:
  process::Runner runner_;
  std::string program_;
  std::chrono::milliseconds timeout_;
};

}  // namespace hyperctl::wsl
