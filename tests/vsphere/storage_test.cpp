// Storage of the vSphere backend against the simulator, in vCenter (vpx) and
// ESXi (esx) mode: datastores as pools, VMDK/ISO volumes, create/delete/clone
// through VirtualDiskManager, transfers over /folder. Every change is checked
// through the simulator's own view: a second govmomi session (show(),
// files()) and, for bytes, the datastore's folder on this machine
// (summary.url of a simulated datastore is a local folder).
//
// Not checked here: the capacity the browser reports for a VMDK that no VM
// uses. The simulator creates empty descriptor and extent files and its
// browser gives no capacityKb, so get_volume() can only report the capacity
// of a disk a VM uses (from the VM's device); create and clone report what
// the server was asked for.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <tuple>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using hyperctl::CancelToken;
using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::Operation;
using hyperctl::Pool;
using hyperctl::Progress;
using hyperctl::TransferOptions;
using hyperctl::Volume;
using hyperctl::VolumeSpec;
using vsphere_test::json;
using vsphere_test::SimOptions;
using vsphere_test::Simulator;
namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;

/// A name no two test processes share.
std::string unique(const std::string& what) {
  return "hyperctl-d-" + what + "-" + std::to_string(::getpid());
}

/// The error code f() throws; fails the test when it throws nothing.
template <class F>
std::optional<Error> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

#define EXPECT_CODE(expr, want)                                                       \
  do {                                                                                \
    auto err_ = error_of([&] { (void)(expr); });                                      \
    if (!err_)                                                                        \
      ADD_FAILURE() << #expr << " succeeded; expected " << hyperctl::to_string(want); \
    else                                                                              \
      EXPECT_EQ(err_->code(), want) << #expr << ": " << err_->what();                 \
  } while (0)

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spill(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string random_bytes(std::size_t n) {
  std::mt19937_64 gen(std::random_device{}());
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = gen();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  return s;
}

/// Paths (from the datastore root) of the simulator's files and folders
/// under `folder` of `ds` (second session); empty when the folder is not
/// there.
std::set<std::string> sim_files(const Simulator& sim, const std::string& ds,
                                const std::string& folder = "") {
  std::set<std::string> out;
  json list;
  try {
    list = sim.files(ds, folder);
  } catch (const std::runtime_error& e) {
    if (folder.empty()) throw;
    return out;  // the folder does not exist
  }
  for (const auto& f : list) out.insert(f["path"].get<std::string>());
  return out;
}

/// "a/b" of "a/b/c" ("" for a top-level file).
std::string folder_of_test(const std::string& rel) {
  const auto cut = rel.rfind('/');
  return cut == std::string::npos ? std::string() : rel.substr(0, cut);
}

/// The local folder behind a simulated datastore (show()'s url).
fs::path datastore_dir(const Simulator& sim, const std::string& ds) {
  const json inv = sim.show();
  for (const auto& d : inv["datastores"])
    if (d["name"] == ds) return d["url"].get<std::string>();
  return {};
}

/// A datastore path "[ds] a/b" split into ds and a/b.
std::pair<std::string, std::string> split(const std::string& p) {
  const auto close = p.find(']');
  std::string rel = p.substr(close + 1);
  while (!rel.empty() && (rel.front() == ' ' || rel.front() == '/')) rel.erase(rel.begin());
  return {p.substr(1, close - 1), rel};
}

/// A temporary folder for local files, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-storage-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ------------------------------------------------------------- the bodies
// Each runs once against a vCenter and once against a standalone host.

/// RefreshDatastore. govmomi 0.24's simulator answers it with an empty HTTP
/// body (it fails to encode its own empty response and logs so); a real
/// server answers <RefreshDatastoreResponse/>. Only that logged failure is
/// tolerated, and said.
void refresh_or_known_simulator_gap(Simulator& sim, hyperctl::StorageOps& st,
                                    const std::string& pool) {
  auto err = error_of([&] { st.refresh_pool(pool); });
  if (!err) return;
  const std::string log = sim.log();
  if (err->code() == ErrorCode::BackendFailure &&
      log.find("error encoding RefreshDatastore response") != std::string::npos) {
    std::cout << "[   NOTE   ] the simulator cannot answer RefreshDatastore (its log: "
                 "'error encoding RefreshDatastore response'); the call reached it\n";
    return;
  }
  ADD_FAILURE() << "refresh_pool(" << pool << "): " << err->what() << "\nsimulator log:\n" << log;
}

void pools_are_the_datastores(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::vector<Pool> pools = st.list_pools();
  const json ds = sim.show()["datastores"];
  ASSERT_EQ(pools.size(), ds.size());
  ASSERT_FALSE(pools.empty());
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const Pool& p = pools[i];
    const json& d = ds[i];
    SCOPED_TRACE(p.name);
    EXPECT_EQ(p.name, d["name"].get<std::string>());
    EXPECT_EQ(p.id, d["moref"].get<std::string>());
    std::string type = d["type"].get<std::string>();
    std::transform(type.begin(), type.end(), type.begin(), ::tolower);
    EXPECT_EQ(p.type, type);
    EXPECT_EQ(p.path, d["url"].get<std::string>());
    EXPECT_EQ(p.active, d["accessible"].get<bool>());
    EXPECT_EQ(p.capacity_bytes, d["capacity"].get<std::uint64_t>());
    EXPECT_EQ(p.available_bytes, d["free"].get<std::uint64_t>());
    EXPECT_EQ(p.allocation_bytes, p.capacity_bytes - p.available_bytes);
    EXPECT_GT(p.capacity_bytes, 0u);

    const Pool one = st.get_pool(p.name);
    EXPECT_EQ(one.id, p.id);
    EXPECT_EQ(one.capacity_bytes, p.capacity_bytes);
    refresh_or_known_simulator_gap(sim, st, p.name);
  }
  EXPECT_CODE(st.get_pool(unique("no-such-pool")), ErrorCode::NotFound);
  EXPECT_CODE(st.refresh_pool(unique("no-such-pool")), ErrorCode::NotFound);
  EXPECT_CODE(st.list_volumes(unique("no-such-pool")), ErrorCode::NotFound);
  // Datastores come from the host's storage set-up, not from hyperctl.
  EXPECT_CODE(st.create_pool("p", "/tmp/p"), ErrorCode::Unsupported);
  EXPECT_CODE(st.remove_pool(pools.front().name), ErrorCode::Unsupported);
  EXPECT_CODE(st.stop_pool(pools.front().name), ErrorCode::Unsupported);
}

