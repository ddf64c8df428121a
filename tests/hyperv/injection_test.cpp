// The issue's injection acceptance, one row per operation the backend
// declares: with VM, switch, checkpoint names and VHD paths holding one
// hostile character at a time (then all together), every operation runs
// through the plugin against the stand-in PowerShell (tests/hyperv/fake),
// and its log (FAKE_PWSH_LOG) shows that
//   (a) the values arrived in the request's data byte for byte,
//   (b) the command line was the same for every run and every name: the
//       fixed flags and -EncodedCommand of scripts/bootstrap.ps1, computed
//       here independently,
//   (c) the script the stand-in received is the operation's own file
//       (script_ok), the same for every name as for a plain one.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl {
inline void PrintTo(ErrorCode code, std::ostream* os) {
  *os << to_string(code);
}
}  // namespace hyperctl

namespace hyperctl::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

Registry& registry() {
  static Registry r({HYPERCTL_TEST_HYPERV_PLUGIN_DIR});
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- what the command line must be, computed without the backend's code ----

std::string base64(const std::string& bytes) {
  static const char* const k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

/// UTF-8 → UTF-16LE bytes (the text is checked UTF-8 by the test below).
std::string utf16le(const std::string& utf8) {
  std::string out;
  for (std::size_t i = 0; i < utf8.size();) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    unsigned cp = 0;
    int more = 0;
    if (c < 0x80)
      cp = c;
    else if ((c >> 5) == 6)
      cp = c & 0x1F, more = 1;
    else if ((c >> 4) == 14)
      cp = c & 0x0F, more = 2;
    else
      cp = c & 0x07, more = 3;
    for (int j = 1; j <= more; ++j)
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + j]) & 0x3F);
    i += 1 + more;
    auto put = [&](unsigned u) {
      out += static_cast<char>(u & 0xFF);
      out += static_cast<char>(u >> 8);
    };
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put(0xD800 + (cp >> 10));
      put(0xDC00 + (cp & 0x3FF));
    } else {
      put(cp);
    }
  }
  return out;
}

std::vector<std::string> expected_argv() {
  const std::string bootstrap = read_file(fs::path(HYPERCTL_TEST_HYPERV_SCRIPTS) / "bootstrap.ps1");
  return {HYPERCTL_TEST_FAKE_PWSH, "-NoLogo", "-NoProfile",      "-NonInteractive",
          "-ExecutionPolicy",      "Bypass",  "-EncodedCommand", base64(utf16le(bootstrap))};
}

// ---- the names ----

struct Name {
  std::string label;  ///< for test output
  std::string text;   ///< the name itself
};

const std::vector<std::string> kHostile = {
    "'",        "\"",          "`",  "$(whoami)",    ";",
    "|",        "&",           "\n", "\xE2\x80\x98", "\xE2\x80\x99",
    "\xC3\xBC", "\xE5\x90\x8D"};

std::vector<Name> names() {
  std::vector<Name> out = {{"plain", "plain-name"}};
  std::string all;
  for (std::size_t i = 0; i < kHostile.size(); ++i) {
    out.push_back({"hostile #" + std::to_string(i + 1), "n" + kHostile[i] + "x"});
    all += kHostile[i];
  }
  out.push_back({"all together", "all " + all + " end"});
  return out;
}

/// Characters Windows refuses in a file name: a VHD path holding one can
/// never exist there, so the backend may refuse it before running anything.
bool windows_file_name_refuses(const std::string& name) {
  for (unsigned char ch : name)
    if (ch < 0x20 || std::string("\"<>|?*").find(static_cast<char>(ch)) != std::string::npos)
      return true;
  return false;
}

/// Characters no snapshot name may hold (hyperctl/rules.hpp's
/// validate_snapshot_name): the backend refuses such a checkpoint name first.
bool snapshot_name_refuses(const std::string& name) {
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7f || ch == '/') return true;
  return false;
}

const char* const kVmId = "7c0ffee0-0000-4000-8000-000000000001";
const char* const kPeerVmId = "7c0ffee0-0000-4000-8000-000000000002";
const char* const kVhdFolder = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks";

