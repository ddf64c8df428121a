// The commands of the hyperctl executable, independent of argument parsing:
// main.cpp fills these structs from the command line and calls run_*.
// Every run_* returns the process exit status; hyperctl::Error and other
// exceptions are turned into one line on stderr by guarded().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hyperctl::cli {

struct GlobalOptions {
  std::string uri;  ///< -c; empty: HYPERCTL_URI
  std::string output = "table";
  bool debug = false;
  std::vector<std::string> plugin_dirs;
  std::string config_path;  ///< --config; empty: FleetConfig::default_path()
  std::string group;        ///< -g: run the VM command on every host of this group
};

struct ListArgs {
  std::vector<std::string> states;
  std::string name_glob;
};

struct ShutdownArgs {
  std::string vm;
  unsigned timeout_s = 60;
  bool force = false;
};

struct CreateArgs {
  std::string name;
  unsigned vcpus = 1;
  std::string memory = "512M";
  std::vector<std::string> disks;
  std::vector<std::string> isos;  ///< --iso: CD-ROMs, booted from first
  std::vector<std::string> networks;
  std::string firmware;  ///< --firmware: "", "bios" or "uefi"
  bool start = false;
  bool rm_on_failure = false;  ///< --rm-on-failure: a failed --start deletes what was created
};

struct DeleteArgs {
  std::string vm;
  bool with_storage = false;
  bool force = false;
  bool snapshots = false;  ///< --snapshots: a VM with snapshots may go, with them
};

struct SetArgs {
  std::string vm;
  std::optional<unsigned> vcpus;
  std::optional<std::string> memory;
  bool live = false;
  std::vector<std::string> properties;  ///< --property KEY=VALUE, in order
};

/// `hyperctl migrate VM --to URI ...` (cli/migrate_cli.cpp parses it).
struct MigrateArgs {
  std::string vm;
  std::string to;  ///< target URI
  bool check = false;
  bool live = false;
  bool offline = false;
  std::optional<std::uint64_t> bandwidth_mib_s;
  std::optional<std::uint64_t> max_downtime_ms;
  bool auto_converge = false;
  bool postcopy = false;
  std::optional<unsigned> postcopy_after;
  bool copy_storage = false;
  bool undefine_source = false;
  bool no_persist = false;
  bool unsafe = false;
  std::string on_stall = "report";  ///< report, auto-converge, postcopy, abort
  unsigned timeout_s = 0;           ///< 0: none
  // Offline migration (run_migrate_offline, cli/migrate_offline.cpp):
  bool shutdown = false;
  bool remove_source = false;
  std::string target_pool;
  std::string resume_id;
  std::string rollback_id;
  // Between families:
  std::vector<std::string> network_map;  ///< SRC=DST, repeatable
  bool new_mac = false;
  std::string disk_bus;
};

/// --network-map SRC=DST words as a map; InvalidArgument naming a word
/// without '=', with an empty side, or a source given twice.
std::map<std::string, std::string> parse_network_map(const std::vector<std::string>& words);

/// Live migration and --check (cli/migrate_cli.cpp); hands --offline,
/// --resume and --rollback (and a shut-off VM without --live) to
/// run_migrate_offline.
int run_migrate(const GlobalOptions& g, const MigrateArgs& a);
/// HOOK: offline migration, --resume ID, --rollback ID. Defined in
/// cli/migrate_offline.cpp, which the offline-migration work owns.
int run_migrate_offline(const GlobalOptions& g, const MigrateArgs& a);

/// The simple one-VM actions.
enum class Action { Start, PowerOff, Reboot, Reset, Suspend, Resume, Save };

int run_list(const GlobalOptions& g, const ListArgs& a);
int run_info(const GlobalOptions& g, const std::string& vm);
int run_action(const GlobalOptions& g, Action action, const std::string& vm);
int run_shutdown(const GlobalOptions& g, const ShutdownArgs& a);
/// -g GROUP: the action on every host of the group, `pattern` a name glob
/// (cli/fleet_cli.cpp).
int run_group_action(const GlobalOptions& g, Action action, const std::string& pattern);
int run_group_shutdown(const GlobalOptions& g, const ShutdownArgs& a);
int run_create(const GlobalOptions& g, const CreateArgs& a);
int run_define(const GlobalOptions& g, const std::string& file);
int run_delete(const GlobalOptions& g, const DeleteArgs& a);
int run_set(const GlobalOptions& g, const SetArgs& a);
int run_autostart(const GlobalOptions& g, const std::string& vm, bool enabled);
int run_export_config(const GlobalOptions& g, const std::string& vm);
/// Every plugin on the search path; with `check_file`, only that file:
/// loaded by a fresh Registry (no search, no connection), its description
/// printed, or the loader's sentence and the status of its error code.
int run_backends(const GlobalOptions& g, const std::string& check_file = {});
/// Loads no plugin and opens no connection.
int run_version(const GlobalOptions& g);

/// Runs `body`, turning any exception into one line on stderr
/// ("hyperctl: error: ...", plus a debug line with --debug) and its exit status.
int guarded(bool debug, const std::function<int()>& body);

/// Prints a usage error (one line) and returns 2.
int usage_error(const std::string& message);

}  // namespace hyperctl::cli
