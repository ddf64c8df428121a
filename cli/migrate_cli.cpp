// migrate VM --to URI: the preflight report (--check) and live migration with
// progress. Offline migration, --resume and --rollback are handed to
// run_migrate_offline (cli/migrate_offline.cpp).
#include <chrono>

#include "app.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/migrate.hpp"
#include "hyperctl/uri.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

const char* level_word(CheckLevel level) {
  switch (level) {
    case CheckLevel::Ok:
      return "ok";
    case CheckLevel::Warning:
      return "warning";
    case CheckLevel::Blocker:
      return "blocker";
  }
  return "?";
}

OnStall parse_on_stall(const std::string& text) {
  if (text == "report") return OnStall::Report;
  if (text == "auto-converge") return OnStall::AutoConverge;
  if (text == "postcopy") return OnStall::Postcopy;
  if (text == "abort") return OnStall::Abort;
  throw Error(ErrorCode::InvalidArgument, "--on-stall: unknown value " + squote(text));
}

MigrationOptions options_of(const MigrateArgs& a, MigrationMode mode) {
  MigrationOptions o;
  o.mode = mode;
  o.bandwidth_mib_s = a.bandwidth_mib_s;
  o.max_downtime_ms = a.max_downtime_ms;
  o.auto_converge = a.auto_converge;
  o.postcopy = a.postcopy;
  o.postcopy_after_iterations = a.postcopy_after;
  o.copy_storage = a.copy_storage;
  o.persist = !a.no_persist;
  o.undefine_source = a.undefine_source;
  o.unsafe = a.unsafe;
  o.on_stall = parse_on_stall(a.on_stall);
  o.timeout = std::chrono::seconds(a.timeout_s);
  o.shutdown_first = a.shutdown;
  o.remove_source = a.remove_source;
  o.target_pool = a.target_pool;
  o.network_map = parse_network_map(a.network_map);
  o.new_mac = a.new_mac;
  o.disk_bus = a.disk_bus;
  return o;
}

const char* mode_word(MigrationMode m) {
  return m == MigrationMode::Live ? "live" : "offline";
}

int print_report(Session& s, const MigrateArgs& a, const std::string& source,
                 const std::string& target, MigrationMode mode, const PreflightReport& r) {
  JsonValue items = JsonValue::array();
  Table table({"CHECK", "LEVEL", "MESSAGE", "FIX"});
  std::string csv = csv_row({"check", "level", "message", "fix"});
  for (const auto& i : r.items) {
    items.push_back({{"check", i.check},
                     {"level", level_word(i.level)},
                     {"message", i.message},
                     {"fix", i.fix}});
    table.add_row({i.check, level_word(i.level), i.message, i.fix});
    csv += csv_row({i.check, level_word(i.level), i.message, i.fix});
  }
  const JsonValue doc = {
      {"schema", "hyperctl.preflight/1"}, {"vm", a.vm},   {"source", source}, {"target", target},
      {"mode", mode_word(mode)},          {"ok", r.ok()}, {"items", items}};
  if (s.format() == Format::Csv)
    write_stdout(csv);
  else
    write_stdout(render(s.format(), doc,
                        table.render() + (r.ok() ? "no blocker: the migration can go ahead\n"
                                                 : "blockers found: fix them first\n")));
  return r.ok() ? 0 : exit_status(ErrorCode::Conflict);
}

}  // namespace

std::map<std::string, std::string> parse_network_map(const std::vector<std::string>& words) {
  std::map<std::string, std::string> out;
  for (const auto& w : words) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == w.size())
      throw Error(ErrorCode::InvalidArgument,
                  "--network-map " + squote(w) + ": expected SOURCE=TARGET (network names)");
    if (!out.emplace(w.substr(0, eq), w.substr(eq + 1)).second)
      throw Error(ErrorCode::InvalidArgument,
                  "--network-map: network " + squote(w.substr(0, eq)) + " is mapped twice");
  }
  return out;
}

