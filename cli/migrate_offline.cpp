// migrate VM --to URI --offline [--shutdown] [--remove-source] [--target-pool P],
// and --resume ID / --rollback ID: the offline (cold) migration and its
// journal. With --resume and --rollback both URIs come from the journal.
#include <chrono>
#include <cstdio>
#include <memory>

#include "hyperctl/error.hpp"
#include "hyperctl/journal.hpp"
#include "hyperctl/migrate.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

const std::string& journal_param(const Journal& j, const char* key) {
  auto it = j.params().find(key);
  if (it == j.params().end() || it->second.empty())
    throw Error(ErrorCode::InvalidArgument, "journal " + j.id() + " is damaged: it has no " + key,
                "migrate");
  return it->second;
}

void print_done(Session& s, const std::string& action, const std::string& vm,
                const std::string& source, const std::string& target, const std::string& journal,
                double seconds, const std::string& message, const VmInfo* moved) {
  report_migration(s, {.operation = action,
                       .vm = vm,
                       .source = source,
                       .target = target,
                       .mode = "offline",
                       .journal = journal,
                       .message = message,
                       .seconds = seconds,
                       .moved = moved});
}

}  // namespace

int run_migrate_offline(const GlobalOptions& g, const MigrateArgs& a) {
  if (!a.resume_id.empty() && !a.rollback_id.empty())
    return usage_error("--resume and --rollback exclude each other");
  if (a.live) return usage_error("--live does not go with offline migration");
  const bool journalled = !a.resume_id.empty() || !a.rollback_id.empty();
  if (journalled && (a.shutdown || a.remove_source || !a.target_pool.empty() ||
                     !a.network_map.empty() || a.new_mac || !a.disk_bus.empty()))
    return usage_error(
        "--resume and --rollback take their options from the journal; drop --shutdown, "
        "--remove-source, --target-pool, --network-map, --new-mac and --disk-bus");
  const auto network_map = parse_network_map(a.network_map);
  Session s(g);
  std::string source_uri, target_uri, vm = a.vm, journal_id;
  ConnectionRequest target;
  std::unique_ptr<Connection> journal_source;
  Connection* src = nullptr;
  if (journalled) {
    journal_id = a.resume_id.empty() ? a.rollback_id : a.resume_id;
    const Journal j = Journal::load(journal_id);
    source_uri = journal_param(j, "source_uri");
    target_uri = journal_param(j, "target_uri");
    if (vm.empty()) vm = journal_param(j, "vm");
    journal_source = s.open(source_uri);
    src = journal_source.get();
  } else {
    if (a.to.empty()) return usage_error("migrate needs --to NAME|URI");
    src = &s.connect();
    source_uri = s.uri();
    target = resolve_connection(g, a.to);  // by name: its user and credentials come with it
    target_uri = target.uri;               // the journal keeps URIs
  }
  std::unique_ptr<Connection> dst =
      journalled ? s.open(target_uri) : s.registry().open(target.uri, target.options);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  if (!a.rollback_id.empty()) {
    rollback_migration(*src, *dst, journal_id);
    print_done(s, "migrate.rollback", vm, source_uri, target_uri, journal_id, elapsed(),
               "offline migration " + journal_id + " of VM " + squote(vm) +
                   " rolled back: what it created on " + target_uri + " is deleted; " + source_uri +
                   " is as it was",
               nullptr);
    return 0;
  }

  CancelToken cancel;
  SigintCancels on_ctrl_c(cancel);
  const bool json_lines = s.format() == Format::Json;
  ProgressLine bar("migrate " + printable(vm));
  auto progress = [&](const Progress& p) {
    if (json_lines) {
      report_migration_progress(vm, journal_id, p);
    } else if (p.phase.rfind("warning: ", 0) == 0) {
      write_stderr("hyperctl: " + printable(p.phase) + "\n");
    } else {
      bar.update(p);
    }
  };

  VmInfo moved;
  if (!a.resume_id.empty()) {
    moved = resume_migration(*src, *dst, journal_id, progress, cancel);
  } else {
    MigrationOptions o;
    o.mode = MigrationMode::Offline;
    o.shutdown_first = a.shutdown;
    o.remove_source = a.remove_source;
    o.target_pool = a.target_pool;
    o.network_map = network_map;
    o.new_mac = a.new_mac;
    o.disk_bus = a.disk_bus;
    moved = hyperctl::migrate(*src, *dst, a.vm, o, progress, cancel);
  }
  bar.clear();
  const bool removed = !a.resume_id.empty() ? false : a.remove_source;
  // Worded for every backend: libvirt, Hyper-V and WSL copy and verify the
  // disks; vSphere relocates the stopped VM (cold migration).
  std::string message = "VM " + squote(vm) + " migrated offline to " + target_uri +
                        "; it is defined there as " + squote(moved.name) + ", " +
                        std::string(to_string(moved.state));
  if (removed) message += "; the source VM and its disks were removed";
  print_done(s, !a.resume_id.empty() ? "migrate.resume" : "migrate", vm, source_uri, target_uri,
             journal_id, elapsed(), message, &moved);
  return 0;
}

}  // namespace hyperctl::cli