/// What a row's call works on: the connection, a second host (HV02, for
/// migration) and this run's name.
struct Ctx {
  Connection& c;
  Connection& peer;
  std::string name;  ///< VM, switch, checkpoint name and VHD file stem
  fs::path share;    ///< a local folder both hosts reach (offline migration)
  std::string vhd_file() const { return name + ".vhdx"; }
  std::string vhd_path() const { return std::string(kVhdFolder) + "\\" + vhd_file(); }
  std::string spare_file() const { return name + "-spare.vhdx"; }
  std::string spare_path() const { return std::string(kVhdFolder) + "\\" + spare_file(); }
};

/// An expected data field of a run of the row's op: a JSON pointer into
/// "data" and the value it must hold.
using Expect = std::vector<std::pair<std::string, json>>;

struct Row {
  std::string label;
  Operation capability;  ///< the declared operation this row exercises
  std::string op;        ///< the PROTOCOL op that must run
  int vm_state;          ///< the VM's State before the call (Hyper-V VMState)
  bool uses_vhd_path;    ///< the name reaches a Windows file name
  std::function<void(Ctx&)> call;
  std::function<Expect(const Ctx&)> expect;
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << row.label << " (" << row.op << ")";
}

constexpr int kRunning = 2, kOff = 3, kPaused = 9;

Expect id_only(const Ctx&) {
  return {{"/id", kVmId}};
}

