// Snapshots of the vSphere backend through the plugin, against govmomi's
// simulator as a vCenter (vpx) and as a standalone ESXi host (esx). Every
// tree is checked through the simulator's second session (show(): govmomi's
// own client reading VirtualMachine.snapshot), not only through the plugin.
//
// What the simulator does and does not do, so that the checks assert only
// what is real: a new snapshot goes under the current one; revert moves the
// current snapshot and restores nothing else (simulator/snapshot.go); a
// snapshot's state is the VM's power state whatever `memory` said; deleting
// one moves its children up and, when it was current, makes its parent
// current; deleting a subtree that holds the current snapshot leaves the
// simulator's current pointing at a removed one (real vSphere moves it to
// the parent), so the suite never does that.
#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using hyperctl::Connection;
using hyperctl::ErrorCode;
using hyperctl::Snapshot;
using hyperctl::SnapshotSpec;
using hyperctl::VmState;
using vsphere_test::json;
using vsphere_test::SimOptions;
using vsphere_test::Simulator;

/// Runs `f`; the hyperctl::Error code it threw (nullopt when none).
template <class F>
std::optional<ErrorCode> code_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const hyperctl::Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return std::nullopt;
}

std::vector<std::string> names(const std::vector<Snapshot>& list) {
  std::vector<std::string> out;
  for (const auto& s : list) out.push_back(s.name);
  return out;
}

/// The second session's tree of a VM as "name{child,child{...}}" strings,
/// roots joined by ' ' (rawName: the name exactly as vSphere stores it).
std::string shape(const json& tree) {
  std::string out;
  for (const auto& s : tree) {
    if (!out.empty()) out += ' ';
    out += s["rawName"].get<std::string>();
    if (!s["children"].empty()) {
      std::string inner = shape(s["children"]);
      for (char& ch : inner)
        if (ch == ' ') ch = ',';
      out += "{" + inner + "}";
    }
  }
  return out;
}

/// The plugin's pre-order list in the same notation (parents rebuild it).
std::string shape(const std::vector<Snapshot>& list, const std::string& parent = "") {
  std::string out;
  for (const auto& s : list)
    if (s.parent == parent) {
      if (!out.empty()) out += ' ';
      out += s.name;
      std::string inner = shape(list, s.name);
      for (char& ch : inner)
        if (ch == ' ') ch = ',';
      if (!inner.empty()) out += "{" + inner + "}";
    }
  return out;
}

/// One VM of the simulator, its snapshots through the second session, and a
/// clean-up that deletes whatever the test left on it.
class VmUnderTest {
 public:
  VmUnderTest(Simulator& sim, Connection& c, std::size_t index) : sim_(sim), c_(c) {
    const json inv = sim.show();
    std::vector<std::string> on;
    for (const auto& vm : inv["vms"])
      if (vm["powerState"] == "poweredOn" && !vm["template"].get<bool>())
        on.push_back(vm["name"].get<std::string>());
    if (on.empty()) throw std::runtime_error("no running VM in the simulator: " + inv.dump());
    name_ = on[index % on.size()];
    clear();
  }
  ~VmUnderTest() {
    try {
      clear();
    } catch (...) {
    }
  }
  const std::string& name() const { return name_; }
  json seen() const { return sim_.find_vm(name_); }
  std::string seen_shape() const { return shape(seen()["snapshots"]); }
  std::string seen_current() const { return seen()["currentSnapshot"].get<std::string>(); }

 private:
  /// The current snapshot goes first, one at a time (its children move up
  /// and its parent becomes current) until none is current; then whole
  /// subtrees, which no longer hold the current one.
  void clear() {
    for (int guard = 0; guard < 64; ++guard) {
      const auto list = c_.snapshots().list(name_);
      if (list.empty()) return;
      const Snapshot* target = &list.front();
      bool current = false;
      for (const auto& s : list)
        if (s.current) target = &s, current = true;
      c_.snapshots().remove(name_, target->name, !current);
    }
  }

  Simulator& sim_;
  Connection& c_;
  std::string name_;
};

