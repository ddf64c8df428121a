// Storage pools and volumes over the libvirt C API (networks: network_ops.cpp;
// upload/download: storage_transfer.cpp).
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "domain_xml.hpp"
#include "errors.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "hyperctl/size.hpp"
#include "ops.hpp"
#include "qemu_img.hpp"
#include "storage_common.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace storage {

PoolPtr find_pool(const Session& s, const std::string& name, const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "no storage pool named", op);
  PoolPtr pool(virStoragePoolLookupByName(s.get(), name.c_str()));
  if (pool) return pool;
  auto e = take_last_error(s.get());
  if (e.code == VIR_ERR_NO_STORAGE_POOL)
    throw Error(ErrorCode::NotFound, "storage pool " + quoted(name) + " not found on " + s.uri.raw,
                op, e.detail());
  fail(e, "cannot look up storage pool " + quoted(name), op);
}

PoolPtr find_active_pool(const Session& s, const std::string& name, const std::string& op) {
  auto pool = find_pool(s, name, op);
  if (virStoragePoolIsActive(pool.get()) != 1)
    throw Error(ErrorCode::Conflict,
                "storage pool " + quoted(name) + " is not active (start it with pool start)", op);
  return pool;
}

std::string volume_label(const std::string& pool, const std::string& name) {
  return quoted(pool + "/" + name);
}

VolPtr volume_if_exists(const Session& s, virStoragePoolPtr pool, const std::string& pool_name,
                        const std::string& name, const std::string& op) {
  VolPtr vol(virStorageVolLookupByName(pool, name.c_str()));
  if (vol) return vol;
  auto e = take_last_error(s.get());
  if (e.code == VIR_ERR_NO_STORAGE_VOL) return nullptr;
  fail(e, "cannot look up volume " + volume_label(pool_name, name), op);
}

VolPtr find_volume(const Session& s, virStoragePoolPtr pool, const std::string& pool_name,
                   const std::string& name, const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "no volume named", op);
  auto vol = volume_if_exists(s, pool, pool_name, name, op);
  if (!vol)
    throw Error(ErrorCode::NotFound,
                "volume " + volume_label(pool_name, name) + " not found on " + s.uri.raw, op);
  return vol;
}

void validate_new_name(const std::string& what, const std::string& name, const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "a " + what + " needs a name", op);
  if (!escape::valid_utf8(name))
    throw Error(ErrorCode::InvalidArgument, what + " name is not valid UTF-8", op);
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      throw Error(
          ErrorCode::InvalidArgument,
          what + " name " + quoted(name) + " contains a control character (newline, tab...)", op);
  }
  if (name.find('/') != std::string::npos)
    throw Error(ErrorCode::InvalidArgument,
                what + " name " + quoted(name) + " contains '/'; a name cannot be a path", op);
  if (name == "." || name == "..")
    throw Error(ErrorCode::InvalidArgument,
                what + " name " + quoted(name) + " names a directory, not a " + what, op);
  const std::string suffix = kPartialSuffix;
  if (name.size() >= suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    throw Error(ErrorCode::InvalidArgument,
                what + " name " + quoted(name) + " ends with '" + suffix +
                    "', which hyperctl keeps for unfinished uploads",
                op);
}

void validate_format(const std::string& format, const std::string& op) {
  bool ok = !format.empty() && std::all_of(format.begin(), format.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c);
  });
  if (!ok)
    throw Error(ErrorCode::InvalidArgument,
                "volume format " + quoted(format) + " is not a format name (qcow2, raw, vmdk...)",
                op);
}

namespace {

const char* volume_type_name(int type) {
  switch (type) {
    case VIR_STORAGE_VOL_FILE:
      return "file";
    case VIR_STORAGE_VOL_BLOCK:
      return "block";
    case VIR_STORAGE_VOL_DIR:
      return "dir";
    case VIR_STORAGE_VOL_NETWORK:
      return "network";
    case VIR_STORAGE_VOL_NETDIR:
      return "netdir";
    case VIR_STORAGE_VOL_PLOOP:
      return "ploop";
    default:
      return "";
  }
}

}  // namespace

