// Checkpoints of Hyper-V VMs (the core's snapshots).
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <ctime>
#include <functional>
#include <map>

#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {
namespace {

/// Seconds since the epoch of an ISO 8601 time ("2026-01-02T03:04:05.123Z",
/// an offset, or none: UTC); 0 when it cannot be read.
std::int64_t unix_time(const std::string& iso) {
  std::tm tm{};
  int frac_end = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac_end) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t t = ::timegm(&tm);
  std::size_t pos = static_cast<std::size_t>(frac_end);
  if (pos < iso.size() && iso[pos] == '.')
    for (++pos; pos < iso.size() && std::isdigit(static_cast<unsigned char>(iso[pos]));) ++pos;
  if (pos < iso.size() && (iso[pos] == '+' || iso[pos] == '-')) {
    int hh = 0, mm = 0;
    if (std::sscanf(iso.c_str() + pos + 1, "%2d:%2d", &hh, &mm) == 2) {
      const std::int64_t offset = (hh * 60 + mm) * 60;
      t += iso[pos] == '+' ? -offset : offset;
    }
  }
  return t;
}

}  // namespace

Snapshot snapshot_of(const nlohmann::json& s, const std::string& current) {
  Snapshot snap;
  snap.name = text_field(s, "Name");
  snap.parent = text_field(s, "ParentSnapshotName");
  snap.current = !current.empty() && snap.name == current;
  snap.created_unix = unix_time(text_field(s, "CreationTime"));
  return snap;
}

namespace {

struct Listed {
  std::vector<Snapshot> snapshots;  ///< pre-order
  std::string vm_name;
  nlohmann::json vm;
};

}  // namespace

static Listed list_checkpoints(HypervConnection& c, const VmRef& ref, const std::string& op) {
  Listed out;
  out.vm = c.resolve(ref, op);
  out.vm_name = text_field(out.vm, "Name");
  const auto result =
      c.ps().run("snapshot.list", {{"id", text_field(out.vm, "Id")}}, quoted(out.vm_name));
  const auto items = result.value("snapshots", nlohmann::json::array());
  const std::string current = text_field(result, "current");
  std::vector<Snapshot> all;
  if (items.is_array())
    for (const auto& s : items) all.push_back(snapshot_of(s, current));
  // Pre-order: roots (no parent, or a parent not listed), each followed by
  // its subtree; siblings in the order PowerShell gave them.
  std::map<std::string, bool> known;
  for (const auto& s : all) known[s.name] = true;
  std::vector<bool> done(all.size(), false);
  std::function<void(const std::string&)> visit = [&](const std::string& parent) {
    for (std::size_t i = 0; i < all.size(); ++i)
      if (!done[i] && all[i].parent == parent) {
        done[i] = true;
        out.snapshots.push_back(all[i]);
        visit(all[i].name);
      }
  };
  for (std::size_t i = 0; i < all.size(); ++i)
    if (!done[i] && (all[i].parent.empty() || !known.count(all[i].parent))) {
      done[i] = true;
      out.snapshots.push_back(all[i]);
      visit(all[i].name);
    }
  for (std::size_t i = 0; i < all.size(); ++i)  // a cycle: keep them anyway
    if (!done[i]) out.snapshots.push_back(all[i]);
  return out;
}

/// Checks `name` names exactly one checkpoint of the VM.
static void check_one(const Listed& l, const std::string& name, const std::string& op) {
  std::size_t n = 0;
  for (const auto& s : l.snapshots) n += s.name == name;
  if (n == 0)
    throw Error(ErrorCode::NotFound,
                "VM " + quoted(l.vm_name) + " has no checkpoint " + quoted(name), op);
  if (n > 1)
    throw Error(ErrorCode::Conflict,
                "VM " + quoted(l.vm_name) + " has " + std::to_string(n) + " checkpoints named " +
                    quoted(name) + "; rename or delete the others in Hyper-V Manager first",
                op);
}

std::vector<Snapshot> HypervSnapshotOps::list(const VmRef& vm) {
  return guarded("snapshot.list",
                 [&] { return list_checkpoints(c_, vm, "snapshot.list").snapshots; });
}

Snapshot HypervSnapshotOps::create(const VmRef& vm, const SnapshotSpec& spec) {
  const std::string op = "snapshot.create";
  return guarded(op, [&] {
    if (spec.disk_only)
      throw Error(ErrorCode::Unsupported,
                  "a Hyper-V checkpoint's kind is a setting of the VM (its CheckpointType), "
                  "not of one checkpoint",
                  op);
    if (!spec.description.empty())
      throw Error(ErrorCode::Unsupported, "Hyper-V checkpoints have no description", op);
    // Before PowerShell runs: Hyper-V would take '/' and newlines.
    if (!spec.name.empty()) validate_snapshot_name(spec.name, op);
    const Listed l = list_checkpoints(c_, vm, op);
    std::string name = spec.name;
    if (name.empty()) {
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      ::gmtime_r(&now, &tm);
      char buf[64];
      std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
      name = std::string("checkpoint-") + buf;
    }
    for (const auto& s : l.snapshots)
      if (s.name == name)
        throw Error(ErrorCode::AlreadyExists,
                    "VM " + quoted(l.vm_name) + " already has a checkpoint " + quoted(name), op);
    const auto result =
        c_.ps().run(op, {{"id", text_field(l.vm, "Id")}, {"name", name}}, quoted(l.vm_name));
    Snapshot snap = snapshot_of(result.value("snapshot", nlohmann::json::object()), "");
    if (snap.name.empty()) snap.name = name;
    snap.current = true;
    return snap;
  });
}

void HypervSnapshotOps::revert(const VmRef& vm, const std::string& snapshot) {
  const std::string op = "snapshot.revert";
  guarded(op, [&] {
    const Listed l = list_checkpoints(c_, vm, op);
    check_one(l, snapshot, op);
    c_.ps().run(op, {{"id", text_field(l.vm, "Id")}, {"name", snapshot}}, quoted(l.vm_name));
  });
}

void HypervSnapshotOps::remove(const VmRef& vm, const std::string& snapshot, bool with_children) {
  const std::string op = "snapshot.delete";
  guarded(op, [&] {
    const Listed l = list_checkpoints(c_, vm, op);
    check_one(l, snapshot, op);
    c_.ps().run(
        op, {{"id", text_field(l.vm, "Id")}, {"name", snapshot}, {"with_children", with_children}},
        quoted(l.vm_name));
  });
}

}  // namespace hyperctl::hyperv