/// show() reports currentSnapshot decoded as if it were an inventory name
/// (%25, %2f, %5c as '%', '/', '\\'); snapshot names are stored as given.
std::string as_show_decodes(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const std::string next = name.substr(i, 3);
    if (next == "%25" || next == "%2f" || next == "%2F" || next == "%5c" || next == "%5C") {
      out += next == "%25" ? '%' : (next[1] == '2' ? '/' : '\\');
      i += 2;
    } else {
      out += name[i];
    }
  }
  return out;
}

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------
// The checks, each run against both kinds of endpoint.

void tree_current_and_revert(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 0);
  ASSERT_EQ(vm.seen_shape(), "");
  EXPECT_TRUE(c->snapshots().list(vm.name()).empty());

  const std::int64_t before = now_unix();
  const Snapshot a = c->snapshots().create(vm.name(), {"A", "the first one", false});
  EXPECT_EQ(a.name, "A");
  EXPECT_EQ(a.description, "the first one");
  EXPECT_EQ(a.parent, "");
  EXPECT_TRUE(a.current);
  EXPECT_EQ(a.vm_state, VmState::Running);
  EXPECT_FALSE(a.disk_only);
  EXPECT_GE(a.created_unix, before - 5);
  EXPECT_LE(a.created_unix, now_unix() + 5);

  const Snapshot b = c->snapshots().create(vm.name(), {"B", "", false});
  EXPECT_EQ(b.parent, "A");
  EXPECT_EQ(vm.seen_shape(), "A{B}");
  EXPECT_EQ(vm.seen_current(), "B");

  c->snapshots().revert(vm.name(), "A");
  EXPECT_EQ(vm.seen_current(), "A");
  auto list = c->snapshots().list(vm.name());
  ASSERT_EQ(names(list), (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(list[0].current);
  EXPECT_FALSE(list[1].current);

  const Snapshot cc = c->snapshots().create(vm.name(), {"C", "", false});
  EXPECT_EQ(cc.parent, "A");
  list = c->snapshots().list(vm.name());
  ASSERT_EQ(names(list), (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(list[1].parent, "A");
  EXPECT_EQ(list[2].parent, "A");
  for (const auto& s : list) EXPECT_EQ(s.current, s.name == "C") << s.name;
  EXPECT_EQ(shape(list), "A{B,C}");
  EXPECT_EQ(vm.seen_shape(), "A{B,C}");
  EXPECT_EQ(vm.seen_current(), "C");
  const json seen = vm.seen();
  EXPECT_EQ(seen["snapshots"][0]["description"], "the first one");
  EXPECT_EQ(seen["snapshots"][0]["state"], "poweredOn");

  // A revert to a snapshot in another branch moves the current one there.
  c->snapshots().revert(vm.name(), "B");
  EXPECT_EQ(vm.seen_current(), "B");
  for (const auto& s : c->snapshots().list(vm.name())) EXPECT_EQ(s.current, s.name == "B");
}

void delete_one_moves_its_children_up(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 1);
  c->snapshots().create(vm.name(), {"R", "", false});
  c->snapshots().create(vm.name(), {"A", "", false});
  c->snapshots().create(vm.name(), {"B", "", false});
  c->snapshots().revert(vm.name(), "A");
  c->snapshots().create(vm.name(), {"C", "", false});
  ASSERT_EQ(vm.seen_shape(), "R{A{B,C}}");

  c->snapshots().remove(vm.name(), "A", false);
  EXPECT_EQ(vm.seen_shape(), "R{B,C}");
  const auto list = c->snapshots().list(vm.name());
  EXPECT_EQ(shape(list), "R{B,C}");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].parent, "R");
  EXPECT_EQ(list[2].parent, "R");
  EXPECT_EQ(vm.seen_current(), "C");

  // Deleting the current one makes its parent current.
  c->snapshots().remove(vm.name(), "C", false);
  EXPECT_EQ(vm.seen_shape(), "R{B}");
  EXPECT_EQ(vm.seen_current(), "R");
  for (const auto& s : c->snapshots().list(vm.name())) EXPECT_EQ(s.current, s.name == "R");
}