Volume describe_volume(const Session& s, virStorageVolPtr vol, const std::string& pool_name) {
  Volume v;
  v.name = virStorageVolGetName(vol);
  v.pool = pool_name;
  CString path(virStorageVolGetPath(vol));
  if (path) v.path = path.get();
  if (const char* key = virStorageVolGetKey(vol)) v.key = key;
  virStorageVolInfo info;
  if (virStorageVolGetInfo(vol, &info) == 0) {
    v.capacity_bytes = info.capacity;
    v.allocation_bytes = info.allocation;
    v.type = volume_type_name(info.type);
  }
  CString xml(virStorageVolGetXMLDesc(vol, 0));
  if (xml)
    v.format =
        XmlDoc::parse(xml.get(), "a volume description").value("/volume/target/format/@type");
  take_last_error(s.get());
  return v;
}

Pool describe_pool(const Session& s, virStoragePoolPtr pool, const std::string& op) {
  Pool p;
  p.name = virStoragePoolGetName(pool);
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (virStoragePoolGetUUIDString(pool, uuid) == 0) p.id = uuid;
  p.active = virStoragePoolIsActive(pool) == 1;
  int autostart = 0;
  if (virStoragePoolGetAutostart(pool, &autostart) == 0) p.autostart = autostart != 0;
  virStoragePoolInfo info;
  if (virStoragePoolGetInfo(pool, &info) == 0) {
    p.capacity_bytes = info.capacity;
    p.allocation_bytes = info.allocation;
    p.available_bytes = info.available;
  }
  CString xml(virStoragePoolGetXMLDesc(pool, 0));
  if (!xml) fail(s.get(), "cannot read storage pool " + quoted(p.name), op);
  auto doc = XmlDoc::parse(xml.get(), "a storage pool description");
  p.type = doc.value("/pool/@type");
  p.path = doc.value("/pool/target/path");
  take_last_error(s.get());
  return p;
}

namespace {

std::string folder_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// The path of volume `volume` in pool `pool` (a <disk type='volume'>); ""
/// when either is gone.
std::string volume_path(const Session& s, const std::string& pool, const std::string& volume) {
  PoolPtr p(virStoragePoolLookupByName(s.get(), pool.c_str()));
  VolPtr v(p ? virStorageVolLookupByName(p.get(), volume.c_str()) : nullptr);
  CString path(v ? virStorageVolGetPath(v.get()) : nullptr);
  take_last_error(s.get());
  return path ? std::string(path.get()) : std::string();
}

}  // namespace

VolPtr VolumeFinder::by_path(const std::string& path) {
  VolPtr vol(virStorageVolLookupByPath(s_.get(), path.c_str()));
  if (vol) return vol;
  take_last_error(s_.get());
  const std::string dir = folder_of(path);
  if (dir.empty() || !refreshed_.insert(dir).second) return nullptr;
  // Pools list only what they saw at their last refresh; QEMU adds files
  // (snapshot overlays) behind their back.
  virStoragePoolPtr* raw = nullptr;
  int n = virConnectListAllStoragePools(s_.get(), &raw, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);
  bool refreshed = false;
  for (auto& pool : adopt_array<PoolPtr>(raw, n)) {
    CString xml(virStoragePoolGetXMLDesc(pool.get(), 0));
    if (!xml) continue;
    if (XmlDoc::parse(xml.get(), "a storage pool description").value("/pool/target/path") != dir)
      continue;
    refreshed = virStoragePoolRefresh(pool.get(), 0) == 0 || refreshed;
  }
  take_last_error(s_.get());
  if (!refreshed) return nullptr;
  vol.reset(virStorageVolLookupByPath(s_.get(), path.c_str()));
  if (!vol) take_last_error(s_.get());
  return vol;
}

