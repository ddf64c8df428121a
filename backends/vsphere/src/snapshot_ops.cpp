// Snapshots of vSphere VMs: the VM's snapshot tree (VirtualMachineSnapshotInfo)
// read in one property retrieval, CreateSnapshot_Task on the VM,
// RevertToSnapshot_Task and RemoveSnapshot_Task on the snapshot object.
//
// vSphere allows several snapshots of one VM to share a name; hyperctl
// addresses snapshots by name, so create refuses a name the VM already has
// (AlreadyExists), and revert/delete refuse a name that is ambiguous
// (Conflict) instead of picking one.
#include "hyperctl/error.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <functional>

#include "common.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {
namespace {

/// Seconds since the epoch of an xsd:dateTime ("2026-11-26T10:11:12.345Z",
/// "+01:00"/"-05:00" offsets, or none: UTC); 0 when it cannot be read.
std::int64_t unix_time(const std::string& iso) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t t = ::timegm(&tm);
  std::size_t pos = static_cast<std::size_t>(consumed);
  if (pos < iso.size() && iso[pos] == '.') {
    ++pos;
    while (pos < iso.size() && std::isdigit(static_cast<unsigned char>(iso[pos]))) ++pos;
  }
  if (pos < iso.size() && (iso[pos] == '+' || iso[pos] == '-')) {
    int hh = 0, mm = 0;
    if (std::sscanf(iso.c_str() + pos + 1, "%2d:%2d", &hh, &mm) == 2) {
      const std::int64_t offset = (static_cast<std::int64_t>(hh) * 60 + mm) * 60;
      t += iso[pos] == '+' ? -offset : offset;
    }
  }
  return t;
}

struct Node {
  Snapshot snap;
  MoRef ref;
};

/// A VM and its snapshot tree, as one retrieval saw them.
struct Tree {
  MoRef vm;
  std::string vm_name;
  bool powered_on = false;
  std::vector<Node> nodes;  ///< pre-order

  /// The snapshots named `name`: NotFound when none, Conflict when several.
  const Node& one(const std::string& name, const std::string& op) const {
    const Node* found = nullptr;
    std::size_t n = 0;
    for (const auto& node : nodes)
      if (node.snap.name == name) {
        found = &node;
        ++n;
      }
    if (n == 0)
      throw Error(ErrorCode::NotFound, "VM " + quoted(vm_name) + " has no snapshot " + quoted(name),
                  op);
    if (n > 1)
      throw Error(ErrorCode::Conflict,
                  "VM " + quoted(vm_name) + " has " + std::to_string(n) + " snapshots named " +
                      quoted(name) + "; rename or delete the others in the vSphere Client first",
                  op);
    return *found;
  }
  bool has(const std::string& name) const {
    for (const auto& node : nodes)
      if (node.snap.name == name) return true;
    return false;
  }
};

/// Walks a VirtualMachineSnapshotTree element and its childSnapshotList, in
/// pre-order.
void walk(pugi::xml_node tree, const std::string& parent, const MoRef& current,
          std::vector<Node>& out, int depth, const std::string& op) {
  // vSphere supports chains of 32 snapshots; a far deeper answer is
  // malformed and must not exhaust the stack.
  if (depth > 1000)
    throw Error(ErrorCode::BackendFailure, "the snapshot tree the server sent is too deep", op);
  Node node;
  node.ref = xml::moref(xml::child(tree, "snapshot"));
  node.snap.name = xml::text(tree, "name");
  node.snap.description = xml::text(tree, "description");
  node.snap.parent = parent;
  node.snap.created_unix = unix_time(xml::text(tree, "createTime"));
  node.snap.vm_state = vm_state_of(xml::text(tree, "state"));
  // vSphere records the state a revert returns to: a snapshot without memory
  // of a running VM says poweredOff. So only poweredOn/suspended have memory.
  node.snap.disk_only =
      node.snap.vm_state != VmState::Running && node.snap.vm_state != VmState::Suspended;
  node.snap.current = !current.empty() && node.ref == current;
  const std::string name = node.snap.name;
  out.push_back(std::move(node));
  for (pugi::xml_node child : xml::children(tree, "childSnapshotList"))
    walk(child, name, current, out, depth + 1, op);
}