std::vector<Row> rows() {
  std::vector<Row> r;
  r.push_back({"vm_list", Operation::VmList, "vm.list", kOff, false,
               [](Ctx& x) {
                 const auto vms = x.c.vms().list({});
                 ASSERT_EQ(vms.size(), 1u);
                 EXPECT_EQ(vms[0].name, x.name) << "the name came back byte for byte";
                 ASSERT_EQ(vms[0].nics.size(), 1u);
                 EXPECT_EQ(vms[0].nics[0].network, x.name);
                 ASSERT_EQ(vms[0].disks.size(), 1u);
                 EXPECT_EQ(vms[0].disks[0].path, x.vhd_path());
               },
               [](const Ctx&) { return Expect{}; }});
  r.push_back({"vm_get_by_name", Operation::VmGet, "vm.list", kOff, false,
               [](Ctx& x) { EXPECT_EQ(x.c.vms().get(x.name).id, kVmId); },
               [](const Ctx&) { return Expect{}; }});
  // (The host already has a VM of the name: a new one is "<name>-new".)
  r.push_back({"vm_create_existing_vhd", Operation::VmCreate, "vm.create", kOff, false,
               [](Ctx& x) {
                 VmSpec s;
                 s.name = x.name + "-new";
                 s.vcpus = 2;
                 s.memory_bytes = 1ull << 30;
                 DiskSpec d;
                 d.path = x.vhd_path();
                 s.disks.push_back(d);
                 s.networks.push_back(x.name);
                 EXPECT_EQ(x.c.vms().create(s).name, x.name + "-new");
               },
               [](const Ctx& x) {
                 return Expect{{"/name", x.name + "-new"},
                               {"/vhd_path", x.vhd_path()},
                               {"/switch", x.name},
                               {"/vcpus", 2},
                               {"/memory_bytes", 1ull << 30}};
               }});
  r.push_back({"vm_create_existing_volume", Operation::VmCreate, "vm.create", kOff, true,
               [](Ctx& x) {
                 VmSpec s;
                 s.name = x.name + "-new";
                 DiskSpec d;
                 d.pool = "vhd";
                 d.volume = x.spare_file();
                 s.disks.push_back(d);
                 EXPECT_EQ(x.c.vms().create(s).name, x.name + "-new");
               },
               [](const Ctx& x) {
                 return Expect{{"/name", x.name + "-new"}, {"/vhd_path", x.spare_path()}};
               }});
  r.push_back({"vm_create_new_vhd", Operation::VmCreate, "vm.create", kOff, true,
               [](Ctx& x) {
                 VmSpec s;
                 s.name = x.name + "-new";
                 DiskSpec d;
                 d.size_bytes = 8ull << 30;
                 s.disks.push_back(d);
                 EXPECT_EQ(x.c.vms().create(s).name, x.name + "-new");
               },
               [](const Ctx& x) {
                 return Expect{
                     {"/name", x.name + "-new"},
                     {"/new_vhd_path", std::string(kVhdFolder) + "\\" + x.name + "-new.vhdx"},
                     {"/new_vhd_bytes", 8ull << 30}};
               }});
  r.push_back({"vm_start", Operation::VmStart, "vm.start", kOff, false,
               [](Ctx& x) { x.c.vms().start(x.name); }, id_only});
  r.push_back({"vm_shutdown", Operation::VmShutdown, "vm.shutdown", kRunning, false,
               [](Ctx& x) {
                 ShutdownOptions o;
                 o.timeout = std::chrono::seconds(30);
                 x.c.vms().shutdown(x.name, o, {}, CancelToken{});
               },
               id_only});
  r.push_back({"vm_poweroff", Operation::VmPowerOff, "vm.poweroff", kRunning, false,
               [](Ctx& x) { x.c.vms().power_off(x.name); }, id_only});
  r.push_back({"vm_reboot", Operation::VmReboot, "vm.reboot", kRunning, false,
               [](Ctx& x) { x.c.vms().reboot(x.name); }, id_only});
  r.push_back({"vm_reset", Operation::VmReset, "vm.reset", kRunning, false,
               [](Ctx& x) { x.c.vms().reset(x.name); }, id_only});
  r.push_back({"vm_suspend", Operation::VmSuspend, "vm.suspend", kRunning, false,
               [](Ctx& x) { x.c.vms().suspend(x.name); }, id_only});
  r.push_back({"vm_resume", Operation::VmResume, "vm.resume", kPaused, false,
               [](Ctx& x) { x.c.vms().resume(x.name); }, id_only});
  r.push_back({"vm_save", Operation::VmSave, "vm.save", kRunning, false,
               [](Ctx& x) { x.c.vms().save(x.name); }, id_only});
  r.push_back({"vm_delete", Operation::VmDelete, "vm.delete", kOff, false,
               [](Ctx& x) {
                 DeleteOptions o;
                 o.snapshots = true;  // the VM has a checkpoint
                 x.c.vms().remove(x.name, o);
               },
               [](const Ctx&) {
                 return Expect{{"/id", kVmId}, {"/with_storage", false}, {"/snapshots", true}};
               }});
  r.push_back({"vm_delete_with_storage", Operation::VmDeleteWithStorage, "vm.delete", kOff, false,
               [](Ctx& x) {
                 DeleteOptions o;
                 o.with_storage = true;
                 o.snapshots = true;
                 const DeleteReport report = x.c.vms().remove(x.name, o);
                 EXPECT_EQ(report.deleted.size(), 1u);
               },
               [](const Ctx&) {
                 return Expect{{"/id", kVmId}, {"/with_storage", true}, {"/snapshots", true}};
               }});
  r.push_back({"vm_set", Operation::VmSetResources, "vm.set", kOff, false,
               [](Ctx& x) {
                 ResourceSettings s;
                 s.vcpus = 4;
                 EXPECT_EQ(x.c.vms().set_resources(x.name, s).vcpus, 4u);
               },
               [](const Ctx&) {
                 return Expect{{"/id", kVmId}, {"/vcpus", 4}};
               }});
  r.push_back({"vm_export_config", Operation::VmExportConfig, "vm.export-config", kOff, false,
               [](Ctx& x) {
                 const json doc = json::parse(x.c.vms().export_config(x.name));
                 EXPECT_NE(doc.dump().find(json(x.name).dump()), std::string::npos) << doc.dump();
               },
               id_only});
  r.push_back({"snapshot_list", Operation::SnapshotList, "snapshot.list", kOff, false,
               [](Ctx& x) {
                 const auto snaps = x.c.snapshots().list(x.name);
                 ASSERT_EQ(snaps.size(), 1u);
                 EXPECT_EQ(snaps[0].name, x.name);
               },
               id_only});
  r.push_back({"snapshot_create", Operation::SnapshotCreate, "snapshot.create", kOff, false,
               [](Ctx& x) {
                 SnapshotSpec s;
                 s.name = x.name + "-2";
                 EXPECT_EQ(x.c.snapshots().create(x.name, s).name, x.name + "-2");
               },
               [](const Ctx& x) {
                 return Expect{{"/id", kVmId}, {"/name", x.name + "-2"}};
               }});
  r.push_back({"snapshot_revert", Operation::SnapshotRevert, "snapshot.revert", kOff, false,
               [](Ctx& x) { x.c.snapshots().revert(x.name, x.name); },
               [](const Ctx& x) {
                 return Expect{{"/id", kVmId}, {"/name", x.name}};
               }});
  r.push_back({"snapshot_delete", Operation::SnapshotDelete, "snapshot.delete", kOff, false,
               [](Ctx& x) { x.c.snapshots().remove(x.name, x.name, false); },
               [](const Ctx& x) {
                 return Expect{{"/id", kVmId}, {"/name", x.name}, {"/with_children", false}};
               }});
  r.push_back({"network_list", Operation::NetworkList, "network.list", kOff, false,
               [](Ctx& x) {
                 std::set<std::string> seen;
                 for (const auto& n : x.c.networks().list()) seen.insert(n.name);
                 EXPECT_TRUE(seen.count(x.name)) << "the switch name came back byte for byte";
               },
               [](const Ctx&) { return Expect{}; }});
  r.push_back({"network_info", Operation::NetworkInfo, "network.list", kOff, false,
               [](Ctx& x) { EXPECT_EQ(x.c.networks().get(x.name).name, x.name); },
               [](const Ctx&) { return Expect{}; }});
  r.push_back({"host_info", Operation::HostInfo, "host.info", kOff, false,
               [](Ctx& x) { EXPECT_EQ(x.c.host().info().hostname, "HV01"); },
               [](const Ctx&) { return Expect{}; }});

  // Storage: pools are the host's folders, a volume a file in one.
  r.push_back({"pool_list", Operation::PoolList, "pool.list", kOff, false,
               [](Ctx& x) { EXPECT_FALSE(x.c.storage().list_pools().empty()); },
               [](const Ctx&) { return Expect{}; }});
  r.push_back({"pool_info", Operation::PoolInfo, "pool.list", kOff, false,
               [](Ctx& x) { EXPECT_EQ(x.c.storage().get_pool("vhd").path, kVhdFolder); },
               [](const Ctx&) { return Expect{}; }});
  r.push_back({"volume_list", Operation::VolumeList, "volume.list", kOff, false,
               [](Ctx& x) {
                 std::set<std::string> seen;
                 for (const auto& v : x.c.storage().list_volumes("vhd")) seen.insert(v.name);
                 // A volume goes by its file's stem.
                 EXPECT_EQ(seen, (std::set<std::string>{x.name, x.name + "-spare"}));
               },
               [](const Ctx&) {
                 return Expect{{"/path", kVhdFolder}};
               }});
  r.push_back({"volume_info", Operation::VolumeInfo, "volume.get", kOff, true,
               [](Ctx& x) {
                 const Volume v = x.c.storage().get_volume("vhd", x.vhd_file());
                 EXPECT_EQ(v.path, x.vhd_path());
                 EXPECT_EQ(v.used_by, std::vector<std::string>{x.name});
               },
               [](const Ctx& x) {
                 return Expect{{"/path", x.vhd_path()}};
               }});
  r.push_back({"volume_create", Operation::VolumeCreate, "volume.create", kOff, true,
               [](Ctx& x) {
                 VolumeSpec s;
                 s.name = x.name + "-made.vhdx";
                 s.pool = "vhd";
                 s.capacity_bytes = 1ull << 30;
                 EXPECT_EQ(x.c.storage().create_volume(s).name, x.name + "-made.vhdx");
               },
               [](const Ctx& x) {
                 return Expect{{"/path", std::string(kVhdFolder) + "\\" + x.name + "-made.vhdx"},
                               {"/size_bytes", 1ull << 30}};
               }});
  r.push_back({"volume_delete", Operation::VolumeDelete, "volume.delete", kOff, true,
               [](Ctx& x) { x.c.storage().remove_volume("vhd", x.spare_file()); },
               [](const Ctx& x) {
                 return Expect{{"/path", x.spare_path()}};
               }});
  r.push_back({"volume_resize", Operation::VolumeResize, "volume.resize", kOff, true,
               [](Ctx& x) {
                 EXPECT_EQ(
                     x.c.storage().resize_volume("vhd", x.vhd_file(), 20ull << 30).capacity_bytes,
                     20ull << 30);
               },
               [](const Ctx& x) {
                 return Expect{{"/path", x.vhd_path()}, {"/size_bytes", 20ull << 30}};
               }});
  r.push_back({"volume_clone", Operation::VolumeClone, "volume.convert", kOff, true,
               [](Ctx& x) {
                 VolumeSpec s;
                 s.name = x.name + "-copy";
                 s.format = "vhd";
                 const Volume v = x.c.storage().clone_volume("vhd", x.vhd_file(), s);
                 EXPECT_EQ(v.name, x.name + "-copy") << "the name it was asked by";
                 EXPECT_EQ(v.path, std::string(kVhdFolder) + "\\" + x.name + "-copy.vhd");
               },
               [](const Ctx& x) {
                 return Expect{
                     {"/path", x.vhd_path()},
                     {"/destination", std::string(kVhdFolder) + "\\" + x.name + "-copy.vhd"}};
               }});

  // Migration to HV02, whose switch has the same name.
  r.push_back(
      {"migrate_check", Operation::MigratePreflight, "migrate.check", kRunning, false,
       [](Ctx& x) {
         MigrationOptions o;
         const auto report = x.c.migration().preflight(x.name, x.peer, o);
         for (const auto& i : report.items)
           EXPECT_NE(i.level, CheckLevel::Blocker) << i.check << ": " << i.message;
       },
       [](const Ctx&) {
         return Expect{{"/id", kVmId}, {"/destination", "HV02"}, {"/include_storage", false}};
       }});
  r.push_back(
      {"migrate_live", Operation::MigrateLive, "migrate.live", kRunning, false,
       [](Ctx& x) {
         MigrationOptions o;
         EXPECT_EQ(x.c.migration().migrate(x.name, x.peer, o, {}, CancelToken{}).name, x.name);
       },
       [](const Ctx&) {
         return Expect{{"/id", kVmId}, {"/destination", "HV02"}, {"/include_storage", false}};
       }});
  r.push_back({"migrate_live_with_storage", Operation::MigrateLive, "migrate.live", kRunning, true,
               [](Ctx& x) {
                 MigrationOptions o;
                 o.copy_storage = true;
                 o.target_pool = "D:\\Hyper-V\\" + x.name;
                 EXPECT_EQ(x.c.migration().migrate(x.name, x.peer, o, {}, CancelToken{}).name,
                           x.name);
               },
               [](const Ctx& x) {
                 return Expect{{"/id", kVmId},
                               {"/destination", "HV02"},
                               {"/include_storage", true},
                               {"/destination_path", "D:\\Hyper-V\\" + x.name}};
               }});
  r.push_back({"migrate_offline", Operation::MigrateOffline, "migrate.export", kOff, true,
               [](Ctx& x) {
                 MigrationOptions o;
                 o.mode = MigrationMode::Offline;
                 o.target_pool = x.share.string();
                 EXPECT_EQ(x.c.migration().migrate(x.name, x.peer, o, {}, CancelToken{}).name,
                           x.name);
               },
               [](const Ctx& x) {
                 return Expect{{"/id", kVmId}, {"/path", x.share.string()}};
               }});
  return r;
}

