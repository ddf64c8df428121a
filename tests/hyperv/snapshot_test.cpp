// Checkpoints (the core's snapshots) of the Hyper-V backend against fake-pwsh.
#include <set>

#include "support.hpp"

namespace hyperctl::test {
namespace {

class HvSnapshot : public HvFake {
 protected:
  /// A checkpoint record for the stand-in's state.
  static json checkpoint(int n, const std::string& name, const json& parent,
                         const std::string& created) {
    return {{"Id", guid_for(n, 7)},
            {"Name", name},
            {"ParentSnapshotName", parent},
            {"CreationTime", created},
            {"SnapshotType", 0}};
  }

  /// VM "web" (off) with the tree base -> {a -> a1, b}, current a1, listed
  /// children first to check the ordering is ours.
  std::string add_tree() {
    const std::string id = add_vm("web", 3);
    auto& vm = state_["vms"].back();
    vm["Snapshots"] = {checkpoint(4, "a1", "a", "2026-11-20T10:03:00.0000000Z"),
                       checkpoint(3, "b", "base", "2026-11-20T10:02:00.0000000Z"),
                       checkpoint(2, "a", "base", "2026-11-20T10:01:00.0000000Z"),
                       checkpoint(1, "base", nullptr, "2026-11-20T10:00:00.0000000Z")};
    vm["ParentSnapshotName"] = "a1";
    save();
    return id;
  }

