// Registration of command families on the CLI11 app. Each family lives in
// its own file (CLI11 is slow to compile, so keep these files few).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <utility>

#include "commands.hpp"

namespace hyperctl::cli {

/// Handed to each command family when it registers its subcommands.
struct CommandContext {
  GlobalOptions& g;
  int& status;

  /// A CLI11 callback that runs `body` through guarded() and records its
  /// exit status.
  std::function<void()> run(std::function<int()> body) const {
    return [status_ptr = &status, opts = &g, body = std::move(body)] {
      *status_ptr = guarded(opts->debug, body);
    };
  }
};

/// pool list|info|create|start|stop|refresh|delete, volume list|info|create|...
void add_storage_commands(CLI::App& app, const CommandContext& ctx);
/// snapshot list|create|revert|delete
void add_snapshot_commands(CLI::App& app, const CommandContext& ctx);
/// network list|info|start|stop, host info
void add_network_host_commands(CLI::App& app, const CommandContext& ctx);
/// migrate VM --to URI [--check] [--live|--offline] ... (cli/migrate_cli.cpp)
void add_migrate_commands(CLI::App& app, const CommandContext& ctx);
/// hosts list|add|remove|test (cli/hosts_cli.cpp)
void add_hosts_commands(CLI::App& app, const CommandContext& ctx);
/// trust list|add|remove (cli/trust_cli.cpp)
void add_trust_commands(CLI::App& app, const CommandContext& ctx);
/// inventory (cli/fleet_cli.cpp)
void add_fleet_commands(CLI::App& app, const CommandContext& ctx);

}  // namespace hyperctl::cli
