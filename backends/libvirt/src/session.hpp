// What every operation group of one connection shares: the libvirt
// connection, the URI it was opened with, and common look-ups.
#pragma once

#include <chrono>
#include <string>

#include "handles.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/types.hpp"
#include "hyperctl/uri.hpp"

namespace hyperctl::lv {

inline constexpr const char* kBackendName = "libvirt";

struct Session {
  ConnPtr conn;
  Uri uri;
  std::string driver;  ///< virConnectGetType: "QEMU", "TEST", "LXC", "Xen"...

  virConnectPtr get() const { return conn.get(); }
  bool is_test_driver() const { return driver == "TEST"; }
  /// True when the hypervisor runs on this machine (no host in the URI), so
  /// local files and /dev/kvm are the hypervisor's own.
  bool is_local() const { return uri.host.empty(); }

  /// The domain named by `ref`: by UUID first, then by name. Throws
  /// Error(NotFound) "VM 'x' not found on <uri>".
  DomPtr find_domain(const VmRef& ref, const std::string& operation) const;
};

/// 'name' for messages: quoted, made safe by escape::terminal_text.
std::string quoted(const std::string& name);
/// "5 s", "1.5 s", "250 ms".
std::string human_duration(std::chrono::milliseconds d);

/// Runs `f`, turning any foreign exception into an Error so that nothing
/// untranslated leaves the plugin.
template <class F>
decltype(auto) guarded(const std::string& operation, F&& f) {
  return guard_foreign("the libvirt backend", operation, std::forward<F>(f));
}

}  // namespace hyperctl::lv