void delete_with_children_removes_the_subtree(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 2);
  c->snapshots().create(vm.name(), {"R", "", false});
  c->snapshots().create(vm.name(), {"A", "", false});
  c->snapshots().create(vm.name(), {"B", "", false});
  c->snapshots().revert(vm.name(), "R");
  c->snapshots().create(vm.name(), {"S", "", false});
  ASSERT_EQ(vm.seen_shape(), "R{A{B},S}");

  c->snapshots().remove(vm.name(), "A", true);
  EXPECT_EQ(vm.seen_shape(), "R{S}");
  EXPECT_EQ(shape(c->snapshots().list(vm.name())), "R{S}");
  EXPECT_EQ(vm.seen_current(), "S");
  // The removed ones are gone by name too.
  EXPECT_EQ(code_of([&] { c->snapshots().revert(vm.name(), "B"); }), ErrorCode::NotFound);

  c->snapshots().revert(vm.name(), "R");
  c->snapshots().remove(vm.name(), "R", true);
  EXPECT_EQ(vm.seen_shape(), "");
  EXPECT_EQ(vm.seen_current(), "");
  EXPECT_TRUE(c->snapshots().list(vm.name()).empty());
}

void duplicate_and_missing_names(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 3);
  c->snapshots().create(vm.name(), {"D", "", false});
  std::string message;
  EXPECT_EQ(code_of(
                [&] {
                  c->snapshots().create(vm.name(), {"D", "again", false});
                },
                &message),
            ErrorCode::AlreadyExists);
  EXPECT_NE(message.find("'D'"), std::string::npos) << message;
  EXPECT_NE(message.find(vm.name()), std::string::npos) << message;
  EXPECT_EQ(vm.seen_shape(), "D");

  for (int with_children = 0; with_children < 2; ++with_children) {
    EXPECT_EQ(code_of([&] { c->snapshots().remove(vm.name(), "nope", with_children); }, &message),
              ErrorCode::NotFound);
    EXPECT_NE(message.find("'nope'"), std::string::npos) << message;
    EXPECT_NE(message.find(vm.name()), std::string::npos) << message;
  }
  EXPECT_EQ(code_of([&] { c->snapshots().revert(vm.name(), "nope"); }, &message),
            ErrorCode::NotFound);
  EXPECT_NE(message.find("'nope'"), std::string::npos) << message;
  // Names are exact: no case folding, no trimming.
  EXPECT_EQ(code_of([&] { c->snapshots().revert(vm.name(), "d"); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { c->snapshots().revert(vm.name(), "D "); }), ErrorCode::NotFound);
  EXPECT_EQ(vm.seen_shape(), "D");
  EXPECT_EQ(vm.seen_current(), "D");

  // A VM that does not exist.
  EXPECT_EQ(code_of([&] { c->snapshots().list("no-such-vm"); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("no-such-vm"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] {
              c->snapshots().create("no-such-vm", {"x", "", false});
            }),
            ErrorCode::NotFound);
}

void hostile_names_round_trip(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 0);
  // Hostile, yet within the core's rule for snapshot names (no '/', no
  // control characters).
  const std::string name = "q\"'<b>&amp; $(touch ~pwned); `id` | ;\\ %2f %25 é中 ]]>";
  const std::string description = "line one\nline <two> & \"three\"\ttab";
  const Snapshot s = c->snapshots().create(vm.name(), {name, description, false});
  EXPECT_EQ(s.name, name);
  EXPECT_EQ(s.description, description);
  const json seen = vm.seen();
  ASSERT_EQ(seen["snapshots"].size(), 1u) << seen.dump(1);
  EXPECT_EQ(seen["snapshots"][0]["rawName"], name);  // stored as given, not encoded
  EXPECT_EQ(seen["snapshots"][0]["description"], description);
  const auto list = c->snapshots().list(vm.name());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, name);
  EXPECT_EQ(list[0].description, description);

  // A child under it, then addressed by the hostile name.
  c->snapshots().create(vm.name(), {"child", "", false});
  c->snapshots().revert(vm.name(), name);
  EXPECT_EQ(vm.seen_current(), as_show_decodes(name));
  EXPECT_EQ(c->snapshots().list(vm.name()).at(1).parent, name);
  EXPECT_EQ(code_of([&] {
              c->snapshots().create(vm.name(), {name, "", false});
            }),
            ErrorCode::AlreadyExists);
  // Removed by the hostile name while "child" is current: the simulator
  // (govmomi 0.24, Debian 12) panics when the snapshot removed is the current
  // one and a root (it sets the current snapshot to nothing); the connection
  // drops and, a vim25 call never being sent twice, the removal would fail.
  c->snapshots().revert(vm.name(), "child");
  c->snapshots().remove(vm.name(), name, false);
  EXPECT_EQ(vm.seen_shape(), "child");

  // A name XML cannot carry is refused before anything is sent.
  std::string message;
  EXPECT_EQ(code_of(
                [&] {
                  c->snapshots().create(vm.name(), {std::string("nul\0x", 5), "", false});
                },
                &message),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] {
              c->snapshots().create(vm.name(), {"bad \xff utf8", "", false});
            }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(vm.seen_shape(), "child");
}