void volumes_include_the_vm_disks(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const json inv = sim.show();
  std::size_t disks = 0;
  for (const auto& vm : inv["vms"]) {
    for (const auto& d : vm["disks"]) {
      const auto [ds, rel] = split(d["file"].get<std::string>());
      SCOPED_TRACE(d["file"].get<std::string>());
      ++disks;
      ASSERT_TRUE(rel.size() > 5 && rel.substr(rel.size() - 5) == ".vmdk") << "not a .vmdk";
      // A disk is named by its path without ".vmdk" (as Hyper-V names a
      // volume by its file's stem).
      const std::string stem = rel.substr(0, rel.size() - 5);
      const auto vols = st.list_volumes(ds);
      auto it =
          std::find_if(vols.begin(), vols.end(), [&](const Volume& v) { return v.name == stem; });
      ASSERT_NE(it, vols.end()) << "not listed as " << stem;
      EXPECT_EQ(it->path, d["file"].get<std::string>());
      EXPECT_EQ(it->pool, ds);
      EXPECT_EQ(it->format, "vmdk");
      EXPECT_EQ(it->type, "file");
      EXPECT_NE(std::find(it->used_by.begin(), it->used_by.end(), vm["name"].get<std::string>()),
                it->used_by.end())
          << "used_by does not name " << vm["name"];
      EXPECT_EQ(it->capacity_bytes, d["capacityBytes"].get<std::uint64_t>());
      // One volume per disk: the -flat extent the simulator stores beside
      // the descriptor is no volume of its own.
      const std::string flat = stem + "-flat.vmdk";
      EXPECT_TRUE(sim_files(sim, ds).count(flat)) << flat << " should be on the datastore";
      for (const auto& v : vols) {
        EXPECT_EQ(v.path.find("-flat.vmdk"), std::string::npos) << v.path;
        EXPECT_NE(v.name, stem + "-flat") << v.path;
      }

      const Volume one = st.get_volume(ds, stem);
      EXPECT_EQ(one.name, stem);
      EXPECT_EQ(one.path, it->path);
      EXPECT_EQ(one.used_by, it->used_by);
      // The name with ".vmdk" means the same volume, under the same name.
      const Volume with_ext = st.get_volume(ds, rel);
      EXPECT_EQ(with_ext.name, stem);
      EXPECT_EQ(with_ext.path, it->path);
    }
  }
  EXPECT_GT(disks, 0u) << "the simulator's VMs have no disks";
}

void create_and_delete_a_disk(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string folder = unique("new") + "/inner folder";
  const std::string name = folder + "/disk one";
  const std::string file = name + ".vmdk";

  VolumeSpec spec;
  spec.pool = ds;
  spec.name = name;
  spec.capacity_bytes = 64 * kMiB;
  ASSERT_TRUE(sim_files(sim, ds, unique("new")).empty()) << "left over from an earlier run";
  const Volume v = st.create_volume(spec);
  EXPECT_EQ(v.name, name);
  EXPECT_EQ(v.pool, ds);
  EXPECT_EQ(v.path, "[" + ds + "] " + file);
  EXPECT_EQ(v.format, "vmdk");
  EXPECT_EQ(v.capacity_bytes, 64 * kMiB);
  EXPECT_TRUE(v.used_by.empty());

  const auto files = sim_files(sim, ds, folder);
  EXPECT_EQ(files, (std::set<std::string>{file, folder + "/disk one-flat.vmdk"}))
      << "the descriptor and its extent, nothing else";

  const Volume got = st.get_volume(ds, name);
  EXPECT_EQ(got.name, name);
  EXPECT_EQ(got.path, v.path);
  EXPECT_TRUE(got.used_by.empty());
  EXPECT_EQ(st.get_volume(ds, file).name, name) << "the name with .vmdk is the same volume";
  const auto listed = st.list_volumes(ds);
  EXPECT_EQ(std::count_if(listed.begin(), listed.end(),
                          [&](const Volume& x) { return x.name == name && x.path == v.path; }),
            1);
  EXPECT_FALSE(std::any_of(listed.begin(), listed.end(), [&](const Volume& x) {
    return x.name == file;
  })) << "listed with its .vmdk";

  EXPECT_CODE(st.create_volume(spec), ErrorCode::AlreadyExists);
  VolumeSpec with_ext = spec;
  with_ext.name = file;
  EXPECT_CODE(st.create_volume(with_ext), ErrorCode::AlreadyExists);

  st.remove_volume(ds, name);
  auto after = sim_files(sim, ds, folder);
  EXPECT_FALSE(after.count(file));
  EXPECT_FALSE(after.count(folder + "/disk one-flat.vmdk"));
  EXPECT_CODE(st.get_volume(ds, name), ErrorCode::NotFound);
  EXPECT_CODE(st.remove_volume(ds, name), ErrorCode::NotFound);

  // Asked with ".vmdk": the same file is made, and named without it; the
  // name with ".vmdk" deletes it.
  const Volume again = st.create_volume(with_ext);
  EXPECT_EQ(again.name, name);
  EXPECT_EQ(again.path, v.path);
  EXPECT_TRUE(sim_files(sim, ds, folder).count(file));
  st.remove_volume(ds, file);
  after = sim_files(sim, ds, folder);
  EXPECT_TRUE(after.empty()) << "left: " << after.size() << " files";
  EXPECT_CODE(st.get_volume(ds, file), ErrorCode::NotFound);
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / unique("new"), ec);
}

void bad_creates_change_nothing(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const auto before = sim_files(sim, ds);
  VolumeSpec spec;
  spec.pool = ds;
  spec.capacity_bytes = 8 * kMiB;
  spec.name = unique("fmt");
  // vSphere makes VMDK disks only: another format is Unsupported, told in
  // the backend's own sentence (not the core's "does not support").
  for (const std::string format : {"raw", "qcow2", "vhdx"}) {
    spec.format = format;
    auto err = error_of([&] { st.create_volume(spec); });
    ASSERT_TRUE(err) << format << " was accepted";
    EXPECT_EQ(err->code(), ErrorCode::Unsupported) << err->what();
    EXPECT_EQ(err->operation(), "volume.create");
    EXPECT_NE(std::string(err->what()).find("VMDK only; format " + format + " is not offered"),
              std::string::npos)
        << err->what();
  }
  spec.format = "";
  spec.capacity_bytes = 0;
  EXPECT_CODE(st.create_volume(spec), ErrorCode::InvalidArgument);
  spec.capacity_bytes = 1000;  // not whole KiB
  EXPECT_CODE(st.create_volume(spec), ErrorCode::InvalidArgument);
  spec.capacity_bytes = 8 * kMiB;
  for (const std::string bad :
       {"", "/abs.vmdk", "a//b.vmdk", "../up.vmdk", "a/./b.vmdk", "dir/", "line\nbreak.vmdk",
        " lead.vmdk", "back\\slash.vmdk", "x-flat.vmdk", "x-flat", "image.iso"}) {
    spec.name = bad;
    EXPECT_CODE(st.create_volume(spec), ErrorCode::InvalidArgument);
  }
  spec.name = unique("nopool");
  spec.pool = unique("no-such-pool");
  EXPECT_CODE(st.create_volume(spec), ErrorCode::NotFound);
  EXPECT_EQ(sim_files(sim, ds), before);
}