/// The snapshot tree of the VM `vm` (named `vm_name` in messages).
Tree read_tree(VsphereConnection& c, const MoRef& vm, const std::string& vm_name,
               const std::string& op) {
  Tree t;
  t.vm = vm;
  t.vm_name = vm_name;
  const ObjectContent oc = c.session().retrieve_one(vm, {"snapshot", "runtime.powerState"}, op,
                                                    "VM " + quoted(t.vm_name));
  t.powered_on = xml::text(oc.prop("runtime.powerState")) == "poweredOn";
  const pugi::xml_node info = oc.prop("snapshot");
  if (!info) return t;
  const MoRef current = xml::moref(xml::child(info, "currentSnapshot"));
  for (pugi::xml_node root : xml::children(info, "rootSnapshotList"))
    walk(root, "", current, t.nodes, 0, op);
  return t;
}

Tree read_tree(VsphereConnection& c, const VmRef& ref, const std::string& op) {
  const VmObject vm = c.resolve(ref, op);
  return read_tree(c, vm.ref, vm.info.name, op);
}

std::string default_name(const Tree& t) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  const std::string base = std::string("snap-") + buf;  // as the CLI documents
  std::string name = base;
  for (int i = 2; t.has(name); ++i) name = base + "-" + std::to_string(i);
  return name;
}

}  // namespace

Capabilities snapshot_capabilities() {
  return {Operation::SnapshotList, Operation::SnapshotCreate, Operation::SnapshotRevert,
          Operation::SnapshotDelete};
}

std::vector<Snapshot> VsphereSnapshotOps::list(const VmRef& vm) {
  const std::string op = "snapshot.list";
  return guarded(op, [&] {
    std::vector<Snapshot> out;
    for (auto& node : read_tree(c_, vm, op).nodes) out.push_back(std::move(node.snap));
    return out;
  });
}

Snapshot VsphereSnapshotOps::create(const VmRef& vm, const SnapshotSpec& spec) {
  const std::string op = "snapshot.create";
  return guarded(op, [&] {
    // The core's rule (no '/', control characters, bad UTF-8, > 255 bytes):
    // other tools draw snapshot trees as paths and lines.
    if (!spec.name.empty()) validate_snapshot_name(spec.name, op);
    const Tree t = read_tree(c_, vm, op);
    const std::string name = spec.name.empty() ? default_name(t) : spec.name;
    if (t.has(name))
      throw Error(ErrorCode::AlreadyExists,
                  "VM " + quoted(t.vm_name) + " already has a snapshot " + quoted(name), op);
    const bool memory = !spec.disk_only && t.powered_on;
    const std::string args = soap::el("name", name) + soap::el("description", spec.description) +
                             soap::el("memory", memory ? "true" : "false") +
                             soap::el("quiesce", "false");
    const Reply result =
        c_.session().run_task("CreateSnapshot_Task", t.vm, args, op, "snapshot " + quoted(name));
    const MoRef created = xml::moref(result.node);
    // The snapshot as the server now describes it (time, parent, state).
    const Tree after = read_tree(c_, t.vm, t.vm_name, op);
    for (const auto& node : after.nodes)
      if ((!created.empty() && node.ref == created) || (created.empty() && node.snap.current))
        return node.snap;
    throw Error(ErrorCode::BackendFailure,
                "the snapshot " + quoted(name) + " of VM " + quoted(t.vm_name) +
                    " was taken but the VM's snapshot tree does not show it",
                op);
  });
}

void VsphereSnapshotOps::revert(const VmRef& vm, const std::string& snapshot) {
  const std::string op = "snapshot.revert";
  guarded(op, [&] {
    const Tree t = read_tree(c_, vm, op);
    const Node& node = t.one(snapshot, op);
    c_.session().run_task("RevertToSnapshot_Task", node.ref, "", op,
                          "revert to " + quoted(snapshot));
  });
}

void VsphereSnapshotOps::remove(const VmRef& vm, const std::string& snapshot, bool with_children) {
  const std::string op = "snapshot.delete";
  guarded(op, [&] {
    const Tree t = read_tree(c_, vm, op);
    const Node& node = t.one(snapshot, op);
    const std::string args = soap::el("removeChildren", with_children ? "true" : "false") +
                             soap::el("consolidate", "true");
    c_.session().run_task("RemoveSnapshot_Task", node.ref, args, op, "delete " + quoted(snapshot));
  });
}

}  // namespace hyperctl::vsphere