std::vector<std::string> VolumeFinder::chain(const std::string& path) {
  std::vector<std::string> out{path};
  // 64: far deeper than any real chain; a loop in broken metadata stops too.
  while (out.size() < 64) {
    auto vol = by_path(out.back());
    if (!vol) break;
    CString xml(virStorageVolGetXMLDesc(vol.get(), 0));
    if (!xml) {
      take_last_error(s_.get());
      break;
    }
    std::string next =
        XmlDoc::parse(xml.get(), "a volume description").value("/volume/backingStore/path");
    if (next.empty() || std::find(out.begin(), out.end(), next) != out.end()) break;
    out.push_back(std::move(next));
  }
  return out;
}

std::string VolumeFinder::canonical(const std::string& path) {
  auto vol = by_path(path);
  CString p(vol ? virStorageVolGetPath(vol.get()) : nullptr);
  if (!p) {
    take_last_error(s_.get());
    return path;
  }
  return p.get();
}

DiskUsers DiskUsers::scan(const Session& s, bool running_only, const std::string& skip_uuid,
                          const std::string& op) {
  virDomainPtr* raw = nullptr;
  const unsigned flags = running_only ? VIR_CONNECT_LIST_DOMAINS_ACTIVE : 0;
  int n = virConnectListAllDomains(s.get(), &raw, flags);
  if (n < 0) fail(s.get(), "cannot list the VMs on " + s.uri.raw + " to see who uses a volume", op);
  DiskUsers out;
  VolumeFinder finder(s, op);
  for (auto& dom : adopt_array<DomPtr>(raw, n)) {
    char uuid[VIR_UUID_STRING_BUFLEN] = {};
    if (virDomainGetUUIDString(dom.get(), uuid) == 0 && !skip_uuid.empty() && skip_uuid == uuid)
      continue;
    const char* raw_name = virDomainGetName(dom.get());
    const std::string name = raw_name ? raw_name : "";
    // A running persistent VM may boot next time from other disks than it
    // runs on now: both use them.
    std::vector<unsigned> views{0};
    if (!running_only && virDomainIsActive(dom.get()) == 1 && virDomainIsPersistent(dom.get()) == 1)
      views.push_back(VIR_DOMAIN_XML_INACTIVE);
    take_last_error(s.get());
    for (unsigned view : views) {
      CString xml(virDomainGetXMLDesc(dom.get(), view));
      if (!xml) {
        auto e = take_last_error(s.get());
        if (e.code == VIR_ERR_NO_DOMAIN) break;  // vanished meanwhile
        fail(e, "cannot read the configuration of VM " + quoted(name), op);
      }
      for (const auto& src : parse_domain_xml(xml.get()).sources) {
        const std::string path =
            src.volume.empty() ? src.path : volume_path(s, src.pool, src.volume);
        if (path.empty()) continue;
        // By the path the XML names and by the volume's own: callers look
        // up either.
        out.by_path_[finder.canonical(path)].insert(name);
        for (const auto& p : finder.chain(path)) out.by_path_[p].insert(name);
        for (const auto& p : src.backing) out.by_path_[p].insert(name);
      }
    }
  }
  return out;
}

std::vector<std::string> DiskUsers::of(const std::string& path) const {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> vms_using(const Session& s, const Volume& volume, bool running_only,
                                   const std::string& op) {
  if (volume.path.empty()) return {};
  return DiskUsers::scan(s, running_only, "", op).of(volume.path);
}

std::string used_by_text(const std::vector<std::string>& vms) {
  std::string names;
  for (const auto& n : vms) names += (names.empty() ? "" : ", ") + quoted(n);
  return std::string(vms.size() == 1 ? "used by VM " : "used by VMs ") + names;
}

std::string volume_xml(const std::string& name, std::uint64_t capacity_bytes,
                       const std::string& format) {
  std::string x = "<volume>\n";
  x += "  <name>" + escape::xml_text(name) + "</name>\n";
  x += "  <capacity unit='bytes'>" + std::to_string(capacity_bytes) + "</capacity>\n";
  x += "  <allocation unit='bytes'>0</allocation>\n";
  x += "  <target>\n    <format type='" + escape::xml_attr(format) + "'/>\n  </target>\n";
  x += "</volume>\n";
  return x;
}

}  // namespace storage