/// Names the core's rule refuses ('/', control characters, invalid UTF-8,
/// more than 255 bytes): InvalidArgument, and no snapshot is made (the tree
/// as the second session sees it is unchanged).
void invalid_names_make_nothing(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 0);
  c->snapshots().create(vm.name(), {"base", "", false});
  ASSERT_EQ(vm.seen_shape(), "base");
  for (const std::string& bad :
       {std::string("a/b"), std::string("/"), std::string("line\nbreak"), std::string("tab\there"),
        std::string("cr\rhere"), std::string("del\x7f"), std::string("esc\x1b[31m"),
        std::string("bad \xff utf8"), std::string(256, 'x')}) {
    SCOPED_TRACE(bad);
    std::string message;
    EXPECT_EQ(code_of(
                  [&] {
                    c->snapshots().create(vm.name(), {bad, "", false});
                  },
                  &message),
              ErrorCode::InvalidArgument);
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(vm.seen_shape(), "base");
  }
  // 255 bytes is allowed.
  const std::string longest(255, 'y');
  c->snapshots().create(vm.name(), {longest, "", false});
  EXPECT_EQ(vm.seen_shape(), "base{" + longest + "}");
}

void unnamed_snapshot_gets_a_dated_name(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 1);
  const Snapshot first = c->snapshots().create(vm.name(), {});
  EXPECT_TRUE(std::regex_match(first.name, std::regex("snap-[0-9]{8}-[0-9]{6}"))) << first.name;
  // Two in the same second do not clash.
  const Snapshot second = c->snapshots().create(vm.name(), {});
  EXPECT_NE(second.name, first.name);
  EXPECT_EQ(second.name.rfind("snap-", 0), 0u) << second.name;
  EXPECT_EQ(vm.seen_shape(), first.name + "{" + second.name + "}");
}

void disk_only_snapshot_of_a_stopped_vm(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 2);
  c->vms().power_off(vm.name());
  struct Restart {
    Connection& c;
    std::string name;
    ~Restart() {
      try {
        c.vms().start(name);
      } catch (...) {
      }
    }
  } restart{*c, vm.name()};
  ASSERT_EQ(vm.seen()["powerState"], "poweredOff");
  const Snapshot s = c->snapshots().create(vm.name(), {"cold", "", true});
  EXPECT_EQ(s.vm_state, VmState::Off);
  EXPECT_TRUE(s.disk_only);
  const json seen = vm.seen();
  ASSERT_EQ(seen["snapshots"].size(), 1u);
  EXPECT_EQ(seen["snapshots"][0]["state"], "poweredOff");
}