/// 'text' for sh.
std::string sh_quote(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

/// Every run the stand-in logged.
std::vector<json> read_log(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(json::parse(l));
  return out;
}

json host_record(const std::string& computer) {
  return {{"ComputerName", computer},
          {"LogicalProcessorCount", 8},
          {"MemoryCapacity", 34359738368ull},
          {"FreeMemoryBytes", 17179869184ull},
          {"OsVersion", "10.0.20348"},
          {"ProcessorName", "Intel(R) Xeon(R) CPU"},
          {"ProcessorManufacturer", "GenuineIntel"},
          {"VirtualHardDiskPath", kVhdFolder},
          {"VirtualMachinePath", "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"},
          {"ModuleVersion", "2.0.0.0"}};
}

json vhd_record(const std::string& path, bool attached) {
  return {{"Path", path},           {"VhdFormat", 3},         {"VhdType", 3},
          {"Size", 10737418240ull}, {"FileSize", 4194304ull}, {"ParentPath", nullptr},
          {"Attached", attached}};
}

/// HV01, whose one VM, switch, checkpoint and VHD carry `name` (and a
/// spare VHD no VM uses), with HV02 as its peer.
json source_state(const std::string& name, int vm_state, const fs::path& peer_dir) {
  const std::string vhd = std::string(kVhdFolder) + "\\" + name + ".vhdx";
  return json{
      {"host", host_record("HV01")},
      {"vms",
       json::array({{{"Id", kVmId},
                     {"Name", name},
                     {"State", vm_state},
                     {"Status", "Operating normally"},
                     {"ProcessorCount", 2},
                     {"MemoryAssigned", vm_state == kRunning ? 1073741824ull : 0ull},
                     {"MemoryStartup", 1073741824ull},
                     {"DynamicMemoryEnabled", false},
                     {"UptimeSeconds", vm_state == kRunning ? 60 : 0},
                     {"Generation", 2},
                     {"Version", "10.0"},
                     {"Path", "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"},
                     {"Notes", ""},
                     {"ComputerName", "HV01"},
                     {"CheckpointType", 5},
                     {"ParentSnapshotName", name},
                     {"HardDrives", json::array({{{"Path", vhd},
                                                  {"ControllerType", 1},
                                                  {"ControllerNumber", 0},
                                                  {"ControllerLocation", 0}}})},
                     {"NetworkAdapters", json::array({{{"Name", "Network Adapter"},
                                                       {"MacAddress", "00155D000001"},
                                                       {"SwitchName", name}}})},
                     {"Snapshots", json::array({{{"Id", "7c0ffee0-0000-4000-8000-0000000000c1"},
                                                 {"Name", name},
                                                 {"ParentSnapshotName", nullptr},
                                                 {"CreationTime", "2026-11-20T10:00:00Z"},
                                                 {"SnapshotType", 5}}})}}})},
      {"switches", json::array({{{"Id", "7c0ffee0-0000-4000-8000-0000000000a1"},
                                 {"Name", name},
                                 {"SwitchType", 1},
                                 {"NetAdapterInterfaceDescription", nullptr}}})},
      {"vhds",
       json::array({vhd_record(vhd, vm_state == kRunning),
                    vhd_record(std::string(kVhdFolder) + "\\" + name + "-spare.vhdx", false)})},
      {"peers", {{"HV02", peer_dir.string()}}}};
}

/// HV02: no VMs, a switch of the same name.
json peer_state(const std::string& name, const fs::path& source_dir) {
  return json{{"host", host_record("HV02")},
              {"vms", json::array()},
              {"switches", json::array({{{"Id", "7c0ffee0-0000-4000-8000-0000000000a2"},
                                         {"Name", name},
                                         {"SwitchType", 1},
                                         {"NetAdapterInterfaceDescription", nullptr}}})},
              {"vhds", json::array()},
              {"peers", {{"HV01", source_dir.string()}}}};
}

class Injection : public ::testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-hyperv-inj-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (const char* k :
         {"FAKE_PWSH_STATE_AS", "FAKE_PWSH_WARNING", "FAKE_PWSH_DEPTH_TRUNCATE", "FAKE_PWSH_CRASH",
          "FAKE_PWSH_FAIL", "FAKE_PWSH_SLOW_MS", "FAKE_HYPERV_STATE", "FAKE_PWSH_LOG"})
      ::unsetenv(k);
    ::setenv("HYPERCTL_STATE_DIR", (root_ / "journals").c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("HYPERCTL_POWERSHELL");
    ::unsetenv("HYPERCTL_STATE_DIR");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// A PowerShell for one host: a script that sets its state folder and the
  /// shared log and execs the stand-in (whose argv[0] is then the stand-in).
  static fs::path host_program(const fs::path& dir, const fs::path& state, const fs::path& log) {
    const fs::path p = dir / "powershell";
    std::ofstream(p) << "#!/bin/sh\nFAKE_HYPERV_STATE=" << sh_quote(state.string())
                     << " FAKE_PWSH_LOG=" << sh_quote(log.string()) << " exec "
                     << sh_quote(HYPERCTL_TEST_FAKE_PWSH) << " \"$@\"\n";
    fs::permissions(p, fs::perms::owner_all);
    return p;
  }

  fs::path root_;
};

TEST_P(Injection, ValuesArriveAsDataAndTheCommandLineAndScriptNeverChange) {
  const Row& row = GetParam();
  const auto argv = expected_argv();
  int ran = 0;
  for (const auto& n : names()) {
    SCOPED_TRACE(n.label + ": " + json(n.text).dump());
    const fs::path dir = root_ / std::to_string(ran++);
    const fs::path a = dir / "hv01", b = dir / "hv02", log = dir / "pwsh.log";
    fs::create_directories(a);
    fs::create_directories(b);
    fs::create_directories(dir / "share");
    std::ofstream(a / "state.json") << source_state(n.text, row.vm_state, b).dump(2);
    std::ofstream(b / "state.json") << peer_state(n.text, a).dump(2);

    std::unique_ptr<Connection> c, peer;
    try {
      ::setenv("HYPERCTL_POWERSHELL", host_program(a, a, log).c_str(), 1);
      c = registry().open("hyperv:///");
      ::setenv("HYPERCTL_POWERSHELL", host_program(b, b, log).c_str(), 1);
      peer = registry().open("hyperv:///");
    } catch (const Error& e) {
      FAIL() << "open: " << e.what() << "\n" << e.detail();
    }
    Ctx x{*c, *peer, n.text, dir / "share"};
    std::optional<Error> refused;
    try {
      row.call(x);
    } catch (const Error& e) {
      refused = e;
    }

    const auto runs = read_log(log);
    ASSERT_FALSE(runs.empty()) << "the stand-in never ran";
    // (b) one command line for every run, every op and every name.
    // (c) each op's script is its own file (the stand-in compares it byte
    //     for byte with scripts/<op>.ps1), so the same as for the plain name.
    for (const auto& r : runs) {
      EXPECT_EQ(r["argv"], json(argv)) << r.dump();
      EXPECT_EQ(r.value("script_ok", false), true) << r.dump();
    }
    if (refused) {
      // Only a name no Windows file can have; refused by the backend before
      // the op ran, or by the host after its data arrived (checked below).
      EXPECT_TRUE((row.uses_vhd_path && windows_file_name_refuses(n.text)) ||
                  (row.op == "snapshot.create" && snapshot_name_refuses(n.text)))
          << row.op << " refused: " << refused->what() << "\n"
          << refused->detail();
      EXPECT_EQ(refused->code(), ErrorCode::InvalidArgument) << refused->what();
    }
    // (a) the op ran, and its data carried the values byte for byte.
    const json* mine = nullptr;
    for (const auto& r : runs)
      if (r["op"] == row.op) mine = &r;
    if (refused && !mine) continue;
    ASSERT_NE(mine, nullptr) << row.op << " never ran; ran: " << json(runs).dump();
    for (const auto& [pointer, value] : row.expect(x)) {
      const json::json_pointer ptr(pointer);
      ASSERT_TRUE((*mine)["data"].contains(ptr)) << pointer << " missing: " << mine->dump();
      EXPECT_EQ((*mine)["data"][ptr], value) << pointer << " in " << mine->dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOperation, Injection, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& p) { return p.param.label; });

TEST(InjectionTable, EveryDeclaredOperationHasARow) {
  const Capabilities caps = registry().backend_for("hyperv").capabilities();
  std::set<Operation> covered;
  for (const auto& r : rows()) covered.insert(r.capability);
  for (Operation op : all_operations()) {
    if (caps.has(op))
      EXPECT_TRUE(covered.count(op)) << "no row runs " << to_string(op);
    else
      EXPECT_FALSE(covered.count(op)) << "a row for undeclared " << to_string(op);
  }
}

TEST(InjectionTable, TheExpectedCommandLineIsTheBootstrap) {
  // The reference the rows compare with: decoding it gives bootstrap.ps1.
  const auto argv = expected_argv();
  ASSERT_EQ(argv.size(), 8u);
  EXPECT_EQ(argv[7].find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
            std::string::npos);
  EXPECT_EQ(base64(utf16le("A\xC3\xBC\xE5\x90\x8D")), "QQD8AA1U");
}

}  // namespace
}  // namespace hyperctl::test
