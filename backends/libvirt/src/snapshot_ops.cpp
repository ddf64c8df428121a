// Snapshots of a domain: list (as a tree), create, revert, delete.
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <map>

#include "errors.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

// THE table of snapshot states (<domainsnapshot><state>): the state the
// domain had when the snapshot was taken. A disk-only snapshot has no
// memory and records no VM state ("disk-snapshot").
struct SnapshotStateRule {
  const char* libvirt;
  VmState state;
};

constexpr SnapshotStateRule kSnapshotStates[] = {
    {"running", VmState::Running},       {"blocked", VmState::Running},
    {"paused", VmState::Paused},         {"shutdown", VmState::Transitional},
    {"shutoff", VmState::Off},           {"crashed", VmState::Crashed},
    {"pmsuspended", VmState::Suspended}, {"disk-snapshot", VmState::Unknown},
};

VmState snapshot_state(const std::string& word) {
  for (const auto& rule : kSnapshotStates)
    if (word == rule.libvirt) return rule.state;
  return VmState::Unknown;
}

std::string vm_label(virDomainPtr dom) {
  const char* n = virDomainGetName(dom);
  return "VM " + quoted(n ? n : "");
}

std::string snap_label(const std::string& snapshot, virDomainPtr dom) {
  return "snapshot " + quoted(snapshot) + " of " + vm_label(dom);
}

/// The core's rule, and libvirt's own limit: the QEMU driver writes a
/// snapshot's metadata to "<name>.xml.new", then renames it to "<name>.xml";
/// a file name has at most 255 bytes.
void validate_libvirt_snapshot_name(const std::string& name, const std::string& op) {
  validate_snapshot_name(name, op);
  constexpr std::size_t kMax = 255 - 8;
  if (name.size() > kMax)
    throw Error(ErrorCode::InvalidArgument,
                "a libvirt snapshot name is at most " + std::to_string(kMax) +
                    " bytes (libvirt stores it as a file name); this one has " +
                    std::to_string(name.size()),
                op);
}

/// "snap-20240131-142501" (UTC) for a snapshot the caller did not name.
std::string default_snapshot_name() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "snap-%Y%m%d-%H%M%S", &tm);
  return buf;
}

SnapPtr find_snapshot(const Session& s, virDomainPtr dom, const std::string& name,
                      const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "no snapshot named", op);
  SnapPtr snap(virDomainSnapshotLookupByName(dom, name.c_str(), 0));
  if (snap) return snap;
  auto e = take_last_error(s.get());
  if (e.code == VIR_ERR_NO_DOMAIN_SNAPSHOT)
    throw Error(ErrorCode::NotFound, snap_label(name, dom) + " not found", op, e.detail());
  fail(e, "cannot look up " + snap_label(name, dom), op);
}

Snapshot describe(const Session& s, virDomainSnapshotPtr snap, const std::string& op) {
  Snapshot out;
  const char* name = virDomainSnapshotGetName(snap);
  out.name = name ? name : "";
  CString xml(virDomainSnapshotGetXMLDesc(snap, 0));
  if (!xml) fail(s.get(), "cannot read snapshot " + quoted(out.name), op);
  auto doc = XmlDoc::parse(xml.get(), "a snapshot description");
  out.description = doc.value("/domainsnapshot/description");
  out.parent = doc.value("/domainsnapshot/parent/name");
  out.created_unix = std::strtoll(doc.value("/domainsnapshot/creationTime").c_str(), nullptr, 10);
  const std::string state = doc.value("/domainsnapshot/state");
  out.vm_state = snapshot_state(state);
  // A disk-only snapshot of a running VM records "disk-snapshot"; one of a
  // stopped VM records "shutoff", with no memory and only external disks.
  bool external = false, internal = false;
  for (const auto& d : doc.select("/domainsnapshot/disks/disk")) {
    external = external || d.attr("snapshot") == "external";
    internal = internal || d.attr("snapshot") == "internal";
  }
  out.disk_only = state == "disk-snapshot" ||
                  (doc.value("/domainsnapshot/memory/@snapshot") == "no" && external && !internal);
  int current = virDomainSnapshotIsCurrent(snap, 0);
  if (current < 0) take_last_error(s.get());
  out.current = current == 1;
  return out;
}

