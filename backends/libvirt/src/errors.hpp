// libvirt errors -> hyperctl::Error, through one table (errors.cpp).
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <string>

#include "hyperctl/error.hpp"

namespace hyperctl::lv {

/// Where an error happened: the same libvirt code can mean different things
/// while opening a connection (a system error there is an unreachable daemon).
enum class Phase { Connect, Operate };

/// libvirt's last error of this thread, copied and reset.
struct LastError {
  int code = VIR_ERR_OK;
  int domain = 0;
  std::string message;  ///< libvirt's text, may span lines
  bool present() const { return code != VIR_ERR_OK; }
  /// First line of the message, for the one-line user text.
  std::string first_line() const;
  /// Full text for Error::detail().
  std::string detail() const;
};

/// Reads (and resets) the last error, preferring the connection's own.
LastError take_last_error(virConnectPtr conn);

/// The hyperctl code for a libvirt error, from the table in errors.cpp.
ErrorCode translate(const LastError& error, Phase phase);

/// Throws the translated last error. `message` is the user's sentence
/// ("cannot start VM 'web1'"); libvirt's first line is appended after ": ".
[[noreturn]] void fail(virConnectPtr conn, const std::string& message, const std::string& operation,
                       Phase phase = Phase::Operate);
/// Same, for an error already taken.
[[noreturn]] void fail(const LastError& error, const std::string& message,
                       const std::string& operation, Phase phase = Phase::Operate);

/// True when libvirt refused a flag combination (the driver is older or
/// simpler, e.g. the test driver): the caller may retry with fewer flags.
bool unsupported_flags(const LastError& error);

/// libvirt prints every error to stderr unless told otherwise. Installs a
/// silent process-wide handler (idempotent) and initialises libvirt.
void install_quiet_handlers();
/// Silences one connection's handler too.
void quiet_connection(virConnectPtr conn);

}  // namespace hyperctl::lv