void a_vm_disk_is_not_deleted(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const json inv = sim.show();
  json vm;
  for (const auto& x : inv["vms"])
    if (!x["disks"].empty()) vm = x;
  ASSERT_FALSE(vm.is_null()) << "no VM with a disk";
  const auto [ds, rel] = split(vm["disks"][0]["file"].get<std::string>());
  auto err = error_of([&, &ds = ds, &rel = rel] { st.remove_volume(ds, rel); });
  ASSERT_TRUE(err) << "deleting a VM's disk succeeded";
  EXPECT_EQ(err->code(), ErrorCode::Conflict) << err->what();
  EXPECT_NE(std::string(err->what()).find(vm["name"].get<std::string>()), std::string::npos)
      << err->what();
  EXPECT_TRUE(sim_files(sim, ds).count(rel)) << "the disk went anyway";
  const json again = sim.find_vm(vm["name"].get<std::string>());
  EXPECT_EQ(again["disks"], vm["disks"]);
}

/// An ISO in a VM's CD-ROM and an existing VMDK attached to a VM are in use:
/// both are refused, naming the VM, until the VM is gone.
void attached_files_are_in_use(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string folder = unique("attached");
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  spill(tmp.path() / "boot.iso", random_bytes(64 * 1024));
  const std::string iso = folder + "/boot.iso";
  st.upload_volume(ds, iso, (tmp.path() / "boot.iso").string(), {}, {}, CancelToken{});
  VolumeSpec spec;
  spec.pool = ds;
  spec.name = folder + "/data";
  spec.capacity_bytes = 4 * kMiB;
  const Volume data = st.create_volume(spec);
  ASSERT_EQ(data.name, folder + "/data");
  const std::string data_file = folder + "/data.vmdk";
  ASSERT_EQ(data.path, "[" + ds + "] " + data_file);

  hyperctl::VmSpec vm;
  vm.name = unique("vm-with-media");
  vm.memory_bytes = 64 * kMiB;
  vm.disks.push_back({.size_bytes = 4 * kMiB, .pool = ds});
  // The VM operations take the disk's file name (a volume name without
  // ".vmdk" is not resolved there).
  vm.disks.push_back({.pool = ds, .volume = data_file});
  vm.disks.push_back({.pool = ds, .volume = iso, .device = "cdrom"});
  conn->vms().create(vm);
  struct Gone {
    hyperctl::Connection& c;
    std::string name;
    ~Gone() {
      try {
        c.vms().remove(name, {.with_storage = false, .force = true});
      } catch (...) {
      }
    }
  } gone{*conn, vm.name};

  for (const auto& [name, stored] :
       {std::pair{iso, iso}, std::pair{data.name, data_file}, std::pair{data_file, data_file}}) {
    SCOPED_TRACE(name);
    const Volume v = st.get_volume(ds, name);
    EXPECT_EQ(v.used_by, std::vector<std::string>{vm.name});
    auto err = error_of([&] { st.remove_volume(ds, name); });
    ASSERT_TRUE(err) << "deleting a file a VM uses succeeded";
    EXPECT_EQ(err->code(), ErrorCode::Conflict) << err->what();
    EXPECT_NE(std::string(err->what()).find(vm.name), std::string::npos) << err->what();
    EXPECT_TRUE(sim_files(sim, ds, folder).count(stored)) << "it went anyway";
    // Nor is it replaced by an upload with overwrite.
    const fs::path file = datastore_dir(sim, ds) / stored;
    const std::string bytes = slurp(file);
    TransferOptions overwrite;
    overwrite.overwrite = true;
    err = error_of([&] {
      st.upload_volume(ds, name, (tmp.path() / "boot.iso").string(), overwrite, {}, CancelToken{});
    });
    ASSERT_TRUE(err) << "overwriting a file a VM uses succeeded";
    EXPECT_EQ(err->code(), ErrorCode::Conflict) << err->what();
    EXPECT_NE(std::string(err->what()).find(vm.name), std::string::npos) << err->what();
    EXPECT_TRUE(slurp(file) == bytes) << "the file changed";
  }

  conn->vms().remove(vm.name, {.with_storage = false, .force = true});
  ASSERT_TRUE(sim.find_vm(vm.name).is_null());
  EXPECT_TRUE(st.get_volume(ds, iso).used_by.empty());
  st.remove_volume(ds, iso);
  st.remove_volume(ds, data.name);
  EXPECT_TRUE(sim_files(sim, ds, folder).empty());
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / folder, ec);
}

void clone_a_disk(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string folder = unique("clone");
  VolumeSpec spec;
  spec.pool = ds;
  spec.name = folder + "/source";
  spec.capacity_bytes = 16 * kMiB;
  const Volume src = st.create_volume(spec);
  EXPECT_EQ(src.name, folder + "/source");

  VolumeSpec target;
  target.name = folder + "/copy/of it";
  const Volume copy = st.clone_volume(ds, src.name, target);
  EXPECT_EQ(copy.name, target.name);
  EXPECT_EQ(copy.path, "[" + ds + "] " + folder + "/copy/of it.vmdk");
  EXPECT_EQ(st.get_volume(ds, target.name).path, copy.path);
  // The copy keeps the source's size (as far as the server says it: the
  // simulator's browser gives none for a disk no VM uses).
  EXPECT_EQ(copy.capacity_bytes, st.get_volume(ds, src.name).capacity_bytes);
  EXPECT_TRUE(copy.used_by.empty());
  auto files = sim_files(sim, ds, folder);
  EXPECT_TRUE(files.count(folder + "/copy/of it.vmdk"));
  EXPECT_TRUE(files.count(folder + "/copy/of it-flat.vmdk"));
  EXPECT_TRUE(files.count(folder + "/source.vmdk")) << "the source stays";
  EXPECT_CODE(st.clone_volume(ds, src.name, target), ErrorCode::AlreadyExists);
  VolumeSpec target_ext = target;
  target_ext.name = target.name + ".vmdk";
  EXPECT_CODE(st.clone_volume(ds, folder + "/source.vmdk", target_ext), ErrorCode::AlreadyExists);
  // A copy in another format is not offered (vSphere copies VMDK to VMDK).
  VolumeSpec raw_target;
  raw_target.name = folder + "/raw copy";
  raw_target.format = "raw";
  EXPECT_CODE(st.clone_volume(ds, src.name, raw_target), ErrorCode::Unsupported);
  EXPECT_FALSE(sim_files(sim, ds, folder).count(folder + "/raw copy.vmdk"));
  VolumeSpec missing_target;
  missing_target.name = folder + "/other";
  EXPECT_CODE(st.clone_volume(ds, folder + "/nothing.vmdk", missing_target), ErrorCode::NotFound);
  EXPECT_FALSE(sim_files(sim, ds, folder).count(folder + "/other.vmdk"));

  // A VM's disk copied: its size is known from the VM's device.
  const json inv = sim.show();
  json vm;
  for (const auto& x : inv["vms"])
    if (!x["disks"].empty()) vm = x;
  ASSERT_FALSE(vm.is_null()) << "no VM with a disk";
  const auto [vm_ds, vm_rel] = split(vm["disks"][0]["file"].get<std::string>());
  VolumeSpec vm_copy;
  vm_copy.name = folder + "/vm copy";
  vm_copy.pool = ds;
  const Volume c2 = st.clone_volume(vm_ds, vm_rel, vm_copy);
  EXPECT_EQ(c2.name, vm_copy.name);
  EXPECT_EQ(c2.capacity_bytes, vm["disks"][0]["capacityBytes"].get<std::uint64_t>());
  EXPECT_EQ(c2.pool, ds);
  EXPECT_TRUE(c2.used_by.empty());
  EXPECT_TRUE(sim_files(sim, ds, folder).count(folder + "/vm copy-flat.vmdk"));
  EXPECT_EQ(sim.find_vm(vm["name"].get<std::string>())["disks"], vm["disks"]) << "the VM changed";
  // A size other than the source's cannot be asked of a copy.
  vm_copy.name = folder + "/bigger";
  vm_copy.capacity_bytes = 2 * vm["disks"][0]["capacityBytes"].get<std::uint64_t>();
  EXPECT_CODE(st.clone_volume(vm_ds, vm_rel, vm_copy), ErrorCode::InvalidArgument);

  st.remove_volume(ds, c2.name);
  st.remove_volume(ds, copy.name);
  st.remove_volume(ds, src.name);
  files = sim_files(sim, ds, folder);
  for (const auto& f : files) EXPECT_EQ(f.find(".vmdk"), std::string::npos) << f << " is left";
}