using namespace storage;

namespace {

std::string pool_xml(const std::string& name, const std::string& path) {
  std::string x = "<pool type='dir'>\n";
  x += "  <name>" + escape::xml_text(name) + "</name>\n";
  x += "  <target>\n    <path>" + escape::xml_text(path) + "</path>\n  </target>\n";
  x += "</pool>\n";
  return x;
}

std::string names_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + quoted(n);
  return out;
}

/// How far the guest-visible data of a volume reaches, where qemu-img can
/// read its file: a local (not test) connection, raw or qcow2.
std::optional<std::uint64_t> data_end(const Session& s, const Volume& v, const std::string& op) {
  if (!s.is_local() || s.is_test_driver() || v.path.empty()) return std::nullopt;
  if (v.format != "raw" && v.format != "qcow2") return std::nullopt;
  struct stat st {};
  if (::stat(v.path.c_str(), &st) != 0) return std::nullopt;
  return qemu_img_data_end(v.path, v.format, op);
}

}  // namespace

// ---------------------------------------------------------------- pools

std::vector<Pool> LibvirtStorageOps::list_pools() {
  return guarded("pool.list", [&] {
    const std::string op = "pool.list";
    virStoragePoolPtr* raw = nullptr;
    int n = virConnectListAllStoragePools(s_.get(), &raw, 0);
    if (n < 0) fail(s_.get(), "cannot list the storage pools of " + s_.uri.raw, op);
    std::vector<Pool> out;
    for (auto& pool : adopt_array<PoolPtr>(raw, n))
      out.push_back(describe_pool(s_, pool.get(), op));
    return out;
  });
}

Pool LibvirtStorageOps::get_pool(const std::string& name) {
  return guarded("pool.info", [&] {
    auto pool = find_pool(s_, name, "pool.info");
    return describe_pool(s_, pool.get(), "pool.info");
  });
}

Pool LibvirtStorageOps::create_pool(const std::string& name, const std::string& path) {
  return guarded("pool.create", [&] {
    const std::string op = "pool.create";
    validate_new_name("pool", name, op);
    if (path.empty() || path.front() != '/')
      throw Error(ErrorCode::InvalidArgument,
                  "a directory pool needs an absolute path, not " + quoted(path), op);
    if (!escape::valid_utf8(path) || std::any_of(path.begin(), path.end(), [](unsigned char c) {
          return c < 0x20 || c == 0x7f;
        }))
      throw Error(ErrorCode::InvalidArgument,
                  "pool path " + quoted(path) + " contains a control character or invalid UTF-8",
                  op);
    {
      PoolPtr clash(virStoragePoolLookupByName(s_.get(), name.c_str()));
      if (clash)
        throw Error(ErrorCode::AlreadyExists,
                    "storage pool " + quoted(name) + " already exists on " + s_.uri.raw, op);
      auto e = take_last_error(s_.get());
      if (e.code != VIR_ERR_NO_STORAGE_POOL)
        fail(e, "cannot check whether storage pool " + quoted(name) + " exists", op);
    }
    // Only a folder this call made is removed again on failure; on a remote
    // host we cannot tell, so the folder stays.
    struct stat st {};
    const bool made_folder = s_.is_local() && ::stat(path.c_str(), &st) != 0;

    PoolPtr pool(virStoragePoolDefineXML(s_.get(), pool_xml(name, path).c_str(), 0));
    if (!pool) fail(s_.get(), "cannot define storage pool " + quoted(name), op);
    bool built = false, started = false;
    auto undo_and_fail = [&](const std::string& what) {
      auto e = take_last_error(s_.get());
      if (started && virStoragePoolDestroy(pool.get()) < 0) take_last_error(s_.get());
      if (built && made_folder && virStoragePoolDelete(pool.get(), 0) < 0)
        take_last_error(s_.get());
      if (virStoragePoolUndefine(pool.get()) < 0) take_last_error(s_.get());
      fail(e, "cannot " + what + " storage pool " + quoted(name), op);
    };
    if (virStoragePoolBuild(pool.get(), 0) < 0) undo_and_fail("build (create the folder of)");
    built = true;
    if (virStoragePoolCreate(pool.get(), 0) < 0) undo_and_fail("start");
    started = true;
    if (virStoragePoolSetAutostart(pool.get(), 1) < 0) undo_and_fail("mark autostart");
    return describe_pool(s_, pool.get(), op);
  });
}

