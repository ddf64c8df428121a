#include "secrets.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <mutex>
#include <set>

namespace hyperctl::secrets {

namespace {

std::mutex g_mutex;
std::set<std::string, std::less<>> g_hidden;  // guarded by g_mutex

}  // namespace

void hide_variable(const std::string& name) {
  std::lock_guard lock(g_mutex);
  g_hidden.insert(name);
}

bool hidden_variable(std::string_view name) {
  if (name == "HYPERCTL_PASSWORD" || name.rfind("HYPERCTL_PASSWORD_", 0) == 0) return true;
  std::lock_guard lock(g_mutex);
  return g_hidden.count(name) != 0;
}

void keep_out_of_core_dumps() {
  // A crash (or a gcore, or a debugger attached by another process of the
  // user) would otherwise write every password we hold to a file that
  // outlives us, often readable by whoever collects crash reports. A zero
  // core size stops the kernel's own dump file; not dumpable also stops the
  // dump piped to a handler (core_pattern "|...", which the size limit does
  // not bind) and ptrace by other processes of the same user. Only the soft
  // limit: children inherit it but may raise it again; exec makes them
  // dumpable again.
  rlimit limit{};
  if (::getrlimit(RLIMIT_CORE, &limit) == 0) {
    limit.rlim_cur = 0;
    ::setrlimit(RLIMIT_CORE, &limit);
  }
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace hyperctl::secrets