struct Recorder {
  std::vector<Progress> seen;
  hyperctl::ProgressFn fn() {
    return [this](const Progress& p) { seen.push_back(p); };
  }
  /// done never decreases and ends at total == size.
  void check(std::uint64_t size) const {
    ASSERT_FALSE(seen.empty()) << "no progress reported";
    for (std::size_t i = 1; i < seen.size(); ++i)
      EXPECT_GE(seen[i].done, seen[i - 1].done) << "progress went back at report " << i;
    EXPECT_EQ(seen.back().done, size);
    EXPECT_EQ(seen.back().total, size);
  }
};

void upload_then_download(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = random_bytes(3 * kMiB);
  spill(tmp.path() / "in.img", data);
  const std::string name = unique("xfer") + "/blob.img";

  Recorder up;
  st.upload_volume(ds, name, (tmp.path() / "in.img").string(), {}, up.fn(), CancelToken{});
  up.check(data.size());
  // The bytes as the simulator stored them, read beside it.
  EXPECT_TRUE(slurp(datastore_dir(sim, ds) / name) == data) << "the datastore file differs";
  const auto files = sim_files(sim, ds, unique("xfer"));
  EXPECT_EQ(files, std::set<std::string>{name}) << "only the file, no temporary left";

  Recorder down;
  st.download_volume(ds, name, (tmp.path() / "out.img").string(), {}, down.fn(), CancelToken{});
  down.check(data.size());
  EXPECT_TRUE(slurp(tmp.path() / "out.img") == data) << "the download differs";

  // No overwrite: refused as a target that exists, and the datastore file
  // stays as it was.
  const std::string other = random_bytes(64 * 1024);
  spill(tmp.path() / "other.img", other);
  EXPECT_CODE(
      st.upload_volume(ds, name, (tmp.path() / "other.img").string(), {}, {}, CancelToken{}),
      ErrorCode::AlreadyExists);
  EXPECT_TRUE(slurp(datastore_dir(sim, ds) / name) == data);
  // With it: replaced.
  TransferOptions overwrite;
  overwrite.overwrite = true;
  st.upload_volume(ds, name, (tmp.path() / "other.img").string(), overwrite, {}, CancelToken{});
  EXPECT_TRUE(slurp(datastore_dir(sim, ds) / name) == other);

  // A download onto an existing local file: refused (it exists), the file
  // unchanged.
  EXPECT_CODE(
      st.download_volume(ds, name, (tmp.path() / "out.img").string(), {}, {}, CancelToken{}),
      ErrorCode::AlreadyExists);
  EXPECT_TRUE(slurp(tmp.path() / "out.img") == data);
  st.download_volume(ds, name, (tmp.path() / "out.img").string(), overwrite, {}, CancelToken{});
  EXPECT_TRUE(slurp(tmp.path() / "out.img") == other);

  // Missing things.
  EXPECT_CODE(st.download_volume(ds, unique("xfer") + "/none.img",
                                 (tmp.path() / "none.img").string(), {}, {}, CancelToken{}),
              ErrorCode::NotFound);
  EXPECT_FALSE(fs::exists(tmp.path() / "none.img"));
  EXPECT_CODE(st.upload_volume(ds, unique("xfer") + "/x.img", (tmp.path() / "absent").string(), {},
                               {}, CancelToken{}),
              ErrorCode::NotFound);
  EXPECT_CODE(st.upload_volume(unique("no-such-pool"), "x.img", (tmp.path() / "in.img").string(),
                               {}, {}, CancelToken{}),
              ErrorCode::NotFound);

  // An uploaded file that is not a VMDK or ISO is a volume of format
  // "file", named by its whole path, and volume delete removes it.
  const Volume blob = st.get_volume(ds, name);
  EXPECT_EQ(blob.name, name);
  EXPECT_EQ(blob.format, "file");
  EXPECT_EQ(blob.capacity_bytes, other.size());
  st.remove_volume(ds, name);
  EXPECT_TRUE(sim_files(sim, ds, unique("xfer")).empty());
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / unique("xfer"), ec);
}

void cancelled_uploads_change_nothing(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = random_bytes(3 * kMiB);
  spill(tmp.path() / "in.img", data);
  const std::string folder = unique("cancel");
  const std::string name = folder + "/blob.iso";

  // Upload cancelled at its first progress report: no file, no temporary,
  // not even the folder made for it.
  {
    CancelToken cancel;
    std::size_t reports = 0;
    auto stop = [&](const Progress&) {
      ++reports;
      cancel.cancel();
    };
    EXPECT_CODE(st.upload_volume(ds, name, (tmp.path() / "in.img").string(), {}, stop, cancel),
                ErrorCode::Cancelled);
    EXPECT_TRUE(sim_files(sim, ds, folder).empty()) << "an upload cancelled left files";
    EXPECT_FALSE(fs::exists(datastore_dir(sim, ds) / folder));
  }

  // A cancelled upload over an existing file keeps it.
  st.upload_volume(ds, name, (tmp.path() / "in.img").string(), {}, {}, CancelToken{});
  const Volume iso = st.get_volume(ds, name);
  EXPECT_EQ(iso.format, "iso");
  EXPECT_EQ(iso.allocation_bytes, data.size());
  {
    const std::string other = random_bytes(2 * kMiB);
    spill(tmp.path() / "other.img", other);
    CancelToken cancel;
    auto stop = [&](const Progress&) { cancel.cancel(); };
    TransferOptions overwrite;
    overwrite.overwrite = true;
    EXPECT_CODE(
        st.upload_volume(ds, name, (tmp.path() / "other.img").string(), overwrite, stop, cancel),
        ErrorCode::Cancelled);
    EXPECT_TRUE(slurp(datastore_dir(sim, ds) / name) == data) << "the old file was damaged";
    EXPECT_EQ(sim_files(sim, ds, folder), std::set<std::string>{name});
  }
  st.remove_volume(ds, name);
  EXPECT_TRUE(sim_files(sim, ds, folder).empty());
}