/// vSphere lets two snapshots of one VM share a name; the plugin refuses to
/// make one, but another client can (here: two creates racing, each checked
/// before the other's snapshot existed, held apart by a delay the simulator
/// puts before CreateSnapshot_Task). Addressing the name is then a Conflict
/// and changes nothing.
void duplicate_names_in_the_tree_are_a_conflict(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 3);
  c->snapshots().create(vm.name(), {"P", "", false});
  auto c2 = sim.connect();
  sim.inject("CreateSnapshot_Task=delay:1500ms*2");
  std::optional<ErrorCode> second;
  std::thread other([&] {
    second = code_of([&] { c2->snapshots().create(vm.name(), {"twin", "", false}); });
  });
  const auto first = code_of([&] { c->snapshots().create(vm.name(), {"twin", "", false}); });
  other.join();
  sim.clear_injections();
  ASSERT_EQ(first, std::nullopt);
  ASSERT_EQ(second, std::nullopt) << "the second create was not held long enough to race";
  ASSERT_EQ(vm.seen_shape(), "P{twin{twin}}");

  std::string message;
  EXPECT_EQ(code_of([&] { c->snapshots().revert(vm.name(), "twin"); }, &message),
            ErrorCode::Conflict);
  EXPECT_NE(message.find("2 snapshots named 'twin'"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { c->snapshots().remove(vm.name(), "twin", false); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { c->snapshots().remove(vm.name(), "twin", true); }), ErrorCode::Conflict);
  EXPECT_EQ(vm.seen_shape(), "P{twin{twin}}");
  // The list shows both.
  EXPECT_EQ(names(c->snapshots().list(vm.name())), (std::vector<std::string>{"P", "twin", "twin"}));
  // Clean-up through the unique parent (made current first: see the header).
  c->snapshots().revert(vm.name(), "P");
  c->snapshots().remove(vm.name(), "P", true);
  EXPECT_EQ(vm.seen_shape(), "");
}

/// A SOAP fault or a broken answer on any step is an Error with the
/// server's message, and the tree is as it was.
void failures_change_nothing(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 1);
  c->snapshots().create(vm.name(), {"R", "", false});
  c->snapshots().create(vm.name(), {"A", "", false});
  ASSERT_EQ(vm.seen_shape(), "R{A}");
  struct Clear {
    Simulator& sim;
    ~Clear() {
      try {
        sim.clear_injections();
      } catch (...) {
      }
    }
  } clear{sim};

  std::string message;
  sim.inject("CreateSnapshot_Task=fault*1");
  EXPECT_EQ(code_of(
                [&] {
                  c->snapshots().create(vm.name(), {"B", "", false});
                },
                &message),
            ErrorCode::BackendFailure);
  EXPECT_NE(message.find("injected fault"), std::string::npos) << message;
  EXPECT_NE(message.find("snapshot.create"), std::string::npos) << message;
  sim.inject("RevertToSnapshot_Task=fault*1");
  EXPECT_EQ(code_of([&] { c->snapshots().revert(vm.name(), "R"); }, &message),
            ErrorCode::BackendFailure);
  EXPECT_NE(message.find("injected fault"), std::string::npos) << message;
  sim.inject("RemoveSnapshot_Task=fault*1");
  EXPECT_EQ(code_of([&] { c->snapshots().remove(vm.name(), "R", true); }, &message),
            ErrorCode::BackendFailure);
  sim.inject("RetrievePropertiesEx=truncated*1");
  EXPECT_EQ(code_of([&] { c->snapshots().list(vm.name()); }, &message), ErrorCode::BackendFailure);
  EXPECT_NE(message.find("malformed"), std::string::npos) << message;
  sim.inject("RemoveSnapshot_Task=html500*1");
  EXPECT_TRUE(code_of([&] { c->snapshots().remove(vm.name(), "A", false); }).has_value());
  sim.clear_injections();
  EXPECT_EQ(vm.seen_shape(), "R{A}");
  EXPECT_EQ(vm.seen_current(), "A");
  EXPECT_EQ(shape(c->snapshots().list(vm.name())), "R{A}");
}