void LibvirtStorageOps::start_pool(const std::string& name) {
  guarded("pool.start", [&] {
    const std::string op = "pool.start";
    auto pool = find_pool(s_, name, op);
    if (virStoragePoolIsActive(pool.get()) == 1)
      throw Error(ErrorCode::Conflict, "storage pool " + quoted(name) + " is already active", op);
    if (virStoragePoolCreate(pool.get(), 0) < 0)
      fail(s_.get(), "cannot start storage pool " + quoted(name), op);
  });
}

void LibvirtStorageOps::stop_pool(const std::string& name) {
  guarded("pool.stop", [&] {
    const std::string op = "pool.stop";
    auto pool = find_pool(s_, name, op);
    if (virStoragePoolIsActive(pool.get()) != 1)
      throw Error(ErrorCode::Conflict, "storage pool " + quoted(name) + " is not active", op);
    if (virStoragePoolDestroy(pool.get()) < 0)
      fail(s_.get(), "cannot stop storage pool " + quoted(name), op);
  });
}

void LibvirtStorageOps::refresh_pool(const std::string& name) {
  guarded("pool.refresh", [&] {
    const std::string op = "pool.refresh";
    auto pool = find_active_pool(s_, name, op);
    if (virStoragePoolRefresh(pool.get(), 0) < 0)
      fail(s_.get(), "cannot refresh storage pool " + quoted(name), op);
  });
}

void LibvirtStorageOps::remove_pool(const std::string& name) {
  guarded("pool.delete", [&] {
    const std::string op = "pool.delete";
    auto pool = find_pool(s_, name, op);
    const int persistent = virStoragePoolIsPersistent(pool.get());
    if (virStoragePoolIsActive(pool.get()) == 1 && virStoragePoolDestroy(pool.get()) < 0)
      fail(s_.get(), "cannot stop storage pool " + quoted(name), op);
    // A transient pool is gone once stopped; a persistent one is forgotten.
    // Neither call touches the folder or the volumes in it.
    if (persistent == 1 && virStoragePoolUndefine(pool.get()) < 0)
      fail(s_.get(), "cannot undefine storage pool " + quoted(name), op);
    take_last_error(s_.get());
  });
}

// ---------------------------------------------------------------- volumes

std::vector<Volume> LibvirtStorageOps::list_volumes(const std::string& pool_name) {
  return guarded("volume.list", [&] {
    const std::string op = "volume.list";
    auto pool = find_active_pool(s_, pool_name, op);
    virStorageVolPtr* raw = nullptr;
    int n = virStoragePoolListAllVolumes(pool.get(), &raw, 0);
    if (n < 0) fail(s_.get(), "cannot list the volumes of pool " + quoted(pool_name), op);
    std::vector<Volume> out;
    for (auto& vol : adopt_array<VolPtr>(raw, n))
      out.push_back(describe_volume(s_, vol.get(), pool_name));
    // used_by as volume info fills it, from one pass over the VMs.
    const auto users = DiskUsers::scan(s_, false, "", op);
    for (auto& v : out) v.used_by = users.of(v.path);
    return out;
  });
}