/// A download cancelled at its first progress report (which may come when
/// the bytes are all in) leaves no local file, not even a temporary.
void cancelled_download_leaves_no_file(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = random_bytes(3 * kMiB);
  spill(tmp.path() / "in.img", data);
  const std::string name = unique("cancel-down") + "/blob.iso";
  st.upload_volume(ds, name, (tmp.path() / "in.img").string(), {}, {}, CancelToken{});
  CancelToken cancel;
  auto stop = [&](const Progress&) { cancel.cancel(); };
  EXPECT_CODE(st.download_volume(ds, name, (tmp.path() / "out.iso").string(), {}, stop, cancel),
              ErrorCode::Cancelled);
  EXPECT_FALSE(fs::exists(tmp.path() / "out.iso"));
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"in.img"}) << "a cancelled download left a file";
  st.remove_volume(ds, name);
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / unique("cancel-down"), ec);
}

/// Server faults midway: what the operation made is taken away again, and
/// what was there stays.
void failures_midway_leave_things_as_they_were(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string top = unique("midway");

  // CreateVirtualDisk_Task refused: the folders made for it go.
  VolumeSpec spec;
  spec.pool = ds;
  spec.name = top + "/a/b/disk";
  spec.capacity_bytes = 2 * kMiB;
  sim.inject("CreateVirtualDisk_Task=fault*1");
  auto err = error_of([&] { st.create_volume(spec); });
  sim.clear_injections();
  ASSERT_TRUE(err) << "the injected fault was not reported";
  EXPECT_NE(std::string(err->what()).find("injected fault"), std::string::npos) << err->what();
  EXPECT_TRUE(sim_files(sim, ds, top).empty());
  EXPECT_FALSE(fs::exists(datastore_dir(sim, ds) / top)) << "the folders made for it stay";

  // The move into place refused: the old file stays, no temporary is left.
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string old_data = random_bytes(100 * 1024);
  const std::string new_data = random_bytes(120 * 1024);
  spill(tmp.path() / "old", old_data);
  spill(tmp.path() / "new", new_data);
  const std::string name = top + "/file.iso";
  st.upload_volume(ds, name, (tmp.path() / "old").string(), {}, {}, CancelToken{});
  TransferOptions overwrite;
  overwrite.overwrite = true;
  sim.inject("MoveDatastoreFile_Task=fault*1");
  err = error_of([&] {
    st.upload_volume(ds, name, (tmp.path() / "new").string(), overwrite, {}, CancelToken{});
  });
  sim.clear_injections();
  EXPECT_TRUE(err) << "the injected fault was not reported";
  EXPECT_TRUE(slurp(datastore_dir(sim, ds) / name) == old_data) << "the old file changed";
  EXPECT_EQ(sim_files(sim, ds, top), std::set<std::string>{name}) << "a temporary is left";

  // The delete refused: the disk stays.
  spec.name = top + "/kept";
  const Volume v = st.create_volume(spec);
  sim.inject("DeleteVirtualDisk_Task=fault*1");
  err = error_of([&] { st.remove_volume(ds, v.name); });
  sim.clear_injections();
  EXPECT_TRUE(err) << "the injected fault was not reported";
  EXPECT_TRUE(sim_files(sim, ds, top).count(top + "/kept.vmdk"));
  EXPECT_TRUE(sim_files(sim, ds, top).count(top + "/kept-flat.vmdk"));

  st.remove_volume(ds, v.name);
  st.remove_volume(ds, name);
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / top, ec);
}

/// An upload with overwrite onto a file a VM's disk stands on (its
/// descriptor, or the -flat extent holding its data) is refused, naming the
/// VM, before anything moves: the bytes stay, no temporary is left.
void upload_onto_a_vm_disk_is_refused(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const json inv = sim.show();
  json vm;
  for (const auto& x : inv["vms"])
    if (!x["disks"].empty() && x["powerState"] == "poweredOn") vm = x;
  ASSERT_FALSE(vm.is_null()) << "no running VM with a disk";
  const auto [ds, rel] = split(vm["disks"][0]["file"].get<std::string>());
  const std::string flat = rel.substr(0, rel.size() - 5) + "-flat.vmdk";
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  spill(tmp.path() / "new", random_bytes(64 * 1024));
  TransferOptions overwrite;
  overwrite.overwrite = true;
  const fs::path root = datastore_dir(sim, ds);
  const auto files_before = sim_files(sim, ds, folder_of_test(rel));
  // The descriptor by its file name and by its volume name (no ".vmdk"),
  // and the extent.
  const std::string stem = rel.substr(0, rel.size() - 5);
  for (const auto& [target, stored] :
       {std::pair{rel, rel}, std::pair{stem, rel}, std::pair{flat, flat}}) {
    SCOPED_TRACE(target);
    ASSERT_TRUE(fs::exists(root / stored)) << "the simulator keeps no " << stored;
    const std::string bytes = slurp(root / stored);
    auto err = error_of([&] {
      st.upload_volume(ds, target, (tmp.path() / "new").string(), overwrite, {}, CancelToken{});
    });
    ASSERT_TRUE(err) << "an upload over a running VM's disk succeeded";
    EXPECT_EQ(err->code(), ErrorCode::Conflict) << err->what();
    EXPECT_NE(std::string(err->what()).find(vm["name"].get<std::string>()), std::string::npos)
        << err->what();
    EXPECT_TRUE(slurp(root / stored) == bytes) << "the disk's file changed";
  }
  EXPECT_EQ(sim_files(sim, ds, folder_of_test(rel)), files_before) << "a temporary is left";
  const json again = sim.find_vm(vm["name"].get<std::string>());
  EXPECT_EQ(again["disks"], vm["disks"]);
  EXPECT_EQ(again["powerState"], "poweredOn");
}

/// A create or copy into an EXISTING folder whose task wrote the file and
/// then failed (here: its answer lost, the simulator's 'truncated' mode runs
/// the real call) leaves no destination file; what was there stays.
void failed_disk_tasks_leave_no_destination(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string top = unique("partial");
  VolumeSpec spec;
  spec.pool = ds;
  spec.name = top + "/existing";
  spec.capacity_bytes = 2 * kMiB;
  const Volume existing = st.create_volume(spec);
  const std::set<std::string> before = {top + "/existing.vmdk", top + "/existing-flat.vmdk"};
  ASSERT_EQ(sim_files(sim, ds, top), before);

  spec.name = top + "/made";
  sim.inject("CreateVirtualDisk_Task=truncated*1");
  auto err = error_of([&] { st.create_volume(spec); });
  sim.clear_injections();
  ASSERT_TRUE(err) << "the lost answer was not reported";
  EXPECT_EQ(sim_files(sim, ds, top), before) << "a failed create left its files";

  VolumeSpec target;
  target.name = top + "/copied";
  sim.inject("CopyVirtualDisk_Task=truncated*1");
  err = error_of([&] { st.clone_volume(ds, existing.name, target); });
  sim.clear_injections();
  ASSERT_TRUE(err) << "the lost answer was not reported";
  EXPECT_EQ(sim_files(sim, ds, top), before) << "a failed copy left its files";

  // Not the task's doing: a data extent already there is refused before the
  // call, and kept.
  const fs::path root = datastore_dir(sim, ds);
  spill(root / top / "orphan-flat.vmdk", "data");
  spec.name = top + "/orphan";
  EXPECT_CODE(st.create_volume(spec), ErrorCode::AlreadyExists);
  EXPECT_TRUE(slurp(root / top / "orphan-flat.vmdk") == "data");

  st.remove_volume(ds, existing.name);
  std::error_code ec;
  fs::remove_all(root / top, ec);
}

