// One error type for the whole project. Every backend translates its native
// failures (libvirt errors, SOAP faults, PowerShell error records, ...) into
// an Error before they leave the plugin.
#pragma once

#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hyperctl {

/// What went wrong, independent of the backend. Each code has its own CLI
/// exit status (see exit_status()).
enum class ErrorCode {
  NotFound,         ///< the VM, volume, pool, ... does not exist
  AlreadyExists,    ///< creating something whose name or id is taken
  InvalidArgument,  ///< bad input: malformed URI, size, XML, name, option
  Unsupported,      ///< the backend does not offer this operation
  AuthFailed,       ///< credentials refused or missing
  Unreachable,      ///< the host or daemon could not be reached
  Timeout,          ///< an operation did not finish within its deadline
  Conflict,         ///< the object is in the wrong state for the operation
  BackendFailure,   ///< the hypervisor failed for another reason
  Cancelled,        ///< the caller cancelled the operation
  Internal,         ///< a bug in hyperctl itself
};

/// Stable lower-case name of a code ("not-found", "conflict", ...), used in
/// JSON error documents.
std::string_view to_string(ErrorCode code);

/// The CLI exit status for an error code. 0 is success, 2 is also used for
/// usage errors reported by the argument parser.
int exit_status(ErrorCode code);

/// The project's error. what() is one line meant for the user: it never
/// contains credentials. detail() holds the backend's own message (shown by
/// --debug); it is scrubbed of credentials by the backend that fills it.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message, std::string operation = {}, std::string detail = {});

  ErrorCode code() const noexcept { return code_; }
  /// The operation that failed, e.g. "vm.start"; may be empty.
  const std::string& operation() const noexcept { return operation_; }
  /// The backend's own message, for --debug; may be empty.
  const std::string& detail() const noexcept { return detail_; }

 private:
  ErrorCode code_;
  std::string operation_;
  std::string detail_;
};

/// Runs `f` and lets only Error out: std::bad_alloc becomes Error(Internal)
/// "out of memory", any other exception Error(Internal) "unexpected failure
/// in WHERE: <what()>", all naming `operation`. The net every backend (and
/// the core's migration engine) puts around its entry points, so that nothing
/// untranslated crosses the plugin boundary; `where` is "the libvirt
/// backend", ...
template <class F>
decltype(auto) guard_foreign(std::string_view where, const std::string& operation, F&& f) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::Internal, "out of memory", operation);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Internal,
                "unexpected failure in " + std::string(where) + ": " + e.what(), operation);
  } catch (...) {
    throw Error(ErrorCode::Internal, "unexpected failure in " + std::string(where), operation);
  }
}

}  // namespace hyperctl