/// Parents before children; siblings oldest first (then by name).
std::vector<Snapshot> preorder(std::vector<Snapshot> all) {
  std::sort(all.begin(), all.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.created_unix != b.created_unix ? a.created_unix < b.created_unix : a.name < b.name;
  });
  std::map<std::string, std::vector<const Snapshot*>> children;
  std::map<std::string, bool> known;
  for (const auto& sn : all) known[sn.name] = true;
  std::vector<const Snapshot*> roots;
  for (const auto& sn : all) {
    // A parent missing from the list (deleted metadata) makes its child a root.
    if (sn.parent.empty() || !known.count(sn.parent))
      roots.push_back(&sn);
    else
      children[sn.parent].push_back(&sn);
  }
  std::vector<Snapshot> out;
  out.reserve(all.size());
  std::vector<const Snapshot*> stack(roots.rbegin(), roots.rend());
  while (!stack.empty()) {
    const Snapshot* sn = stack.back();
    stack.pop_back();
    out.push_back(*sn);
    auto it = children.find(sn->name);
    if (it != children.end()) stack.insert(stack.end(), it->second.rbegin(), it->second.rend());
  }
  return out;
}

}  // namespace

std::vector<Snapshot> LibvirtSnapshotOps::list(const VmRef& vm) {
  return guarded("snapshot.list", [&] {
    const std::string op = "snapshot.list";
    auto dom = s_.find_domain(vm, op);
    virDomainSnapshotPtr* raw = nullptr;
    int n = virDomainListAllSnapshots(dom.get(), &raw, 0);
    if (n < 0) fail(s_.get(), "cannot list the snapshots of " + vm_label(dom.get()), op);
    std::vector<Snapshot> all;
    for (auto& snap : adopt_array<SnapPtr>(raw, n)) all.push_back(describe(s_, snap.get(), op));
    return preorder(std::move(all));
  });
}

Snapshot LibvirtSnapshotOps::create(const VmRef& vm, const SnapshotSpec& spec) {
  return guarded("snapshot.create", [&] {
    const std::string op = "snapshot.create";
    const std::string name = spec.name.empty() ? default_snapshot_name() : spec.name;
    validate_libvirt_snapshot_name(name, op);
    auto dom = s_.find_domain(vm, op);
    {
      SnapPtr clash(virDomainSnapshotLookupByName(dom.get(), name.c_str(), 0));
      if (clash)
        throw Error(ErrorCode::AlreadyExists, snap_label(name, dom.get()) + " already exists", op);
      auto e = take_last_error(s_.get());
      if (e.code != VIR_ERR_NO_DOMAIN_SNAPSHOT)
        fail(e, "cannot check whether " + snap_label(name, dom.get()) + " exists", op);
    }
    std::string xml = "<domainsnapshot>\n  <name>" + escape::xml_text(name) + "</name>\n";
    if (!spec.description.empty())
      xml += "  <description>" + escape::xml_text(spec.description) + "</description>\n";
    xml += "</domainsnapshot>\n";
    const unsigned flags = spec.disk_only ? VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY : 0;
    SnapPtr snap(virDomainSnapshotCreateXML(dom.get(), xml.c_str(), flags));
    if (!snap) {
      auto e = take_last_error(s_.get());
      if (spec.disk_only && unsupported_flags(e))
        throw Error(ErrorCode::Unsupported,
                    "the " + s_.driver +
                        " driver cannot take disk-only snapshots; take a full snapshot instead",
                    op, e.detail());
      fail(e, "cannot create " + snap_label(name, dom.get()), op);
    }
    return describe(s_, snap.get(), op);
  });
}

void LibvirtSnapshotOps::revert(const VmRef& vm, const std::string& snapshot) {
  guarded("snapshot.revert", [&] {
    const std::string op = "snapshot.revert";
    auto dom = s_.find_domain(vm, op);
    auto snap = find_snapshot(s_, dom.get(), snapshot, op);
    if (virDomainRevertToSnapshot(snap.get(), 0) < 0)
      fail(s_.get(), "cannot revert " + vm_label(dom.get()) + " to snapshot " + quoted(snapshot),
           op);
  });
}

void LibvirtSnapshotOps::remove(const VmRef& vm, const std::string& snapshot, bool with_children) {
  guarded("snapshot.delete", [&] {
    const std::string op = "snapshot.delete";
    auto dom = s_.find_domain(vm, op);
    auto snap = find_snapshot(s_, dom.get(), snapshot, op);
    // Without CHILDREN libvirt reparents the children onto the parent.
    const unsigned flags = with_children ? VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN : 0;
    if (virDomainSnapshotDelete(snap.get(), flags) < 0)
      fail(s_.get(), "cannot delete " + snap_label(snapshot, dom.get()), op);
  });
}

}  // namespace hyperctl::lv
