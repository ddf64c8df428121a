// Parses the command line with CLI11: the global options and the VM commands
// here, the other families through app.hpp; the work is done in commands.cpp.
#include <CLI/CLI.hpp>

#include <optional>
#include <set>
#include <string>
#include <utility>

#include "app.hpp"
#include "commands.hpp"
#include "support.hpp"

namespace {

using namespace hyperctl::cli;

/// CLI11 messages are meant for one line; make sure of it.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

/// Global options that take a value as the next word.
bool takes_value(const std::string& arg) {
  static const std::set<std::string> kOptions = {"-c", "--connect", "--config",    "-g", "--group",
                                                 "-o", "--output",  "--plugin-dir"};
  return kOptions.count(arg) != 0;
}

/// The first word of argv where a command is expected that names none
/// ("hyperctl vm --help", "hyperctl volume frob"), with the commands before
/// it (" volume"); nullopt when there is none. CLI11 would take the word for
/// an extra argument and print the top-level help with status 0 for --help.
std::optional<std::pair<std::string, std::string>> unknown_command(CLI::App& app, int argc,
                                                                   char** argv) {
  CLI::App* cur = &app;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-') {
      if (takes_value(arg)) ++i;
      continue;
    }
    if (cur->get_subcommands([](CLI::App*) { return true; }).empty()) break;
    CLI::App* sub = nullptr;
    try {
      sub = cur->get_subcommand(arg);
    } catch (const CLI::OptionNotFound&) {
      return std::make_pair(path, arg);
    }
    cur = sub;
    path += " " + arg;
  }
  return std::nullopt;
}

/// " volume resize": the commands CLI11 got to, for "see hyperctl ... --help".
std::string parsed_command_path(const CLI::App& app) {
  std::string path;
  const CLI::App* cur = &app;
  for (;;) {
    const auto subs = cur->get_subcommands();
    if (subs.empty()) break;
    cur = subs.front();
    path += " " + cur->get_name();
  }
  return path;
}

CLI::App* vm_command(CLI::App& app, const char* name, const char* help, std::string& vm) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("vm", vm, "VM name or id")->required();
  return sub;
}

}  // namespace

