// snapshot list|create|revert|delete
#include "app.hpp"
#include "hyperctl/error.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

struct SnapshotArgs {
  std::string vm;
  std::string name;
  std::string description;
  bool disk_only = false;
  bool children = false;
};

/// hyperctl.result/1 for a snapshot action: the VM and the snapshot.
int report_snapshot(Session& s, const std::string& operation, const std::string& vm,
                    const std::string& snapshot, const std::string& message) {
  JsonValue doc = {{"schema", "hyperctl.result/1"}, {"operation", operation}, {"vm", vm},
                   {"snapshot", snapshot},          {"result", "ok"},         {"message", message}};
  write_stdout(render(s.format(), doc, printable(message) + "\n"));
  return 0;
}

int run_snapshot_list(const GlobalOptions& g, const std::string& vm) {
  Session s(g);
  const auto snaps = s.connect(true).snapshots().list(vm);
  switch (s.format()) {
    case Format::Table:
      write_stdout(snapshot_list_table(snaps));
      break;
    case Format::Csv:
      write_stdout(snapshot_list_csv(snaps));
      break;
    case Format::Json:
      write_stdout(to_json_text(snapshot_list_Json(s.uri(), vm, snaps)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(snapshot_list_Json(s.uri(), vm, snaps)));
      break;
  }
  return 0;
}

int run_snapshot_create(const GlobalOptions& g, const SnapshotArgs& a) {
  Session s(g);
  SnapshotSpec spec;
  spec.name = a.name;
  spec.description = a.description;
  spec.disk_only = a.disk_only;
  const Snapshot snap = s.connect().snapshots().create(a.vm, spec);
  return report_snapshot(s, "snapshot.create", a.vm, snap.name,
                         "snapshot " + squote(snap.name) + " of VM " + squote(a.vm) + " created" +
                             (snap.disk_only ? " (disk only)" : ""));
}

int run_snapshot_revert(const GlobalOptions& g, const SnapshotArgs& a) {
  Session s(g);
  s.connect().snapshots().revert(a.vm, a.name);
  return report_snapshot(s, "snapshot.revert", a.vm, a.name,
                         "VM " + squote(a.vm) + " reverted to snapshot " + squote(a.name));
}

int run_snapshot_delete(const GlobalOptions& g, const SnapshotArgs& a) {
  Session s(g);
  s.connect().snapshots().remove(a.vm, a.name, a.children);
  return report_snapshot(s, "snapshot.delete", a.vm, a.name,
                         "snapshot " + squote(a.name) + " of VM " + squote(a.vm) + " deleted" +
                             (a.children ? " with its children" : ""));
}

}  // namespace

void add_snapshot_commands(CLI::App& app, const CommandContext& ctx) {
  auto* snap = app.add_subcommand("snapshot", "List, take, revert to and delete VM snapshots");
  snap->require_subcommand(1);
  // CLI11 keeps the callbacks; the arguments must outlive this function.
  static SnapshotArgs list_args, create_args, revert_args, delete_args;

  auto* list = snap->add_subcommand("list", "Snapshots of a VM, as a tree");
  list->add_option("vm", list_args.vm, "VM name or id")->required();
  list->callback(ctx.run([&g = ctx.g] { return run_snapshot_list(g, list_args.vm); }));

  auto* create = snap->add_subcommand("create", "Take a snapshot");
  create->add_option("vm", create_args.vm, "VM name or id")->required();
  create->add_option("--name", create_args.name, "Snapshot name (default: snap-DATE-TIME, UTC)");
  create->add_option("--description", create_args.description, "Free text");
  create->add_flag("--disk-only", create_args.disk_only,
                   "Disks only, no memory state (where the driver allows)");
  create->callback(ctx.run([&g = ctx.g] { return run_snapshot_create(g, create_args); }));

  auto* revert = snap->add_subcommand("revert", "Return a VM to a snapshot");
  revert->add_option("vm", revert_args.vm, "VM name or id")->required();
  revert->add_option("snapshot", revert_args.name, "Snapshot name")->required();
  revert->callback(ctx.run([&g = ctx.g] { return run_snapshot_revert(g, revert_args); }));

  auto* del = snap->add_subcommand("delete", "Delete a snapshot (its children move up)");
  del->add_option("vm", delete_args.vm, "VM name or id")->required();
  del->add_option("snapshot", delete_args.name, "Snapshot name")->required();
  del->add_flag("--children", delete_args.children, "Also delete every snapshot below it");
  del->callback(ctx.run([&g = ctx.g] { return run_snapshot_delete(g, delete_args); }));
}

}  // namespace hyperctl::cli