Volume LibvirtStorageOps::get_volume(const std::string& pool_name, const std::string& name) {
  return guarded("volume.info", [&] {
    const std::string op = "volume.info";
    auto pool = find_active_pool(s_, pool_name, op);
    auto vol = find_volume(s_, pool.get(), pool_name, name, op);
    Volume v = describe_volume(s_, vol.get(), pool_name);
    v.used_by = vms_using(s_, v, false, op);
    return v;
  });
}

Volume LibvirtStorageOps::create_volume(const VolumeSpec& spec) {
  return guarded("volume.create", [&] {
    const std::string op = "volume.create";
    validate_new_name("volume", spec.name, op);
    const std::string format = spec.format.empty() ? "qcow2" : spec.format;
    validate_format(format, op);
    if (spec.capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "a volume needs a size above 0", op);
    auto pool = find_active_pool(s_, spec.pool, op);
    if (volume_if_exists(s_, pool.get(), spec.pool, spec.name, op))
      throw Error(ErrorCode::AlreadyExists,
                  "volume " + volume_label(spec.pool, spec.name) + " already exists", op);
    const std::string xml = volume_xml(spec.name, spec.capacity_bytes, format);
    VolPtr vol(virStorageVolCreateXML(pool.get(), xml.c_str(), 0));
    if (!vol) fail(s_.get(), "cannot create volume " + volume_label(spec.pool, spec.name), op);
    return describe_volume(s_, vol.get(), spec.pool);
  });
}

void LibvirtStorageOps::remove_volume(const std::string& pool_name, const std::string& name) {
  guarded("volume.delete", [&] {
    const std::string op = "volume.delete";
    auto pool = find_active_pool(s_, pool_name, op);
    auto vol = find_volume(s_, pool.get(), pool_name, name, op);
    const Volume v = describe_volume(s_, vol.get(), pool_name);
    const auto users = vms_using(s_, v, false, op);
    if (!users.empty())
      throw Error(ErrorCode::Conflict,
                  "volume " + volume_label(pool_name, name) + " is used by VM " +
                      names_list(users) + "; remove it from the VM first",
                  op);
    if (virStorageVolDelete(vol.get(), 0) < 0)
      fail(s_.get(), "cannot delete volume " + volume_label(pool_name, name), op);
  });
}

Volume LibvirtStorageOps::resize_volume(const std::string& pool_name, const std::string& name,
                                        std::uint64_t capacity_bytes,
                                        const ResizeOptions& options) {
  return guarded("volume.resize", [&] {
    const std::string op = "volume.resize";
    if (capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "a volume needs a size above 0", op);
    auto pool = find_active_pool(s_, pool_name, op);
    auto vol = find_volume(s_, pool.get(), pool_name, name, op);
    const Volume before = describe_volume(s_, vol.get(), pool_name);
    if (capacity_bytes == before.capacity_bytes) return before;
    const auto data = data_end(s_, before, op);
    check_resize(pool_name + "/" + name, before.capacity_bytes, capacity_bytes, data.value_or(0),
                 options, op);
    if (!data && capacity_bytes < before.capacity_bytes && !options.force)
      throw Error(ErrorCode::Conflict,
                  "cannot see how far the data in volume " + volume_label(pool_name, name) +
                      " reaches (qemu-img reads raw and qcow2 files of a local connection only), "
                      "so all of its " +
                      format_size(before.capacity_bytes) + " count as data; shrinking it to " +
                      format_size(capacity_bytes) + " needs --force as well (nothing was changed)",
                  op);
    const auto running = vms_using(s_, before, true, op);
    if (!running.empty())
      throw Error(ErrorCode::Conflict,
                  "volume " + volume_label(pool_name, name) + " is in use by running VM " +
                      names_list(running),
                  op);
    const unsigned flags =
        capacity_bytes < before.capacity_bytes ? VIR_STORAGE_VOL_RESIZE_SHRINK : 0;
    if (virStorageVolResize(vol.get(), capacity_bytes, flags) < 0)
      fail(s_.get(), "cannot resize volume " + volume_label(pool_name, name), op);
    return describe_volume(s_, vol.get(), pool_name);
  });
}