int main(int argc, char** argv) {
  GlobalOptions g;
  CLI::App app{"hyperctl: manage virtual machines the same way on every hypervisor", "hyperctl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.set_help_all_flag("--help-all", "Help for every command");
  app.footer(
      "Exit status: 0 ok, 1 internal error, 2 usage or invalid argument, 3 not found,\n"
      "4 unsupported, 5 conflict (wrong state, already in that state, data protected),\n"
      "6 already exists, 7 authentication failed, 8 unreachable, 9 timeout,\n"
      "10 backend failure, 11 cancelled (Ctrl-C, SIGTERM, SIGHUP).\n"
      "Sizes need a unit: 512M, 2G, 4096B.");

  app.add_option("-c,--connect", g.uri,
                 "Connection URI or name from the config file (default: $HYPERCTL_URI)");
  app.add_option("--config", g.config_path,
                 "Config file (default: $XDG_CONFIG_HOME/hyperctl/config)")
      ->type_name("FILE");
  app.add_option("-g,--group", g.group,
                 "Run a VM command on every host of this group; the VM is a name pattern")
      ->type_name("GROUP");
  app.add_option("-o,--output", g.output, "Output format")
      ->check(CLI::IsMember({"table", "json", "yaml", "csv"}))
      ->default_str("table");
  app.add_flag("--debug", g.debug, "On errors, also print the operation and backend detail");
  app.add_option("--plugin-dir", g.plugin_dirs, "Folder searched first for backend plugins")
      ->allow_extra_args(false)
      ->type_name("DIR");

  int status = 0;
  auto run = [&](auto body) { return [&status, &g, body] { status = guarded(g.debug, body); }; };

  ListArgs list;
  auto* c_list = app.add_subcommand("list", "List VMs");
  c_list->add_option("--state", list.states, "Only VMs in these states (comma-separated)")
      ->delimiter(',')
      ->allow_extra_args(false);
  c_list->add_option("--name", list.name_glob, "Only VMs whose name matches this glob");
  c_list->callback(run([&] { return run_list(g, list); }));

  std::string info_vm;
  vm_command(app, "info", "Show one VM", info_vm)->callback(run([&] {
    return run_info(g, info_vm);
  }));

  struct ActionCommand {
    const char* name;
    const char* help;
    Action action;
  };
  static const ActionCommand kActions[] = {
      {"start", "Start a VM (or restore a saved one)", Action::Start},
      {"poweroff", "Power a VM off at once", Action::PowerOff},
      {"reboot", "Ask the guest to reboot", Action::Reboot},
      {"reset", "Hard reset, like the reset button", Action::Reset},
      {"suspend", "Pause a VM (memory stays in RAM)", Action::Suspend},
      {"resume", "Resume a paused VM", Action::Resume},
      {"save", "Save a VM's memory to disk and stop it", Action::Save},
  };
  static std::string action_vm[std::size(kActions)];
  for (std::size_t i = 0; i < std::size(kActions); ++i) {
    const Action action = kActions[i].action;
    std::string& vm = action_vm[i];
    vm_command(app, kActions[i].name, kActions[i].help, vm)->callback(run([&g, action, &vm] {
      return run_action(g, action, vm);
    }));
  }

  ShutdownArgs shutdown;
  auto* c_shutdown = vm_command(app, "shutdown", "Shut a VM down gracefully", shutdown.vm);
  c_shutdown->add_option("--timeout", shutdown.timeout_s, "Seconds to wait for the guest")
      ->default_str("60");
  c_shutdown->add_flag("--force", shutdown.force, "Power off when the guest does not stop in time");
  c_shutdown->callback(run([&] { return run_shutdown(g, shutdown); }));

  CreateArgs create;
  auto* c_create = app.add_subcommand("create", "Create a VM");
  c_create->add_option("--name", create.name, "VM name")->required();
  c_create->add_option("--vcpus", create.vcpus, "Virtual CPUs")->default_str("1");
  c_create->add_option("--memory", create.memory, "Memory with a unit: 512M, 2G, 2GiB...")
      ->type_name("SIZE")
      ->default_str("512M");
  c_create
      ->add_option("--disk", create.disks,
                   "New disk SIZE[:FORMAT][@POOL] (SIZE with a unit: 20G), existing volume "
                   "vol:POOL/NAME, or a PATH")
      ->type_name("SPEC")
      ->allow_extra_args(false);
  c_create->add_option("--iso", create.isos, "CD-ROM to boot from: an ISO PATH or vol:POOL/NAME")
      ->type_name("PATH|vol:POOL/NAME")
      ->allow_extra_args(false);
  c_create->add_option("--firmware", create.firmware, "bios, or uefi where the host has it")
      ->check(CLI::IsMember({"bios", "uefi"}));
  c_create->add_option("--network", create.networks, "Network to attach a NIC to")
      ->type_name("NAME")
      ->allow_extra_args(false);
  c_create->add_flag("--start", create.start, "Start the VM once created");
  c_create
      ->add_flag("--rm-on-failure", create.rm_on_failure,
                 "With --start: when the start fails, delete the VM and the volumes this "
                 "command created (never an existing vol:POOL/NAME or PATH)")
      ->needs("--start");
  c_create->callback(run([&] { return run_create(g, create); }));

  std::string define_file;
  auto* c_define = app.add_subcommand("define", "Define a VM from the backend's native config");
  c_define->add_option("file", define_file, "Config file, or - for standard input")->required();
  c_define->callback(run([&] { return run_define(g, define_file); }));

  DeleteArgs del;
  auto* c_delete = vm_command(app, "delete", "Delete a VM", del.vm);
  c_delete->add_flag("--with-storage", del.with_storage,
                     "Also delete its disk volumes (whole backing chains), except disks another "
                     "VM uses: those are kept and named");
  c_delete->add_flag("--snapshots", del.snapshots,
                     "Also delete its snapshots; a VM that has some is refused without it");
  c_delete->add_flag("--force", del.force, "Power it off first when running");
  c_delete->callback(run([&] { return run_delete(g, del); }));

  SetArgs set;
  unsigned set_vcpus = 0;
  std::string set_memory;
  auto* c_set = vm_command(app, "set", "Change vCPUs, memory or a backend property", set.vm);
  auto* o_vcpus = c_set->add_option("--vcpus", set_vcpus, "Virtual CPUs");
  auto* o_memory = c_set->add_option("--memory", set_memory, "Memory with a unit: 512M, 2G...")
                       ->type_name("SIZE");
  c_set->add_flag("--live", set.live,
                  "Also change the running VM (a stopped VM has only its configuration)");
  c_set
      ->add_option("--property", set.properties,
                   "A backend-specific setting, repeatable (WSL: default=true, version=1|2, "
                   "sparse=true|false, location=DIR)")
      ->type_name("KEY=VALUE")
      ->take_all();
  c_set->callback(run([&] {
    if (o_vcpus->count()) set.vcpus = set_vcpus;
    if (o_memory->count()) set.memory = set_memory;
    return run_set(g, set);
  }));

  std::string autostart_vm, autostart_value;
  auto* c_autostart =
      vm_command(app, "autostart", "Start the VM with its host, or not", autostart_vm);
  c_autostart->add_option("state", autostart_value, "on or off")
      ->required()
      ->check(CLI::IsMember({"on", "off"}));
  c_autostart->callback(
      run([&] { return run_autostart(g, autostart_vm, autostart_value == "on"); }));

  std::string export_vm;
  vm_command(app, "export-config", "Print the VM's native configuration", export_vm)
      ->callback(run([&] { return run_export_config(g, export_vm); }));

  std::string check_file;
  auto* c_backends = app.add_subcommand("backends", "List backend plugins and what they support");
  c_backends
      ->add_option("--check", check_file,
                   "Validate one plugin file without searching or connecting: exit 0 when it "
                   "loads, else its error's status")
      ->type_name("FILE");
  c_backends->callback(run([&] { return run_backends(g, check_file); }));
  app.add_subcommand("version", "Print the version (loads no plugin)")->callback(run([&] {
    return run_version(g);
  }));

  const CommandContext ctx{g, status};
  add_storage_commands(app, ctx);
  add_snapshot_commands(app, ctx);
  add_network_host_commands(app, ctx);
  add_migrate_commands(app, ctx);
  add_hosts_commands(app, ctx);
  add_trust_commands(app, ctx);
  add_fleet_commands(app, ctx);

  // -g GROUP is for the commands that run on many hosts; elsewhere it would
  // be ignored, which a user could take for "done on the whole group".
  app.parse_complete_callback([&] {
    if (g.group.empty()) return;
    if (!g.uri.empty()) throw CLI::ValidationError("-g GROUP and -c exclude each other");
    static const std::set<std::string> kGroupCommands = {"start",  "shutdown", "poweroff",
                                                         "reboot", "reset",    "suspend",
                                                         "resume", "save",     "inventory"};
    for (const CLI::App* sub : app.get_subcommands())
      if (!kGroupCommands.count(sub->get_name()))
        throw CLI::ValidationError(
            "-g GROUP goes with start, shutdown, poweroff, reboot, reset, suspend, resume, "
            "save and inventory, not with " +
            sub->get_name() + " (a listing of the group: hyperctl inventory -g GROUP)");
  });

  if (const auto unknown = unknown_command(app, argc, argv)) {
    const auto& [path, word] = *unknown;
    return usage_error("unknown command '" + word + "'" +
                       (path.empty() ? "" : " for hyperctl" + path) + " (see hyperctl" + path +
                       " --help)");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --help-all
    return usage_error(one_line(e.what()) + " (see hyperctl" + parsed_command_path(app) +
                       " --help)");
  }
  leave_if_lingering(status);  // e.g. a connect that timed out is still inside libvirt
  return status;
}