  static std::vector<std::string> names(const std::vector<Snapshot>& list) {
    std::vector<std::string> out;
    for (const auto& s : list) out.push_back(s.name);
    return out;
  }
};

TEST_F(HvSnapshot, ListIsATreeInPreOrderWithTheCurrentOne) {
  add_tree();
  auto c = open();
  const auto list = c->snapshots().list("web");
  ASSERT_EQ(names(list), (std::vector<std::string>{"base", "b", "a", "a1"}));
  EXPECT_EQ(list[0].parent, "");
  EXPECT_EQ(list[1].parent, "base");
  EXPECT_EQ(list[3].parent, "a");
  for (const auto& s : list) EXPECT_EQ(s.current, s.name == "a1") << s.name;
  EXPECT_EQ(list[0].created_unix, 1795168800);  // date -u -d 2026-11-20T10:00:00Z +%s
}

TEST_F(HvSnapshot, ListReadsEnumsAsNamesToo) {
  add_tree();
  ::setenv("FAKE_PWSH_STATE_AS", "string", 1);
  auto c = open();
  EXPECT_EQ(c->snapshots().list("web").size(), 4u);
}

TEST_F(HvSnapshot, CreateTakesACheckpointThatBecomesCurrent) {
  add_tree();
  auto c = open();
  const Snapshot s = c->snapshots().create("web", {"before-upgrade", "", false});
  EXPECT_EQ(s.name, "before-upgrade");
  EXPECT_EQ(s.parent, "a1");
  const auto list = c->snapshots().list("web");
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list.back().name, "before-upgrade");
  EXPECT_TRUE(list.back().current);
  EXPECT_GT(list.back().created_unix, 1795168800);
}

TEST_F(HvSnapshot, CreateWithoutANamePicksOne) {
  add_vm("web", 3);
  auto c = open();
  const Snapshot s = c->snapshots().create("web", {});
  EXPECT_EQ(s.name.rfind("checkpoint-", 0), 0u) << s.name;
  EXPECT_EQ(c->snapshots().list("web").at(0).name, s.name);
}

TEST_F(HvSnapshot, CreateRefusesATakenNameAndWhatHyperVCannotDo) {
  add_tree();
  auto c = open();
  EXPECT_ERROR_CODE(c->snapshots().create("web", {"a", "", false}), ErrorCode::AlreadyExists);
  EXPECT_ERROR_CODE(c->snapshots().create("web", {"d", "", true}), ErrorCode::Unsupported);
  EXPECT_ERROR_CODE(c->snapshots().create("web", {"d", "why", false}), ErrorCode::Unsupported);
  EXPECT_ERROR_CODE(c->snapshots().create("nope", {"d", "", false}), ErrorCode::NotFound);
  EXPECT_TRUE(runs("snapshot.create").empty());
}

TEST_F(HvSnapshot, NamesTheCoreRefusesNeverReachPowerShell) {
  add_tree();
  const std::string before = state().dump();
  auto c = open();
  for (const std::string& name : {std::string("a/b"), std::string("x\ny"), std::string("t\tz"),
                                  std::string(256, 'n'), std::string("bad\xff")}) {
    const auto e = error_of([&] { c->snapshots().create("web", {name, "", false}); });
    ASSERT_TRUE(e) << name;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  }
  EXPECT_TRUE(runs("snapshot.create").empty());
  EXPECT_TRUE(runs("snapshot.list").empty()) << "refused before anything ran";
  EXPECT_EQ(state().dump(), before);
  // 255 bytes is still a name.
  c->snapshots().create("web", {std::string(255, 'n'), "", false});
  EXPECT_EQ(runs("snapshot.create").size(), 1u);
}

TEST_F(HvSnapshot, ACheckpointMovesEachDiskOntoADifferencingDiskAndDeleteMergesIt) {
  const std::string id = add_vm("db", 3);
  auto c = open();
  c->snapshots().create("db", {"s1", "", false});
  json vm = vm_state(id);
  const std::string avhdx = vm["HardDrives"][0]["Path"];
  EXPECT_EQ(avhdx.rfind("C:\\VHDs\\db-1_", 0), 0u) << avhdx;
  EXPECT_EQ(avhdx.substr(avhdx.size() - 6), ".avhdx");
  json diff;
  const json after_checkpoint = state();
  for (const auto& v : after_checkpoint["vhds"])
    if (v["Path"] == avhdx) diff = v;
  ASSERT_FALSE(diff.is_null());
  EXPECT_EQ(diff["ParentPath"], "C:\\VHDs\\db-1.vhdx");
  // Reverting discards the differencing disk for a new one on the same parent.
  c->snapshots().revert("db", "s1");
  vm = vm_state(id);
  const std::string again = vm["HardDrives"][0]["Path"];
  EXPECT_NE(again, avhdx);
  const auto paths_now = [&] {
    std::set<std::string> out;
    const json now = state();
    for (const auto& v : now["vhds"]) out.insert(v["Path"].get<std::string>());
    return out;
  };
  std::set<std::string> paths = paths_now();
  EXPECT_FALSE(paths.count(avhdx));
  EXPECT_TRUE(paths.count(again));
  // Deleting the checkpoint merges the disk back: the drive is on the base again.
  c->snapshots().remove("db", "s1", false);
  EXPECT_EQ(vm_state(id)["HardDrives"][0]["Path"], "C:\\VHDs\\db-1.vhdx");
  EXPECT_EQ(paths_now(), std::set<std::string>{"C:\\VHDs\\db-1.vhdx"});
}

TEST_F(HvSnapshot, CheckpointsDisabledIsAConflict) {
  add_vm("web", 3);
  state_["vms"][0]["CheckpointType"] = 2;
  save();
  auto c = open();
  EXPECT_ERROR_CODE(c->snapshots().create("web", {"x", "", false}), ErrorCode::Conflict);
}

TEST_F(HvSnapshot, RevertMakesTheCheckpointCurrent) {
  const std::string id = add_tree();
  auto c = open();
  c->snapshots().revert("web", "b");
  EXPECT_EQ(vm_state(id)["ParentSnapshotName"], "b");
  const auto reverts = runs("snapshot.revert");
  ASSERT_EQ(reverts.size(), 1u);
  EXPECT_EQ(reverts[0]["data"], json({{"id", id}, {"name", "b"}}));
  EXPECT_ERROR_CODE(c->snapshots().revert("web", "zz"), ErrorCode::NotFound);
  EXPECT_EQ(runs("snapshot.revert").size(), 1u);
}

TEST_F(HvSnapshot, DeleteReparentsChildrenOrTakesThemAlong) {
  add_tree();
  auto c = open();
  c->snapshots().remove("web", "a", false);
  auto list = c->snapshots().list("web");
  // a1 moves up to base; siblings keep PowerShell's order (a1 came first).
  ASSERT_EQ(names(list), (std::vector<std::string>{"base", "a1", "b"}));
  EXPECT_EQ(list[1].parent, "base");
  c->snapshots().remove("web", "base", true);
  EXPECT_TRUE(c->snapshots().list("web").empty());
  EXPECT_ERROR_CODE(c->snapshots().remove("web", "base", true), ErrorCode::NotFound);
}

TEST_F(HvSnapshot, TwoCheckpointsOfOneNameAreAmbiguous) {
  add_vm("web", 3);
  auto& vm = state_["vms"].back();
  vm["Snapshots"] = {checkpoint(1, "same", nullptr, "2026-11-20T10:00:00Z"),
                     checkpoint(2, "same", "same", "2026-11-20T10:01:00Z")};
  save();
  auto c = open();
  EXPECT_ERROR_CODE(c->snapshots().revert("web", "same"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(c->snapshots().remove("web", "same", false), ErrorCode::Conflict);
  EXPECT_TRUE(runs("snapshot.revert").empty());
}

TEST_F(HvSnapshot, NamesDifferingOnlyInCaseAreTwoCheckpoints) {
  // Hyper-V keeps both; the backend and the scripts (-ceq) tell them apart.
  const std::string id = add_vm("web", 3);
  auto& vm = state_["vms"].back();
  vm["Snapshots"] = {checkpoint(1, "nightly", nullptr, "2026-11-20T10:00:00Z"),
                     checkpoint(2, "Nightly", "nightly", "2026-11-20T10:01:00Z")};
  save();
  auto c = open();
  c->snapshots().revert("web", "nightly");
  EXPECT_EQ(vm_state(id)["ParentSnapshotName"], "nightly");
  c->snapshots().remove("web", "Nightly", false);
  const auto left = c->snapshots().list("web");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].name, "nightly");
}

TEST_F(HvSnapshot, APowerShellFailureKeepsItsMessage) {
  add_tree();
  auto c = open();
  ::setenv("FAKE_PWSH_FAIL",
           "snapshot.delete|InvalidOperation|The operation cannot be performed while the object "
           "is in use.",
           1);
  const auto e = error_of([&] { c->snapshots().remove("web", "b", false); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(e->detail().find("while the object is in use"), std::string::npos);
}

}  // namespace
}  // namespace hyperctl::test