/// A cancelled clone leaves no destination, not even the folder made for
/// it: a task that ends on CancelTask (cancellable) is Cancelled at once; one
/// that does not (stuck) after the grace (the URI's 3 s deadline here),
/// saying it may still finish. A token cancelled before: no copy is asked.
void cancelled_clone_leaves_no_destination(Simulator& sim) {
  auto conn = sim.connect("keepalive=0&tasktimeout=3");
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string top = unique("clone-cancel");
  VolumeSpec spec;
  spec.pool = ds;
  spec.name = top + "/source";
  spec.capacity_bytes = 2 * kMiB;
  const Volume src = st.create_volume(spec);
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  spill(tmp.path() / "x.iso", random_bytes(32 * 1024));
  st.upload_volume(ds, top + "/image.iso", (tmp.path() / "x.iso").string(), {}, {}, CancelToken{});
  const auto before = sim_files(sim, ds, top);
  struct Clear {
    Simulator& sim;
    ~Clear() {
      try {
        sim.clear_injections();
      } catch (...) {
      }
    }
  } clear{sim};
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"CopyVirtualDisk_Task", "cancellable", src.name},
      {"CopyVirtualDisk_Task", "stuck", src.name},
      {"CopyDatastoreFile_Task", "cancellable", top + "/image.iso"}};
  for (const auto& [method, mode, source] : cases) {
    SCOPED_TRACE(method + "=" + mode);
    sim.inject(method + "=" + mode + "*1");
    sim.reset_stats();
    VolumeSpec target;
    target.name = top + "/new folder/copy" +
                  (source.size() > 4 && source.substr(source.size() - 4) == ".iso" ? ".iso" : "");
    CancelToken cancel;
    std::size_t reports = 0;
    auto stop = [&](const Progress&) {
      ++reports;
      cancel.cancel();
    };
    const auto started = std::chrono::steady_clock::now();
    auto err = error_of([&] { st.clone_volume(ds, source, target, stop, cancel); });
    const auto took = std::chrono::steady_clock::now() - started;
    sim.clear_injections();
    ASSERT_TRUE(err) << "the clone was not cancelled";
    EXPECT_EQ(err->code(), ErrorCode::Cancelled) << err->what();
    EXPECT_GE(reports, 1u);
    EXPECT_EQ(std::string(err->what()).find('\n'), std::string::npos) << err->what();
    EXPECT_EQ(sim.stats()["methods"].value("CancelTask", 0), 1) << sim.stats().dump();
    if (mode == "stuck")
      EXPECT_NE(std::string(err->what()).find("may still finish"), std::string::npos)
          << err->what();
    else
      EXPECT_LT(took, std::chrono::seconds(3)) << "a task that ended was waited for";
    EXPECT_EQ(sim_files(sim, ds, top), before) << "the cancelled clone left files";
  }
  // Cancelled before it began: no copy asked, nothing made.
  CancelToken cancelled;
  cancelled.cancel();
  sim.reset_stats();
  VolumeSpec target;
  target.name = top + "/early/copy";
  EXPECT_CODE(st.clone_volume(ds, src.name, target, {}, cancelled), ErrorCode::Cancelled);
  EXPECT_EQ(sim.stats()["methods"].value("CopyVirtualDisk_Task", 0), 0);
  EXPECT_EQ(sim_files(sim, ds, top), before);
  st.remove_volume(ds, src.name);
  st.remove_volume(ds, top + "/image.iso");
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / top, ec);
}

void names_round_trip(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string folder = unique("names") + "/it's \"odd\" & <odd> #1?";
  const std::string disk = folder + "/dïsk $(x); #2?";
  const std::string disk_file = disk + ".vmdk";
  const std::string file = folder + "/fïle 'a' & <b> #3? [c] %41 *.iso";
  VolumeSpec spec;
  spec.pool = ds;
  spec.name = disk;
  spec.capacity_bytes = 4 * kMiB;
  const Volume v = st.create_volume(spec);
  EXPECT_EQ(v.name, disk);
  EXPECT_TRUE(sim_files(sim, ds, folder).count(disk_file)) << "not on the datastore under its name";
  const auto listed = st.list_volumes(ds);
  EXPECT_TRUE(
      std::any_of(listed.begin(), listed.end(), [&](const Volume& x) { return x.name == disk; }));
  EXPECT_EQ(st.get_volume(ds, disk).path, "[" + ds + "] " + disk_file);
  EXPECT_EQ(st.get_volume(ds, disk_file).name, disk);

  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = random_bytes(300 * 1024);
  spill(tmp.path() / "in", data);
  st.upload_volume(ds, file, (tmp.path() / "in").string(), {}, {}, CancelToken{});
  EXPECT_TRUE(slurp(datastore_dir(sim, ds) / file) == data) << "stored under another name";
  EXPECT_TRUE(sim_files(sim, ds, folder).count(file));
  st.download_volume(ds, file, (tmp.path() / "out").string(), {}, {}, CancelToken{});
  EXPECT_TRUE(slurp(tmp.path() / "out") == data);

  st.remove_volume(ds, file);
  st.remove_volume(ds, disk);
  EXPECT_TRUE(sim_files(sim, ds, folder).empty());
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / unique("names"), ec);
}

/// A VMDK uploaded as one file (no -flat extent beside it) is a volume, and
/// deleting it removes that file.
void a_single_file_vmdk_is_deleted(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = "# Disk DescriptorFile\nversion=1\n" + random_bytes(1000);
  spill(tmp.path() / "one.vmdk", data);
  const std::string folder = unique("single");
  const std::string name = folder + "/one.vmdk";
  st.upload_volume(ds, name, (tmp.path() / "one.vmdk").string(), {}, {}, CancelToken{});
  const Volume v = st.get_volume(ds, name);
  EXPECT_EQ(v.name, folder + "/one");
  EXPECT_EQ(v.format, "vmdk");
  EXPECT_EQ(v.allocation_bytes, data.size());
  // Downloaded by its volume name: the bytes uploaded.
  st.download_volume(ds, v.name, (tmp.path() / "back").string(), {}, {}, CancelToken{});
  EXPECT_TRUE(slurp(tmp.path() / "back") == data);
  st.remove_volume(ds, name);
  EXPECT_TRUE(sim_files(sim, ds, folder).empty());
  EXPECT_CODE(st.get_volume(ds, name), ErrorCode::NotFound);
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / folder, ec);
}

