// The Hyper-V backend: plugin entry point, Backend and connect().
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <cstdlib>
#include <iterator>
#include <set>

#include "connection.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/plugin.hpp"
#include "hyperctl/process.hpp"
#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {
namespace {

/// ?shell= and the ssh parameters runner_for() reads.
const std::set<std::string> kQueryKeys = [] {
  std::set<std::string> keys = {"shell"};
  keys.insert(std::begin(process::kSshQueryKeys), std::end(process::kSshQueryKeys));
  return keys;
}();

std::string query_or(const Uri& uri, const std::string& key, const std::string& fallback) {
  if (auto it = uri.query.find(key); it != uri.query.end() && !it->second.empty())
    return it->second;
  return fallback;
}

class HypervBackend final : public Backend {
 public:
  std::string name() const override { return kBackendName; }
  std::string description() const override {
    return "Hyper-V through its PowerShell module (locally, from inside WSL, or over ssh)";
  }
  std::vector<std::string> schemes() const override { return {"hyperv"}; }

  Capabilities capabilities() const override {
    Capabilities caps = {Operation::VmList,
                         Operation::VmGet,
                         Operation::VmCreate,
                         Operation::VmStart,
                         Operation::VmShutdown,
                         Operation::VmPowerOff,
                         Operation::VmReboot,
                         Operation::VmReset,
                         Operation::VmSuspend,
                         Operation::VmResume,
                         Operation::VmSave,
                         Operation::VmDelete,
                         Operation::VmDeleteWithStorage,
                         Operation::VmSetResources,
                         Operation::VmExportConfig,
                         Operation::SnapshotList,
                         Operation::SnapshotCreate,
                         Operation::SnapshotRevert,
                         Operation::SnapshotDelete,
                         Operation::NetworkList,
                         Operation::NetworkInfo,
                         Operation::HostInfo};
    const Capabilities storage = storage_capabilities();
    const Capabilities migration = migration_capabilities();
    for (Operation op : all_operations())
      if (storage.has(op) || migration.has(op)) caps.set(op);
    return caps;
  }

  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    const std::string op = "connect";
    return guarded(op, [&]() -> std::unique_ptr<Connection> {
      const auto bad = [&](const std::string& why) {
        return Error(ErrorCode::InvalidArgument,
                     "bad Hyper-V URI '" + escape::terminal_text(uri.raw) + "': " + why, op);
      };
      if (uri.scheme != "hyperv") throw bad("the scheme must be hyperv");
      if (!uri.transport.empty())
        throw bad("no transport is known (hyperv://user@host/ reaches a Windows host over ssh)");
      if (!uri.path.empty() && uri.path != "/")
        throw bad("no path is expected (hyperv:/// or hyperv://user@host/)");
      for (const auto& [key, value] : uri.query)
        if (!kQueryKeys.count(key))
          throw bad("unknown parameter " + quoted(key) +
                    "; known: shell, ssh, identity, known_hosts");

      const std::string shell = query_or(uri, "shell", "powershell");
      if (shell != "powershell" && shell != "pwsh")
        throw bad("shell must be powershell or pwsh, not " + quoted(shell));
      std::string program = shell == "pwsh" ? "pwsh" : "powershell.exe";
      if (const char* env = std::getenv("HYPERCTL_POWERSHELL"); env && *env) program = env;

      // Windows' OpenSSH hands the command line to cmd.exe or PowerShell.
      process::Runner runner =
          process::runner_for(uri, options.user, options.timeout, /*posix_shell=*/false);
      std::string host_name = uri.host;
      PowerShell ps(runner, program, options.timeout);
      // One host.info proves PowerShell runs and the Hyper-V module answers.
      const auto info = ps.run("host.info", nlohmann::json::object());
      if (host_name.empty())
        host_name = text_field(info.value("host", nlohmann::json::object()), "ComputerName");
      if (host_name.empty()) host_name = "localhost";
      return std::make_unique<HypervConnection>(uri, std::move(ps), host_name);
    });
  }
};

std::unique_ptr<Backend> make_backend() {
  return std::make_unique<HypervBackend>();
}

}  // namespace
}  // namespace hyperctl::hyperv

HYPERCTL_PLUGIN(hyperctl::hyperv::make_backend)
