// The one way the Hyper-V backend runs PowerShell (see ../PROTOCOL.md): a
// fixed bootstrap as -EncodedCommand, the operation's fixed script and its
// data as one base64 document on standard input, one framed result back.
// User values are never part of any script text.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/process.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::hyperv {

/// The text of scripts/<op>.ps1 (embedded at build time); "bootstrap" for
/// the bootstrap. Throws Error(Internal) for an unknown name.
const std::string& script_text(const std::string& op);
/// Every embedded script name (bootstrap and each op).
std::vector<std::string> script_names();

std::string base64_encode(std::string_view bytes);
/// Throws Error(BackendFailure) on characters outside the alphabet.
std::string base64_decode(std::string_view text);
/// base64 of the UTF-16LE form of UTF-8 `script` (PowerShell's
/// -EncodedCommand). Throws Error(InvalidArgument) on invalid UTF-8.
std::string encoded_command(std::string_view script);

/// The standard-input line for `op`: base64 of {"op","script","data"}.
std::string request_line(const std::string& op, const nlohmann::json& data);

/// Reads a finished run: the framed document when there is one (then
/// {"ok":true,"result":…} returns result, {"ok":false,"error":…} throws the
/// mapped Error with the PowerShell message in detail()); without a frame,
/// the exit status and standard error (CLIXML error lines decoded) become
/// Error(BackendFailure). `subject` names the VM/object in messages.
nlohmann::json parse_response(const process::Result& result, const std::string& op,
                              const std::string& subject);

/// PowerShell's answer → ErrorCode (errors.cpp, one table): by category
/// (ObjectNotFound → NotFound, ResourceExists → AlreadyExists,
/// InvalidArgument → InvalidArgument, InvalidOperation/ResourceUnavailable →
/// Conflict, PermissionDenied/SecurityError → AuthFailed, OperationStopped
/// → Cancelled ...), then by error id / exception type.
ErrorCode map_error(const nlohmann::json& error);

/// VMState as a number (either numbering in the reference: Microsoft's
/// VMState and WMI EnabledState) or a string ("Running", "Off", ...) →
/// VmState, one table (states.cpp). state_word gets the display word.
VmState map_state(const nlohmann::json& state, std::string& state_word);

class PowerShell {
 public:
  /// `program`: the PowerShell executable (see PROTOCOL.md).
  PowerShell(process::Runner runner, std::string program, std::chrono::milliseconds timeout);

  const process::Runner& runner() const { return runner_; }
  const std::string& program() const { return program_; }

  /// The argv every run uses: program and the fixed flags, then
  /// -EncodedCommand and the bootstrap.
  std::vector<std::string> argv() const;

  /// Runs `op` with `data`; returns the script's result. `timeout` unset:
  /// the connection's; 0: none. Cancelling kills PowerShell (locally; over
  /// ssh the session, which Windows' OpenSSH ends with its processes).
  nlohmann::json run(const std::string& op, const nlohmann::json& data,
                     const std::string& subject = {},
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                     const CancelToken& cancel = {}) const;

 private:
  process::Runner runner_;
  std::string program_;
  std::chrono::milliseconds timeout_;
};

}  // namespace hyperctl::hyperv