/// The same through the CLI: POOL/NAME with the datastore's folders in NAME.
void through_the_cli(Simulator& sim) {
  const json inv = sim.show();
  json vm;
  for (const auto& x : inv["vms"])
    if (!x["disks"].empty()) vm = x;
  ASSERT_FALSE(vm.is_null()) << "no VM with a disk";
  const auto [ds, rel] = split(vm["disks"][0]["file"].get<std::string>());
  const std::string stem = rel.substr(0, rel.size() - 5);  // without ".vmdk"

  auto r = sim.cli({"-c", sim.uri(), "-o", "json", "volume", "list", ds});
  ASSERT_EQ(r.status, 0) << r;
  const json listed = json::parse(r.out);
  bool found = false;
  for (const auto& v : listed.is_array() ? listed : listed.value("volumes", json::array()))
    if (v.value("name", "") == stem) found = true;
  EXPECT_TRUE(found) << stem << " not in " << r.out;

  for (const std::string& name : {stem, rel}) {
    r = sim.cli({"-c", sim.uri(), "volume", "delete", ds + "/" + name});
    EXPECT_EQ(r.status, hyperctl::exit_status(ErrorCode::Conflict)) << r;
    EXPECT_NE(r.err.find(vm["name"].get<std::string>()), std::string::npos) << r;
    EXPECT_TRUE(sim_files(sim, ds).count(rel)) << "the disk went anyway";
  }

  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = random_bytes(200 * 1024);
  spill(tmp.path() / "in", data);
  const std::string name = unique("cli") + "/a b#?.iso";
  r = sim.cli({"-c", sim.uri(), "volume", "upload", ds + "/" + name, (tmp.path() / "in").string()});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_TRUE(slurp(datastore_dir(sim, ds) / name) == data);
  r = sim.cli(
      {"-c", sim.uri(), "volume", "download", ds + "/" + name, (tmp.path() / "out").string()});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_TRUE(slurp(tmp.path() / "out") == data);
  r = sim.cli({"-c", sim.uri(), "volume", "delete", ds + "/" + name});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_FALSE(sim_files(sim, ds, unique("cli")).count(name));
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / unique("cli"), ec);
}

/// Every file in a registered VM's folder is in use: its .vmx, .nvram and
/// log, and any other file lying there (here one written beside the
/// simulator, behind the API). An upload with overwrite onto any of them and
/// a delete are refused naming the VM; the bytes stay, no temporary is left.
void files_in_a_vm_folder_are_in_use(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const json inv = sim.show();
  json vm;
  for (const auto& x : inv["vms"])
    if (x["powerState"] == "poweredOn" && !x["vmPathName"].get<std::string>().empty()) vm = x;
  ASSERT_FALSE(vm.is_null()) << "no running VM";
  const auto [ds, vmx] = split(vm["vmPathName"].get<std::string>());
  const std::string folder = folder_of_test(vmx);
  ASSERT_FALSE(folder.empty());
  const fs::path root = datastore_dir(sim, ds);
  const std::string notes = folder + "/notes.txt";
  spill(root / notes, "the VM's notes");
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } remove_notes{root / notes};
  const auto before = sim_files(sim, ds, folder);
  std::vector<std::string> targets;
  for (const auto& f : before)
    if (f.find(".vmdk") == std::string::npos) targets.push_back(f);
  for (const std::string& must : {vmx, notes})
    ASSERT_NE(std::find(targets.begin(), targets.end(), must), targets.end()) << must;
  ASSERT_GE(targets.size(), 3u) << "the .vmx, the notes and the VM's other files";
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  spill(tmp.path() / "new", random_bytes(4096));
  TransferOptions overwrite;
  overwrite.overwrite = true;
  const std::string vm_name = vm["name"].get<std::string>();
  for (const auto& target : targets) {
    SCOPED_TRACE(target);
    const std::string bytes = slurp(root / target);
    auto err = error_of([&] {
      st.upload_volume(ds, target, (tmp.path() / "new").string(), overwrite, {}, CancelToken{});
    });
    ASSERT_TRUE(err) << "an upload over a file in a running VM's folder succeeded";
    EXPECT_EQ(err->code(), ErrorCode::Conflict) << err->what();
    EXPECT_NE(std::string(err->what()).find(vm_name), std::string::npos) << err->what();
    EXPECT_TRUE(slurp(root / target) == bytes) << "the file changed";
  }
  // The notes are a volume (format "file") that the VM uses: not deleted.
  const Volume v = st.get_volume(ds, notes);
  EXPECT_EQ(v.format, "file");
  EXPECT_EQ(v.used_by, std::vector<std::string>{vm_name});
  auto err = error_of([&] { st.remove_volume(ds, notes); });
  ASSERT_TRUE(err) << "deleting a file in a VM's folder succeeded";
  EXPECT_EQ(err->code(), ErrorCode::Conflict) << err->what();
  EXPECT_NE(std::string(err->what()).find(vm_name), std::string::npos) << err->what();
  EXPECT_EQ(sim_files(sim, ds, folder), before) << "a file went or a temporary is left";
  EXPECT_TRUE(slurp(root / notes) == "the VM's notes");
  const json again = sim.find_vm(vm_name);
  EXPECT_EQ(again["powerState"], "poweredOn");
  EXPECT_EQ(again["vmPathName"], vm["vmPathName"]);
}