Volume LibvirtStorageOps::clone_volume(const std::string& pool_name, const std::string& name,
                                       const VolumeSpec& target, const ProgressFn& progress,
                                       const CancelToken& cancel) {
  return guarded("volume.clone", [&] {
    const std::string op = "volume.clone";
    validate_new_name("volume", target.name, op);
    if (!target.format.empty()) validate_format(target.format, op);
    auto pool = find_active_pool(s_, pool_name, op);
    auto src = find_volume(s_, pool.get(), pool_name, name, op);
    const Volume source = describe_volume(s_, src.get(), pool_name);
    const std::string to_pool_name = target.pool.empty() ? pool_name : target.pool;
    PoolPtr to_pool = find_active_pool(s_, to_pool_name, op);
    // libvirt 9.0's test driver looks the source up in the target pool.
    if (s_.is_test_driver() && to_pool_name != pool_name)
      throw Error(ErrorCode::Unsupported, "the test driver cannot clone a volume into another pool",
                  op);
    if (volume_if_exists(s_, to_pool.get(), to_pool_name, target.name, op))
      throw Error(ErrorCode::AlreadyExists,
                  "volume " + volume_label(to_pool_name, target.name) + " already exists", op);
    if (target.capacity_bytes && target.capacity_bytes < source.capacity_bytes)
      throw Error(
          ErrorCode::InvalidArgument,
          "a clone cannot be smaller than its source (" + format_size(source.capacity_bytes) + ")",
          op);
    const std::string format =
        !target.format.empty() ? target.format : (source.format.empty() ? "raw" : source.format);
    const std::string xml = volume_xml(
        target.name, target.capacity_bytes ? target.capacity_bytes : source.capacity_bytes, format);
    const std::string what = "clone of volume " + volume_label(pool_name, name) + " to " +
                             volume_label(to_pool_name, target.name);
    if (cancel.cancelled())
      throw Error(ErrorCode::Cancelled, what + " cancelled; nothing was copied", op);
    auto report = [&](std::uint64_t done) {
      if (!progress) return;
      Progress p;
      p.phase = "clone";
      p.unit = "bytes";
      p.done = done;
      p.total = source.capacity_bytes;
      progress(p);
    };
    report(0);
    // libvirt cannot stop a copy it started: a cancel is honoured once it
    // returns, by deleting the copy.
    VolPtr vol(virStorageVolCreateXMLFrom(to_pool.get(), xml.c_str(), src.get(), 0));
    if (!vol)
      fail(s_.get(),
           "cannot clone volume " + volume_label(pool_name, name) + " to " +
               volume_label(to_pool_name, target.name),
           op);
    if (cancel.cancelled()) {
      const std::string copy = volume_label(to_pool_name, target.name);
      if (virStorageVolDelete(vol.get(), 0) == 0)
        throw Error(ErrorCode::Cancelled,
                    what + " cancelled; the partial copy " + copy + " was removed", op);
      auto e = take_last_error(s_.get());
      throw Error(ErrorCode::Cancelled,
                  what + " cancelled, but the copy " + copy +
                      " could not be removed (delete it with volume delete): " + e.first_line(),
                  op, e.detail());
    }
    report(source.capacity_bytes);
    return describe_volume(s_, vol.get(), to_pool_name);
  });
}

}  // namespace hyperctl::lv