int run_migrate(const GlobalOptions& g, const MigrateArgs& a) {
  if (!a.resume_id.empty() || !a.rollback_id.empty()) return run_migrate_offline(g, a);
  if (a.live && a.offline) return usage_error("--live and --offline exclude each other");
  if (a.to.empty()) return usage_error("migrate needs --to NAME|URI");
  parse_on_stall(a.on_stall);
  Session s(g);
  Connection& src = s.connect();
  ConnectionRequest target = resolve_connection(g, a.to);
  options_of(a, MigrationMode::Offline);  // bad option values before any connection
  // The in-tree family of a known scheme, without loading its plugin (nor
  // connecting: the offline path opens the target itself).
  const Uri target_uri = Uri::parse(target.uri);
  std::string family = builtin_plugin_for_scheme(target_uri.scheme);
  if (family.empty()) family = s.registry().backend_for(target_uri.scheme).name();
  const bool cross = family != src.backend_name();
  if (cross && a.live)
    return usage_error("a VM moves between families (" + src.backend_name() + " -> " + family +
                       ") offline only: drop --live");
  MigrationMode mode = a.offline ? MigrationMode::Offline : MigrationMode::Live;
  if (!a.live && !a.offline) {
    // Default: live when the VM runs (within a family), offline otherwise.
    const VmInfo info = src.vms().get(a.vm);
    if (cross || (info.state != VmState::Running && info.state != VmState::Paused))
      mode = MigrationMode::Offline;
  }
  // The preflight covers both modes; offline migration itself is elsewhere.
  if (mode == MigrationMode::Offline && !a.check) return run_migrate_offline(g, a);
  std::unique_ptr<Connection> dst = s.registry().open(target.uri, target.options);
  const MigrationOptions options = options_of(a, mode);

  if (a.check)
    return print_report(s, a, s.uri(), target.uri, mode,
                        migration_preflight(src, *dst, a.vm, options));

  CancelToken cancel;
  SigintCancels on_ctrl_c(cancel);
  const bool json_lines = s.format() == Format::Json;
  ProgressLine bar("migrate " + printable(a.vm));
  auto progress = [&](const Progress& p) {
    if (json_lines)
      report_migration_progress(a.vm, "", p);
    else
      bar.update(p);
  };
  const auto t0 = std::chrono::steady_clock::now();
  const VmInfo moved = hyperctl::migrate(src, *dst, a.vm, options, progress, cancel);
  bar.clear();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", seconds);
  // Worded after where the VM is now: a backend may move a stopped VM even
  // when --live was asked (vSphere relocates it cold).
  const bool runs = moved.state == VmState::Running || moved.state == VmState::Paused;
  const std::string message = runs
                                  ? "VM " + squote(a.vm) + " migrated live to " + target.uri +
                                        " in " + secs + " s; it runs there as " + squote(moved.name)
                                  : "VM " + squote(a.vm) + " moved to " + target.uri + " in " +
                                        secs + " s; it is there as " + squote(moved.name) + ", " +
                                        std::string(to_string(moved.state));
  return report_migration(s, {.operation = "migrate",
                              .vm = a.vm,
                              .source = s.uri(),
                              .target = target.uri,
                              .mode = mode_word(mode),
                              .message = message,
                              .seconds = seconds,
                              .moved = &moved});
}

void add_migrate_commands(CLI::App& app, const CommandContext& ctx) {
  // CLI11 keeps the callbacks; the arguments must outlive this function.
  static MigrateArgs a;
  static std::uint64_t bandwidth = 0, downtime = 0;
  static unsigned postcopy_after = 0;

  auto* c = app.add_subcommand("migrate", "Move a VM to another host (live, or offline)");
  c->add_option("vm", a.vm, "VM name or id");
  c->add_option("--to", a.to, "Target: a connection name or URI")->type_name("NAME|URI");
  c->add_flag("--check", a.check,
              "Only print the preflight report: exit 0 without blockers, 5 with");
  c->add_flag("--live", a.live, "Live migration (default when the VM runs)");
  c->add_flag("--offline", a.offline, "Offline migration of a shut-off VM: copy disks, define");
  auto* o_bw = c->add_option("--bandwidth", bandwidth, "Bandwidth limit, MiB/s")->type_name("MIB");
  auto* o_dt =
      c->add_option("--max-downtime", downtime, "Longest final pause, ms")->type_name("MS");
  c->add_flag("--auto-converge", a.auto_converge,
              "Throttle the guest's vCPUs when it falls behind");
  c->add_flag("--postcopy", a.postcopy, "Allow switching to post-copy");
  auto* o_pc = c->add_option("--postcopy-after", postcopy_after,
                             "Switch to post-copy after N memory iterations (implies --postcopy)")
                   ->type_name("N");
  c->add_flag("--copy-storage", a.copy_storage, "Copy non-shared disks along");
  c->add_flag("--undefine-source", a.undefine_source, "Remove the source definition on success");
  c->add_flag("--no-persist", a.no_persist, "Do not define the VM on the target (transient)");
  c->add_flag("--unsafe", a.unsafe,
              "Migrate disks libvirt deems unsafe (shared storage it cannot recognise)");
  c->add_option("--on-stall", a.on_stall, "When it does not converge")
      ->check(CLI::IsMember({"report", "auto-converge", "postcopy", "abort"}))
      ->default_str("report");
  c->add_option("--timeout", a.timeout_s, "Abort after S seconds (0: never)")->type_name("S");
  // Offline migration (cli/migrate_offline.cpp).
  c->add_flag("--shutdown", a.shutdown, "Offline: shut a running VM down gracefully first");
  c->add_flag("--remove-source", a.remove_source,
              "Offline: delete the source VM and disks once the target is verified");
  c->add_option("--target-pool", a.target_pool, "Offline: pool on the target for the disks")
      ->type_name("POOL");
  c->add_option("--network-map", a.network_map,
                "Between families: put NICs of network SRC on DST (repeatable)")
      ->type_name("SRC=DST");
  c->add_flag("--new-mac", a.new_mac, "Between families: let the target pick MAC addresses");
  c->add_option("--disk-bus", a.disk_bus,
                "Between families: the disks' bus on the target (default: one the guest has "
                "drivers for)")
      ->check(CLI::IsMember({"virtio", "sata", "scsi", "ide"}));
  c->add_option("--resume", a.resume_id, "Complete the interrupted offline migration ID")
      ->type_name("ID");
  c->add_option("--rollback", a.rollback_id, "Undo the interrupted offline migration ID")
      ->type_name("ID");
  c->callback(ctx.run([o_bw, o_dt, o_pc, &g = ctx.g]() -> int {
    if (o_bw->count()) a.bandwidth_mib_s = bandwidth;
    if (o_dt->count()) a.max_downtime_ms = downtime;
    if (o_pc->count()) a.postcopy_after = postcopy_after;
    if (a.resume_id.empty() && a.rollback_id.empty() && a.vm.empty())
      return usage_error("migrate needs a VM (or --resume ID / --rollback ID)");
    return run_migrate(g, a);
  }));
}

}  // namespace hyperctl::cli