/// Files other than disks and ISOs (an uploaded raw image, a text file) are
/// volumes of format "file": listed with their size, found by their whole
/// path, deleted by volume delete (also through the CLI). A VM's own files
/// (.vmx, .nvram, logs) and the disks' extents are not volumes.
void other_files_are_volumes(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string folder = unique("plain");
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string image = random_bytes(70 * 1024);
  spill(tmp.path() / "raw.img", image);
  spill(tmp.path() / "readme.txt", "read me");
  st.upload_volume(ds, folder + "/raw.img", (tmp.path() / "raw.img").string(), {}, {},
                   CancelToken{});
  st.upload_volume(ds, folder + "/readme.txt", (tmp.path() / "readme.txt").string(), {}, {},
                   CancelToken{});
  const auto listed = st.list_volumes(ds);
  auto find = [&](const std::string& name) -> const Volume* {
    for (const auto& v : listed)
      if (v.name == name) return &v;
    return nullptr;
  };
  for (const auto& [name, size] :
       {std::pair{folder + "/raw.img", image.size()}, std::pair{folder + "/readme.txt", 7ul}}) {
    SCOPED_TRACE(name);
    const Volume* v = find(name);
    ASSERT_NE(v, nullptr) << "not listed";
    EXPECT_EQ(v->format, "file");
    EXPECT_EQ(v->type, "file");
    EXPECT_EQ(v->path, "[" + ds + "] " + name);
    EXPECT_EQ(v->capacity_bytes, size);
    EXPECT_EQ(v->allocation_bytes, size);
    EXPECT_TRUE(v->used_by.empty());
    const Volume one = st.get_volume(ds, name);
    EXPECT_EQ(one.path, v->path);
    EXPECT_EQ(one.capacity_bytes, v->capacity_bytes);
  }
  for (const auto& v : listed) {
    EXPECT_EQ(v.path.find(".vmx"), std::string::npos) << v.path;
    EXPECT_EQ(v.path.find(".nvram"), std::string::npos) << v.path;
    EXPECT_EQ(v.path.find(".log"), std::string::npos) << v.path;
    EXPECT_EQ(v.path.find("-flat.vmdk"), std::string::npos) << v.path;
    EXPECT_EQ(v.path.find(".hyperctl-upload-"), std::string::npos) << v.path;
  }
  st.remove_volume(ds, folder + "/raw.img");
  EXPECT_EQ(sim_files(sim, ds, folder), std::set<std::string>{folder + "/readme.txt"});
  auto r = sim.cli({"-c", sim.uri(), "volume", "delete", ds + "/" + folder + "/readme.txt"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(sim_files(sim, ds, folder).empty());
  std::error_code ec;
  fs::remove_all(datastore_dir(sim, ds) / folder, ec);
}

void capabilities_are_what_is_implemented(Simulator& sim) {
  auto conn = sim.connect();
  auto& st = conn->storage();
  auto& backend = vsphere_test::registry().backend_for("vsphere");
  const auto caps = backend.capabilities();
  for (Operation op :
       {Operation::PoolList, Operation::PoolInfo, Operation::PoolRefresh, Operation::VolumeList,
        Operation::VolumeInfo, Operation::VolumeCreate, Operation::VolumeDelete,
        Operation::VolumeClone, Operation::VolumeUpload, Operation::VolumeDownload})
    EXPECT_TRUE(caps.has(op)) << hyperctl::to_string(op);
  for (Operation op : {Operation::PoolCreate, Operation::PoolStart, Operation::PoolStop,
                       Operation::PoolDelete, Operation::VolumeResize})
    EXPECT_FALSE(caps.has(op)) << hyperctl::to_string(op);
  // The simulator has no ExtendVirtualDisk_Task: resize is not offered.
  EXPECT_CODE(st.resize_volume(st.list_pools().front().name, "x.vmdk", 8 * kMiB),
              ErrorCode::Unsupported);
}

// ------------------------------------------------------------- the suites

class StorageVpx : public vsphere_test::SimTest<StorageVpx> {
 public:
  static SimOptions sim_options() {
    return {
        .mode = "vpx", .vms = 1, .hosts = 1, .clusters = 1, .cluster_hosts = 1, .datastores = 2};
  }
};

class StorageEsx : public vsphere_test::SimTest<StorageEsx> {
 public:
  static SimOptions sim_options() { return {.mode = "esx", .vms = 2}; }
};

#define BOTH_MODES(Name, body) \
  TEST_F(StorageVpx, Name) {   \
    body(sim());               \
  }                            \
  TEST_F(StorageEsx, Name) {   \
    body(sim());               \
  }

BOTH_MODES(PoolsAreTheDatastores, pools_are_the_datastores)
BOTH_MODES(VolumesIncludeTheVmDisks, volumes_include_the_vm_disks)
BOTH_MODES(CreateAndDeleteADisk, create_and_delete_a_disk)
BOTH_MODES(BadCreatesChangeNothing, bad_creates_change_nothing)
BOTH_MODES(AVmDiskIsNotDeleted, a_vm_disk_is_not_deleted)
BOTH_MODES(CloneADisk, clone_a_disk)
BOTH_MODES(AttachedFilesAreInUse, attached_files_are_in_use)
BOTH_MODES(UploadThenDownload, upload_then_download)
BOTH_MODES(CancelledUploadsChangeNothing, cancelled_uploads_change_nothing)
BOTH_MODES(CancelledDownloadLeavesNoFile, cancelled_download_leaves_no_file)
BOTH_MODES(FailuresMidwayLeaveThingsAsTheyWere, failures_midway_leave_things_as_they_were)
BOTH_MODES(UploadOntoAVmDiskIsRefused, upload_onto_a_vm_disk_is_refused)
BOTH_MODES(FailedDiskTasksLeaveNoDestination, failed_disk_tasks_leave_no_destination)
BOTH_MODES(NamesRoundTrip, names_round_trip)
BOTH_MODES(CancelledCloneLeavesNoDestination, cancelled_clone_leaves_no_destination)
BOTH_MODES(CapabilitiesAreWhatIsImplemented, capabilities_are_what_is_implemented)
BOTH_MODES(ASingleFileVmdkIsDeleted, a_single_file_vmdk_is_deleted)
BOTH_MODES(ThroughTheCli, through_the_cli)
BOTH_MODES(FilesInAVmFolderAreInUse, files_in_a_vm_folder_are_in_use)
BOTH_MODES(OtherFilesAreVolumes, other_files_are_volumes)

// A datacenter inside a folder ("F0/DC0"): /folder transfers name it by its
// inventory path (dcPath), which the simulator requires as vCenter does.
class StorageInFolder : public vsphere_test::SimTest<StorageInFolder> {
 public:
  static SimOptions sim_options() {
    return {.mode = "vpx", .vms = 1, .hosts = 1, .clusters = 0, .folders = 1};
  }
};

TEST_F(StorageInFolder, TransfersNameTheDatacenterByItsPath) {
  auto conn = sim().connect();
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string data = random_bytes(256 * 1024);
  spill(tmp.path() / "in.img", data);
  const std::string name = unique("in-folder") + "/blob.img";
  st.upload_volume(ds, name, (tmp.path() / "in.img").string(), {}, {}, CancelToken{});
  EXPECT_TRUE(slurp(datastore_dir(sim(), ds) / name) == data) << "the datastore file differs";
  st.download_volume(ds, name, (tmp.path() / "out.img").string(), {}, {}, CancelToken{});
  EXPECT_TRUE(slurp(tmp.path() / "out.img") == data) << "the download differs";
  std::error_code ec;
  fs::remove_all(datastore_dir(sim(), ds) / unique("in-folder"), ec);
}

// With two datastores, a volume without a pool is refused, naming them.
TEST_F(StorageVpx, NewVolumeNeedsAPoolWhenThereAreSeveral) {
  auto conn = sim().connect();
  VolumeSpec spec;
  spec.name = unique("where");
  spec.capacity_bytes = kMiB;
  auto err = error_of([&] { conn->storage().create_volume(spec); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::InvalidArgument) << err->what();
  for (const auto& p : conn->storage().list_pools())
    EXPECT_NE(std::string(err->what()).find(p.name), std::string::npos) << err->what();
}

// A standalone host with its one datastore: the pool may be left out.
TEST_F(StorageEsx, NewVolumeGoesToTheOnlyDatastore) {
  auto conn = sim().connect();
  auto& st = conn->storage();
  ASSERT_EQ(st.list_pools().size(), 1u);
  VolumeSpec spec;
  spec.name = unique("only");
  spec.capacity_bytes = kMiB;
  const Volume v = st.create_volume(spec);
  EXPECT_EQ(v.pool, st.list_pools().front().name);
  EXPECT_TRUE(sim_files(sim(), v.pool).count(spec.name + ".vmdk"));
  st.remove_volume(v.pool, v.name);
  EXPECT_FALSE(sim_files(sim(), v.pool).count(spec.name + ".vmdk"));
}

}  // namespace
