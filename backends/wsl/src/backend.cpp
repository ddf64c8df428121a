// The WSL backend: plugin entry point, Backend and connect().
#include <unistd.h>

#include <cstdlib>
#include <iterator>
#include <set>

#include "connection.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/plugin.hpp"
#include "hyperctl/process.hpp"

namespace hyperctl::wsl {
namespace {

/// ?wsl=, ?reg=, ?location= and the ssh parameters runner_for() reads.
const std::set<std::string> kQueryKeys = [] {
  std::set<std::string> keys = {"wsl", "reg", "location"};
  keys.insert(std::begin(process::kSshQueryKeys), std::end(process::kSshQueryKeys));
  return keys;
}();

std::string query_or(const Uri& uri, const std::string& key, const char* env,
                     const std::string& fallback) {
  if (auto it = uri.query.find(key); it != uri.query.end() && !it->second.empty())
    return it->second;
  if (env) {
    const char* v = std::getenv(env);
    if (v && *v) return v;
  }
  return fallback;
}

std::string local_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

class WslBackend final : public Backend {
 public:
  std::string name() const override { return kBackendName; }
  std::string description() const override {
    return "WSL distributions through wsl.exe (locally, from inside WSL, or over ssh)";
  }
  std::vector<std::string> schemes() const override { return {"wsl"}; }

  Capabilities capabilities() const override {
    return {Operation::VmList,           Operation::VmGet,
            Operation::VmCreate,         Operation::VmStart,
            Operation::VmShutdown,       Operation::VmPowerOff,
            Operation::VmDelete,         Operation::VmDeleteWithStorage,
            Operation::VmSetProperty,    Operation::VmExportConfig,
            Operation::PoolList,         Operation::PoolInfo,
            Operation::VolumeList,       Operation::VolumeInfo,
            Operation::VolumeDelete,     Operation::VolumeResize,
            Operation::VolumeUpload,     Operation::VolumeDownload,
            Operation::HostInfo,         Operation::HostShutdown,
            Operation::MigratePreflight, Operation::MigrateOffline};
  }

  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    const std::string op = "connect";
    return guarded(op, [&]() -> std::unique_ptr<Connection> {
      const auto bad = [&](const std::string& why) {
        return Error(ErrorCode::InvalidArgument,
                     "bad WSL URI '" + escape::terminal_text(uri.raw) + "': " + why, op);
      };
      if (uri.scheme != "wsl") throw bad("the scheme must be wsl");
      if (!uri.transport.empty())
        throw bad("no transport is known (wsl://user@host/ reaches another host over ssh)");
      if (!uri.path.empty() && uri.path != "/")
        throw bad("no path is expected (wsl:/// or wsl://user@host/)");
      for (const auto& [key, value] : uri.query)
        if (!kQueryKeys.count(key))
          throw bad("unknown parameter " + quoted(key) +
                    "; known: wsl, reg, location, ssh, identity, known_hosts");

      const std::string program = query_or(uri, "wsl", "HYPERCTL_WSL", "wsl.exe");
      const std::string reg = query_or(uri, "reg", "HYPERCTL_REG", "reg.exe");
      const std::string location = query_or(uri, "location", nullptr, "");
      process::Runner runner =
          process::runner_for(uri, options.user, options.timeout, /*posix_shell=*/true);
      const std::string host_name = uri.host.empty() ? local_hostname() : uri.host;
      WslExe exe(runner, program, options.timeout);
      exe.set_reg_program(reg);
      try {
        exe.run({"--list", "--verbose"}, op);
      } catch (const Error& e) {
        // No distribution yet (NotFound) or an inbox wsl.exe without -v
        // (Unsupported): wsl.exe runs, which is all connect checks.
        if (e.code() != ErrorCode::NotFound && e.code() != ErrorCode::Unsupported) throw;
      }
      return std::make_unique<WslConnection>(uri, std::move(exe), location, host_name);
    });
  }
};

std::unique_ptr<Backend> make_backend() {
  return std::make_unique<WslBackend>();
}

}  // namespace
}  // namespace hyperctl::wsl

HYPERCTL_PLUGIN(hyperctl::wsl::make_backend)
