// Host facts and the shutdown of WSL as a whole.
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ops.hpp"

namespace hyperctl::wsl {
namespace {

/// MemTotal / MemAvailable (bytes) from /proc/meminfo text.
void read_meminfo(const std::string& text, HostInfo& h) {
  std::istringstream in(text);
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemTotal:") h.memory_total_bytes = kib * 1024;
    if (key == "MemAvailable:") h.memory_free_bytes = kib * 1024;
  }
}

}  // namespace

HostInfo WslHostOps::info() {
  const std::string op = "host.info";
  return guarded(op, [&] {
    HostInfo h;
    h.hostname = c_.host_name();
    h.hypervisor = "WSL";
    try {
      const VersionInfo v = parse_version(c_.exe().run({"--version"}, op));
      h.hypervisor_version = v.wsl_version.empty() ? "unknown" : v.wsl_version;
      if (!v.kernel_version.empty()) h.extras["kernel_version"] = v.kernel_version;
      if (!v.windows_version.empty()) h.extras["windows_version"] = v.windows_version;
    } catch (const Error& e) {
      // The inbox wsl.exe of older Windows has no --version.
      if (e.code() != ErrorCode::Unsupported) throw;
      h.hypervisor_version = "inbox";
    }
    StatusInfo status;
    try {
      status = parse_status(c_.exe().run({"--status"}, op));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Unsupported) throw;
    }
    if (!status.default_version.empty()) h.extras["default_version"] = status.default_version;
    std::string default_distribution = status.default_distribution;
    try {
      for (const auto& d : c_.exe().list())
        if (d.is_default) default_distribution = d.name;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Unsupported) throw;
    }
    if (!default_distribution.empty()) h.extras["default_distribution"] = default_distribution;

    // WSL 2 runs every distribution in one utility VM; the Linux side that
    // runs wsl.exe (through interop) sees that VM's CPUs and memory.
    if (!c_.remote()) {
      h.cpus = std::thread::hardware_concurrency();
      std::ifstream in("/proc/meminfo");
      std::stringstream text;
      text << in.rdbuf();
      read_meminfo(text.str(), h);
    } else {
      try {
        process::Command c;
        c.argv = {"getconf", "_NPROCESSORS_ONLN"};
        c.timeout = c_.exe().timeout();
        c.operation = op;
        const auto r = c_.exe().runner().run(c);
        if (r.ok()) h.cpus = static_cast<unsigned>(std::stoul(r.out));
        c.argv = {"cat", "/proc/meminfo"};
        const auto m = c_.exe().runner().run(c);
        if (m.ok()) read_meminfo(m.out, h);
      } catch (const std::exception&) {
        // Facts of a best effort: a remote shell without them leaves zeros.
      }
    }
    return h;
  });
}

void WslHostOps::shutdown(bool force) {
  const std::string op = "host.shutdown";
  guarded(op, [&] {
    std::vector<std::string> args = {"--shutdown"};
    if (force) args.push_back("--force");
    c_.exe().run(args, op, std::string(), std::chrono::minutes(2));
  });
}

}  // namespace hyperctl::wsl