/// The CLI end to end: exit statuses of the error codes, JSON tree output.
void through_the_cli(Simulator& sim) {
  auto c = sim.connect();
  VmUnderTest vm(sim, *c, 2);
  const std::string uri = sim.uri();
  auto r = sim.cli({"-c", uri, "snapshot", "create", vm.name(), "--name", "cli <one>"});
  ASSERT_EQ(r.status, 0) << r;
  r = sim.cli({"-c", uri, "snapshot", "create", vm.name(), "--name", "cli <one>"});
  EXPECT_EQ(r.status, 6) << r;  // AlreadyExists
  r = sim.cli({"-c", uri, "snapshot", "revert", vm.name(), "missing"});
  EXPECT_EQ(r.status, 3) << r;  // NotFound
  EXPECT_NE(r.err.find("'missing'"), std::string::npos) << r;
  r = sim.cli({"-c", uri, "-o", "json", "snapshot", "list", vm.name()});
  ASSERT_EQ(r.status, 0) << r;
  const json doc = json::parse(r.out);
  ASSERT_EQ(doc["snapshots"].size(), 1u) << r.out;
  EXPECT_EQ(doc["snapshots"][0]["name"], "cli <one>");
  EXPECT_EQ(doc["snapshots"][0]["current"], true);
  r = sim.cli({"-c", uri, "snapshot", "delete", vm.name(), "cli <one>"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(vm.seen_shape(), "");
}

void capabilities_are_the_snapshot_operations(Simulator&) {
  const auto caps = vsphere_test::registry().backend_for("vsphere").capabilities();
  for (auto op : {hyperctl::Operation::SnapshotList, hyperctl::Operation::SnapshotCreate,
                  hyperctl::Operation::SnapshotRevert, hyperctl::Operation::SnapshotDelete})
    EXPECT_TRUE(caps.has(op)) << hyperctl::to_string(op);
}

// ---------------------------------------------------------------------------

class VpxSnapshot : public vsphere_test::SimTest<VpxSnapshot> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 2}; }
};
class EsxSnapshot : public vsphere_test::SimTest<EsxSnapshot> {
 public:
  static SimOptions sim_options() { return {.mode = "esx", .vms = 4}; }
};

#define VSPHERE_SNAPSHOT_TEST(Name, check) \
  TEST_F(VpxSnapshot, Name) {              \
    check(sim());                          \
  }                                        \
  TEST_F(EsxSnapshot, Name) {              \
    check(sim());                          \
  }

VSPHERE_SNAPSHOT_TEST(TreeCurrentAndRevert, tree_current_and_revert)
VSPHERE_SNAPSHOT_TEST(DeleteOneMovesItsChildrenUp, delete_one_moves_its_children_up)
VSPHERE_SNAPSHOT_TEST(DeleteWithChildrenRemovesTheSubtree, delete_with_children_removes_the_subtree)
VSPHERE_SNAPSHOT_TEST(DuplicateAndMissingNames, duplicate_and_missing_names)
VSPHERE_SNAPSHOT_TEST(HostileNamesRoundTrip, hostile_names_round_trip)
VSPHERE_SNAPSHOT_TEST(UnnamedSnapshotGetsADatedName, unnamed_snapshot_gets_a_dated_name)
VSPHERE_SNAPSHOT_TEST(InvalidNamesMakeNothing, invalid_names_make_nothing)
VSPHERE_SNAPSHOT_TEST(DiskOnlySnapshotOfAStoppedVm, disk_only_snapshot_of_a_stopped_vm)
VSPHERE_SNAPSHOT_TEST(DuplicateNamesInTheTreeAreAConflict,
                      duplicate_names_in_the_tree_are_a_conflict)
VSPHERE_SNAPSHOT_TEST(FailuresChangeNothing, failures_change_nothing)
VSPHERE_SNAPSHOT_TEST(ThroughTheCli, through_the_cli)
VSPHERE_SNAPSHOT_TEST(CapabilitiesAreTheSnapshotOperations,
                      capabilities_are_the_snapshot_operations)

}  // namespace
