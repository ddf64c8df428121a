// VM lifecycle over the libvirt C API.
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <thread>
#include <unordered_set>

#include "domain_xml.hpp"
#include "errors.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "hyperctl/size.hpp"
#include "ops.hpp"
#include "states.hpp"
#include "storage_common.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

using Clock = std::chrono::steady_clock;

// libvirt's flag enums differ in type; combine them as plain unsigned.
constexpr unsigned kConfigVcpuMax = static_cast<unsigned>(VIR_DOMAIN_AFFECT_CONFIG) |
                                    static_cast<unsigned>(VIR_DOMAIN_VCPU_MAXIMUM);
constexpr unsigned kConfigMemMax =
    static_cast<unsigned>(VIR_DOMAIN_AFFECT_CONFIG) | static_cast<unsigned>(VIR_DOMAIN_MEM_MAXIMUM);

std::string uuid_of(virDomainPtr dom) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(dom, buf) < 0) return {};
  return buf;
}

std::string name_of(virDomainPtr dom) {
  const char* n = virDomainGetName(dom);
  return n ? n : "";
}

std::string vm(virDomainPtr dom) {
  return "VM " + quoted(name_of(dom));
}

struct DomState {
  int state = VIR_DOMAIN_NOSTATE;
  bool active = false;
};

DomState state_of(const Session& s, virDomainPtr dom, const std::string& op) {
  DomState out;
  int reason = 0;
  if (virDomainGetState(dom, &out.state, &reason, 0) < 0)
    fail(s.get(), "cannot read the state of " + vm(dom), op);
  int active = virDomainIsActive(dom);
  if (active < 0) fail(s.get(), "cannot read the state of " + vm(dom), op);
  out.active = active == 1;
  return out;
}

bool has_managed_save(const Session& s, virDomainPtr dom) {
  int r = virDomainHasManagedSaveImage(dom, 0);
  if (r < 0) take_last_error(s.get());
  return r > 0;
}

std::string hostname_of(const Session& s) {
  CString h(virConnectGetHostname(s.get()));
  if (!h) {
    take_last_error(s.get());
    return s.uri.host;
  }
  return h.get();
}

/// UUIDs of the domains a virConnectListAllDomains filter selects; nullopt
/// when the driver cannot filter that way.
std::optional<std::unordered_set<std::string>> uuids_where(const Session& s, unsigned flags) {
  virDomainPtr* raw = nullptr;
  int n = virConnectListAllDomains(s.get(), &raw, flags);
  if (n < 0) {
    take_last_error(s.get());
    return std::nullopt;
  }
  auto doms = adopt_array<DomPtr>(raw, n);
  std::unordered_set<std::string> out;
  for (const auto& d : doms) out.insert(uuid_of(d.get()));
  return out;
}

const virTypedParameter* find_param(const virDomainStatsRecord& r, const std::string& field) {
  for (int i = 0; i < r.nparams; ++i)
    if (field == r.params[i].field) return &r.params[i];
  return nullptr;
}

std::optional<std::uint64_t> num_param(const virDomainStatsRecord& r, const std::string& field) {
  const auto* p = find_param(r, field);
  if (!p) return std::nullopt;
  switch (p->type) {
    case VIR_TYPED_PARAM_INT:
      return static_cast<std::uint64_t>(p->value.i);
    case VIR_TYPED_PARAM_UINT:
      return p->value.ui;
    case VIR_TYPED_PARAM_LLONG:
      return static_cast<std::uint64_t>(p->value.l);
    case VIR_TYPED_PARAM_ULLONG:
      return p->value.ul;
    case VIR_TYPED_PARAM_DOUBLE:
      return static_cast<std::uint64_t>(p->value.d);
    case VIR_TYPED_PARAM_BOOLEAN:
      return p->value.b ? 1 : 0;
    default:
      return std::nullopt;
  }
}

std::string str_param(const virDomainStatsRecord& r, const std::string& field) {
  const auto* p = find_param(r, field);
  return p && p->type == VIR_TYPED_PARAM_STRING && p->value.s ? p->value.s : "";
}

bool wanted_state(const VmFilter& filter, VmState state) {
  return filter.states.empty() ||
         std::find(filter.states.begin(), filter.states.end(), state) != filter.states.end();
}

bool wanted_name(const VmFilter& filter, const std::string& name) {
  return filter.name_glob.empty() || fnmatch(filter.name_glob.c_str(), name.c_str(), 0) == 0;
}

// Facts shared by every VmInfo of one list() call.
struct ListContext {
  std::string host;
  std::optional<std::unordered_set<std::string>> saved, autostart, transient;
};

void fill_common(VmInfo& info, virDomainPtr dom, const Session& s, const ListContext& ctx) {
  info.id = uuid_of(dom);
  info.name = name_of(dom);
  info.host = ctx.host;
  info.backend = kBackendName;
  info.persistent = !(ctx.transient && ctx.transient->count(info.id));
  if (ctx.autostart && info.persistent) info.autostart = ctx.autostart->count(info.id) > 0;
  unsigned id = virDomainGetID(dom);
  if (id != static_cast<unsigned>(-1)) info.extras["libvirt_id"] = std::to_string(id);
  info.extras["driver"] = s.driver;
}

std::uint64_t kib_to_bytes(std::uint64_t kib) {
  return kib * 1024;
}
std::uint64_t bytes_to_kib(std::uint64_t bytes) {
  return (bytes + 1023) / 1024;
}

void validate_name(const std::string& name, const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "a VM needs a name", op);
  if (!escape::valid_utf8(name))
    throw Error(ErrorCode::InvalidArgument, "VM name is not valid UTF-8", op);
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      throw Error(ErrorCode::InvalidArgument,
                  "VM name " + quoted(name) +
                      " contains a control character (newline, tab...); libvirt refuses those",
                  op);
  }
  if (name.find('/') != std::string::npos)
    throw Error(ErrorCode::InvalidArgument,
                "VM name " + quoted(name) + " contains '/'; libvirt refuses names with '/'", op);
}

/// Format names go into XML attributes (escaped) and into volume file
/// extensions: letters and digits only.
void validate_format(const std::string& format, const std::string& op) {
  bool ok = !format.empty() && std::all_of(format.begin(), format.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c);
  });
  if (!ok)
    throw Error(ErrorCode::InvalidArgument,
                "disk format " + quoted(format) + " is not a format name (qcow2, raw, vmdk...)",
                op);
}

std::string extension_for(const std::string& format) {
  return format == "raw" ? "img" : format;
}

std::string format_from_path(const std::string& path) {
  auto dot = path.rfind('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "qcow2" || ext == "vmdk" || ext == "vhdx" || ext == "vdi" || ext == "qed") return ext;
  if (ext == "vhd") return "vpc";
  return "raw";
}

bool is_iso(const std::string& path) {
  return path.size() > 4 && (path.compare(path.size() - 4, 4, ".iso") == 0 ||
                             path.compare(path.size() - 4, 4, ".ISO") == 0);
}

/// Domain type and OS type for a new VM on this connection.
struct GuestKind {
  std::string domain_type, os_type, arch;
  bool acpi = false;
};

GuestKind choose_guest(const Session& s, const std::string& op) {
  if (s.is_test_driver()) return {"test", "hvm", "", false};
  if (s.driver == "LXC") return {"lxc", "exe", "", false};
  CString caps_text(virConnectGetCapabilities(s.get()));
  if (!caps_text) fail(s.get(), "cannot read the capabilities of " + s.uri.raw, op);
  auto caps = XmlDoc::parse(caps_text.get(), "a capabilities document");
  std::string arch = caps.value("/capabilities/host/cpu/arch");
  bool offers_kvm = false;
  std::string first_type;
  for (const auto& guest : caps.select("/capabilities/guest")) {
    if (guest.child("os_type").text() != "hvm") continue;
    auto a = guest.child("arch");
    if (a.attr("name") != arch) continue;
    for (const auto& d : a.children("domain")) {
      if (first_type.empty()) first_type = d.attr("type");
      if (d.attr("type") == "kvm") offers_kvm = true;
    }
  }
  if (s.driver == "QEMU") {
    bool kvm_usable = offers_kvm;
    if (kvm_usable && s.is_local()) {
      // libvirt lists kvm when /dev/kvm exists; probe that it really opens.
      int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
      kvm_usable = fd >= 0;
      if (fd >= 0) ::close(fd);
    }
    return {kvm_usable ? "kvm" : "qemu", "hvm", arch, true};
  }
  if (first_type.empty())
    throw Error(ErrorCode::Unsupported,
                "the " + s.driver + " driver at " + s.uri.raw + " offers no hvm guest for " + arch,
                op);
  return {first_type, "hvm", arch, true};
}

PoolPtr choose_pool(const Session& s, const std::string& wanted, const std::string& op) {
  if (!wanted.empty()) {
    PoolPtr p(virStoragePoolLookupByName(s.get(), wanted.c_str()));
    if (!p) {
      auto e = take_last_error(s.get());
      if (e.code == VIR_ERR_NO_STORAGE_POOL)
        throw Error(ErrorCode::NotFound,
                    "storage pool " + quoted(wanted) + " not found on " + s.uri.raw, op,
                    e.detail());
      fail(e, "cannot look up storage pool " + quoted(wanted), op);
    }
    if (virStoragePoolIsActive(p.get()) != 1)
      throw Error(ErrorCode::Conflict, "storage pool " + quoted(wanted) + " is not active", op);
    return p;
  }
  for (const char* name : {"default", "default-pool"}) {
    PoolPtr p(virStoragePoolLookupByName(s.get(), name));
    if (p && virStoragePoolIsActive(p.get()) == 1) return p;
    take_last_error(s.get());
  }
  virStoragePoolPtr* raw = nullptr;
  int n = virConnectListAllStoragePools(s.get(), &raw, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);
  if (n < 0) fail(s.get(), "cannot list the storage pools of " + s.uri.raw, op);
  auto pools = adopt_array<PoolPtr>(raw, n);
  if (pools.empty())
    throw Error(ErrorCode::InvalidArgument,
                "no active storage pool on " + s.uri.raw +
                    " to create the disk in (define a pool named 'default', or name one)",
                op);
  return std::move(pools.front());
}

/// <os firmware=...> for `wanted` ("", "bios", "uefi"). UEFI goes through
/// libvirt's firmware autoselection, so it is offered only where the domain
/// capabilities list an EFI firmware; the test driver simulates and just
/// records the choice.
std::string choose_firmware(const Session& s, const std::string& wanted, const GuestKind& kind,
                            const std::string& op) {
  if (wanted.empty() || wanted == "bios") return {};
  if (wanted != "uefi")
    throw Error(ErrorCode::InvalidArgument,
                "firmware " + quoted(wanted) + " is neither bios nor uefi", op);
  if (s.is_test_driver()) return "efi";
  if (kind.os_type != "hvm")
    throw Error(ErrorCode::Unsupported,
                "UEFI firmware applies to hvm guests; the " + s.driver + " driver runs containers",
                op);
  CString caps(virConnectGetDomainCapabilities(s.get(), nullptr,
                                               kind.arch.empty() ? nullptr : kind.arch.c_str(),
                                               nullptr, kind.domain_type.c_str(), 0));
  if (!caps) {
    auto e = take_last_error(s.get());
    if (e.code == VIR_ERR_NO_SUPPORT)
      throw Error(ErrorCode::Unsupported,
                  "cannot check for UEFI firmware: the " + s.driver +
                      " driver does not report domain capabilities",
                  op, e.detail());
    fail(e, "cannot read the domain capabilities of " + s.uri.raw, op);
  }
  auto doc = XmlDoc::parse(caps.get(), "a domain capabilities document");
  for (const auto& v : doc.select("/domainCapabilities/os/enum[@name='firmware']/value"))
    if (v.text() == "efi") return "efi";
  throw Error(ErrorCode::Unsupported,
              "no UEFI firmware on " + s.uri.raw + " for " + kind.arch + "/" + kind.domain_type +
                  " guests: libvirt found no EFI firmware descriptor (install OVMF on the host, "
                  "Debian package 'ovmf'), or use --firmware bios",
              op);
}

/// A network a new VM is attached to must exist (libvirt would only notice
/// when the VM starts).
void require_network(const Session& s, const std::string& name, const std::string& op) {
  NetPtr net(virNetworkLookupByName(s.get(), name.c_str()));
  if (net) return;
  auto e = take_last_error(s.get());
  if (e.code == VIR_ERR_NO_NETWORK)
    throw Error(ErrorCode::NotFound, "network " + quoted(name) + " not found on " + s.uri.raw, op,
                e.detail());
  fail(e, "cannot look up network " + quoted(name), op);
}

/// Volumes created by create(); deleted again unless released.
class VolumeRollback {
 public:
  explicit VolumeRollback(const Session& s) : s_(s) {}
  ~VolumeRollback() {
    for (auto& v : vols_) {
      if (virStorageVolDelete(v.get(), 0) < 0) take_last_error(s_.get());
    }
  }
  VolumeRollback(const VolumeRollback&) = delete;
  VolumeRollback& operator=(const VolumeRollback&) = delete;
  void add(VolPtr v) { vols_.push_back(std::move(v)); }
  void release() { vols_.clear(); }

 private:
  const Session& s_;
  std::vector<VolPtr> vols_;
};

/// What vm.delete with storage deletes (overlays before the images below
/// them) and what it keeps.
struct StoragePlan {
  struct Doomed {
    VolPtr vol;
    std::string label;
  };
  std::vector<Doomed> doomed;
  std::vector<KeptDisk> kept;
};

/// The disks of `dom` (both configurations) with their backing chains, each
/// file deleted unless another VM uses it; a file another VM uses is kept with
/// everything below it. A disk that is no volume throws Conflict.
StoragePlan plan_storage(const Session& s, virDomainPtr dom, const std::string& who,
                         bool persistent, const std::string& op) {
  std::vector<DiskSource> disks;
  std::vector<unsigned> views{0};
  if (persistent) views.push_back(VIR_DOMAIN_XML_INACTIVE);
  for (unsigned view : views) {
    CString xml(virDomainGetXMLDesc(dom, view));
    if (!xml) fail(s.get(), "cannot read the configuration of " + who, op);
    for (const auto& src : parse_domain_xml(xml.get()).sources)
      if (src.device == "disk") disks.push_back(src);
  }
  const auto users = storage::DiskUsers::scan(s, false, uuid_of(dom), op);
  storage::VolumeFinder finder(s, op);
  StoragePlan plan;
  std::unordered_set<std::string> seen;
  for (const auto& src : disks) {
    VolPtr top;
    std::string label;
    if (!src.volume.empty()) {
      label = src.pool + "/" + src.volume;
      PoolPtr pool(virStoragePoolLookupByName(s.get(), src.pool.c_str()));
      if (pool) top.reset(virStorageVolLookupByName(pool.get(), src.volume.c_str()));
    } else if (!src.path.empty()) {
      label = src.path;
      top = finder.by_path(src.path);
    } else {
      label = src.target;
    }
    std::string path = src.path;
    if (top) {
      CString p(virStorageVolGetPath(top.get()));
      if (p) path = p.get();
    }
    if (!path.empty() && !seen.insert(path).second) continue;
    auto top_users = path.empty() ? std::vector<std::string>{} : users.of(path);
    if (top_users.empty() && !src.path.empty()) top_users = users.of(src.path);
    if (!top_users.empty()) {
      plan.kept.push_back({label, storage::used_by_text(top_users)});
      continue;
    }
    if (!top) {
      auto e = take_last_error(s.get());
      if (e.present() && e.code != VIR_ERR_NO_STORAGE_VOL && e.code != VIR_ERR_NO_STORAGE_POOL)
        fail(e, "cannot look up disk " + quoted(label) + " of " + who, op);
      throw Error(ErrorCode::Conflict,
                  "disk " + quoted(label) + " of " + who +
                      " is not a libvirt storage volume; nothing was deleted (delete the VM "
                      "without its storage, then remove the file yourself)",
                  op, e.detail());
    }
    plan.doomed.push_back({std::move(top), label});
    const auto chain = finder.chain(path);
    for (std::size_t i = 1; i < chain.size(); ++i) {
      const std::string& file = chain[i];
      if (!seen.insert(file).second) break;
      const auto file_users = users.of(file);
      if (!file_users.empty()) {
        // Kept, and with it everything below (that VM reads all of it).
        plan.kept.push_back({file, storage::used_by_text(file_users)});
        for (std::size_t j = i + 1; j < chain.size(); ++j)
          if (seen.insert(chain[j]).second)
            plan.kept.push_back({chain[j], "below " + quoted(file) + ", which is " +
                                               storage::used_by_text(file_users)});
        break;
      }
      auto vol = finder.by_path(file);
      if (!vol) {
        plan.kept.push_back({file, "not a libvirt storage volume"});
        break;
      }
      plan.doomed.push_back({std::move(vol), file});
    }
  }
  return plan;
}

}  // namespace

// ---------------------------------------------------------------- list / get

std::vector<VmInfo> LibvirtVmOps::list(const VmFilter& filter) {
  return guarded("vm.list", [&] {
    const std::string op = "vm.list";
    ListContext ctx;
    ctx.host = hostname_of(s_);
    ctx.saved = uuids_where(s_, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE);
    ctx.autostart = uuids_where(s_, VIR_CONNECT_LIST_DOMAINS_AUTOSTART);
    ctx.transient = uuids_where(s_, VIR_CONNECT_LIST_DOMAINS_TRANSIENT);
    std::vector<VmInfo> out;

    StatsList stats;
    const unsigned kinds = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BALLOON |
                           VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_BLOCK |
                           VIR_DOMAIN_STATS_INTERFACE;
    stats.count = virConnectGetAllDomainStats(s_.get(), kinds, &stats.records, 0);
    if (stats.count < 0) {
      auto e = take_last_error(s_.get());
      if (!unsupported_flags(e)) fail(e, "cannot list the VMs on " + s_.uri.raw, op);
      // A driver without bulk statistics: one virDomainGetInfo per VM.
      virDomainPtr* raw = nullptr;
      int n = virConnectListAllDomains(s_.get(), &raw, 0);
      if (n < 0) fail(s_.get(), "cannot list the VMs on " + s_.uri.raw, op);
      for (auto& dom : adopt_array<DomPtr>(raw, n)) {
        if (!wanted_name(filter, name_of(dom.get()))) continue;
        virDomainInfo di;
        if (virDomainGetInfo(dom.get(), &di) < 0) {
          auto err = take_last_error(s_.get());
          if (err.code == VIR_ERR_NO_DOMAIN) continue;  // vanished meanwhile
          fail(err, "cannot read " + vm(dom.get()), op);
        }
        VmInfo info;
        fill_common(info, dom.get(), s_, ctx);
        auto mapped = map_state(di.state, ctx.saved && ctx.saved->count(info.id));
        if (!wanted_state(filter, mapped.state)) continue;
        info.state = mapped.state;
        info.state_reason = mapped.word;
        info.vcpus = di.nrVirtCpu;
        info.memory_bytes = kib_to_bytes(di.memory);
        info.max_memory_bytes = kib_to_bytes(di.maxMem);
        out.push_back(std::move(info));
      }
      return out;
    }

    out.reserve(static_cast<std::size_t>(stats.count));
    for (int i = 0; i < stats.count; ++i) {
      const virDomainStatsRecord& rec = *stats.records[i];
      if (!wanted_name(filter, name_of(rec.dom))) continue;
      VmInfo info;
      fill_common(info, rec.dom, s_, ctx);
      int native = static_cast<int>(num_param(rec, "state.state").value_or(VIR_DOMAIN_NOSTATE));
      auto mapped = map_state(native, ctx.saved && ctx.saved->count(info.id));
      if (!wanted_state(filter, mapped.state)) continue;
      info.state = mapped.state;
      info.state_reason = mapped.word;
      auto cur = num_param(rec, "balloon.current");
      auto vcpus = num_param(rec, "vcpu.current");
      if (cur && vcpus) {
        info.memory_bytes = kib_to_bytes(*cur);
        info.max_memory_bytes = kib_to_bytes(num_param(rec, "balloon.maximum").value_or(*cur));
        info.vcpus = static_cast<unsigned>(*vcpus);
      } else {
        // The test driver reports only state.* in bulk; fill the rest per VM.
        virDomainInfo di;
        if (virDomainGetInfo(rec.dom, &di) == 0) {
          info.memory_bytes = kib_to_bytes(di.memory);
          info.max_memory_bytes = kib_to_bytes(di.maxMem);
          info.vcpus = di.nrVirtCpu;
        } else {
          take_last_error(s_.get());
        }
      }
      auto nblock = num_param(rec, "block.count").value_or(0);
      for (std::uint64_t b = 0; b < nblock; ++b) {
        const std::string p = "block." + std::to_string(b) + ".";
        DiskInfo d;
        d.target = str_param(rec, p + "name");
        d.path = str_param(rec, p + "path");
        d.capacity_bytes = num_param(rec, p + "capacity").value_or(0);
        d.allocation_bytes = num_param(rec, p + "allocation").value_or(0);
        info.disks.push_back(std::move(d));
      }
      auto nnet = num_param(rec, "net.count").value_or(0);
      for (std::uint64_t n = 0; n < nnet; ++n) {
        NicInfo nic;
        nic.network = str_param(rec, "net." + std::to_string(n) + ".name");
        info.nics.push_back(std::move(nic));
      }
      out.push_back(std::move(info));
    }
    return out;
  });
}

VmInfo LibvirtVmOps::describe(virDomainPtr dom, const std::string& op) {
  VmInfo info;
  ListContext ctx;
  ctx.host = hostname_of(s_);
  info.id = uuid_of(dom);
  info.name = name_of(dom);
  info.host = ctx.host;
  info.backend = kBackendName;

  auto st = state_of(s_, dom, op);
  bool saved = st.state == VIR_DOMAIN_SHUTOFF && has_managed_save(s_, dom);
  auto mapped = map_state(st.state, saved);
  info.state = mapped.state;
  info.state_reason = mapped.word;

  virDomainInfo di;
  if (virDomainGetInfo(dom, &di) < 0) fail(s_.get(), "cannot read " + vm(dom), op);
  info.vcpus = di.nrVirtCpu;
  info.memory_bytes = kib_to_bytes(di.memory);
  info.max_memory_bytes = kib_to_bytes(di.maxMem);

  int persistent = virDomainIsPersistent(dom);
  if (persistent < 0) fail(s_.get(), "cannot read " + vm(dom), op);
  info.persistent = persistent == 1;
  if (info.persistent) {
    int autostart = 0;
    if (virDomainGetAutostart(dom, &autostart) == 0)
      info.autostart = autostart != 0;
    else
      take_last_error(s_.get());
  }
  unsigned id = virDomainGetID(dom);
  if (id != static_cast<unsigned>(-1)) info.extras["libvirt_id"] = std::to_string(id);
  info.extras["driver"] = s_.driver;

  CString xml(virDomainGetXMLDesc(dom, 0));
  if (!xml) fail(s_.get(), "cannot read the configuration of " + vm(dom), op);
  auto details = parse_domain_xml(xml.get());
  info.guest_os = details.os_type;
  if (!details.firmware.empty()) info.extras["firmware"] = details.firmware;
  if (!details.domain_type.empty()) info.extras["domain_type"] = details.domain_type;
  info.nics = std::move(details.nics);
  info.disks = std::move(details.disks);
  // CD-ROMs too: list reports their capacity from the same files.
  for (auto& d : info.disks) {
    if (d.path.empty()) continue;
    VolPtr vol(virStorageVolLookupByPath(s_.get(), d.path.c_str()));
    virStorageVolInfo vi;
    if (vol && virStorageVolGetInfo(vol.get(), &vi) == 0) {
      d.capacity_bytes = vi.capacity;
      d.allocation_bytes = vi.allocation;
      continue;
    }
    take_last_error(s_.get());
    virDomainBlockInfo bi;
    if (st.active && virDomainGetBlockInfo(dom, d.target.c_str(), &bi, 0) == 0) {
      d.capacity_bytes = bi.capacity;
      d.allocation_bytes = bi.allocation;
    } else {
      take_last_error(s_.get());
    }
  }
  return info;
}

VmInfo LibvirtVmOps::get(const VmRef& ref) {
  return guarded("vm.get", [&] {
    auto dom = s_.find_domain(ref, "vm.get");
    return describe(dom.get(), "vm.get");
  });
}

// ---------------------------------------------------------------- define / create

VmInfo LibvirtVmOps::define_xml(const std::string& xml, const std::string& op) {
  if (xml.find_first_not_of(" \t\r\n") == std::string::npos)
    throw Error(ErrorCode::InvalidArgument, "no domain XML given", op);
  if (xml.find('\0') != std::string::npos)
    throw Error(ErrorCode::InvalidArgument, "the domain XML contains a NUL byte", op);
  DomPtr dom(virDomainDefineXMLFlags(s_.get(), xml.c_str(), VIR_DOMAIN_DEFINE_VALIDATE));
  if (!dom) {
    auto e = take_last_error(s_.get());
    if (!unsupported_flags(e)) fail(e, "cannot define the VM on " + s_.uri.raw, op);
    dom.reset(virDomainDefineXML(s_.get(), xml.c_str()));
    if (!dom) fail(s_.get(), "cannot define the VM on " + s_.uri.raw, op);
  }
  return describe(dom.get(), op);
}

VmInfo LibvirtVmOps::define(const std::string& native_config) {
  return guarded("vm.define", [&] { return define_xml(native_config, "vm.define"); });
}

VmInfo LibvirtVmOps::create(const VmSpec& spec) {
  return guarded("vm.create", [&] { return create_impl(spec); });
}

VmInfo LibvirtVmOps::create_impl(const VmSpec& spec) {
  const std::string op = "vm.create";
  validate_name(spec.name, op);
  if (spec.vcpus == 0) throw Error(ErrorCode::InvalidArgument, "a VM needs at least 1 vCPU", op);
  if (spec.memory_bytes < (1u << 20))
    throw Error(ErrorCode::InvalidArgument, "a VM needs at least 1 MiB of memory", op);
  for (const auto& net : spec.networks)
    if (net.empty()) throw Error(ErrorCode::InvalidArgument, "empty network name", op);

  {
    DomPtr clash(virDomainLookupByName(s_.get(), spec.name.c_str()));
    if (clash)
      throw Error(ErrorCode::AlreadyExists,
                  "VM " + quoted(spec.name) + " already exists on " + s_.uri.raw, op);
    auto e = take_last_error(s_.get());
    if (e.code != VIR_ERR_NO_DOMAIN)
      fail(e, "cannot check whether VM " + quoted(spec.name) + " exists", op);
  }

  const GuestKind kind = choose_guest(s_, op);
  DomainPlan plan;
  plan.domain_type = kind.domain_type;
  plan.os_type = kind.os_type;
  plan.arch = kind.arch;
  plan.acpi = kind.acpi;
  plan.name = spec.name;
  plan.vcpus = spec.vcpus;
  plan.memory_kib = bytes_to_kib(spec.memory_bytes);
  plan.networks = spec.networks;
  plan.disks.resize(spec.disks.size());

  // First everything that can fail without side effects: firmware, networks,
  // existing disks. Only then are new volumes created.
  plan.firmware = choose_firmware(s_, spec.firmware, kind, op);
  for (const auto& net : spec.networks) require_network(s_, net, op);
  bool needs_pool = false;
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const DiskSpec& d = spec.disks[i];
    DiskPlan& p = plan.disks[i];
    const std::string label = "disk " + std::to_string(i);
    if (!d.device.empty() && d.device != "disk" && d.device != "cdrom")
      throw Error(ErrorCode::InvalidArgument,
                  label + ": device " + quoted(d.device) + " is neither disk nor cdrom", op);
    const bool cdrom = d.device == "cdrom";
    if (!d.format.empty()) validate_format(d.format, op);
    const int sources =
        (d.size_bytes ? 1 : 0) + (d.path.empty() ? 0 : 1) + (d.volume.empty() ? 0 : 1);
    if (sources > 1)
      throw Error(ErrorCode::InvalidArgument,
                  label + " has more than one of a size, a path and a volume; give one", op);
    if (sources == 0)
      throw Error(ErrorCode::InvalidArgument,
                  label + " needs a size (new volume), a volume or a path", op);
    if (d.size_bytes) {
      if (cdrom)
        throw Error(ErrorCode::InvalidArgument,
                    label + ": a CD-ROM cannot be a new empty volume; give an ISO file or volume",
                    op);
      needs_pool = true;
      continue;
    }
    VolPtr vol;
    if (!d.volume.empty()) {
      PoolPtr pool = choose_pool(s_, d.pool, op);
      const std::string pool_name = virStoragePoolGetName(pool.get());
      vol.reset(virStorageVolLookupByName(pool.get(), d.volume.c_str()));
      if (!vol) {
        auto e = take_last_error(s_.get());
        if (e.code == VIR_ERR_NO_STORAGE_VOL)
          throw Error(ErrorCode::NotFound,
                      "volume " + quoted(d.volume) + " not found in pool " + quoted(pool_name), op,
                      e.detail());
        fail(e, "cannot look up volume " + quoted(d.volume) + " in pool " + quoted(pool_name), op);
      }
      CString path(virStorageVolGetPath(vol.get()));
      if (!path) fail(s_.get(), "cannot read the path of volume " + quoted(d.volume), op);
      p.path = path.get();
    } else {
      p.path = d.path;
      vol.reset(virStorageVolLookupByPath(s_.get(), d.path.c_str()));
      if (!vol) take_last_error(s_.get());
    }
    p.cdrom = cdrom || is_iso(p.path);
    p.format = d.format;
    if (vol) {
      virStorageVolInfo vi;
      if (virStorageVolGetInfo(vol.get(), &vi) == 0)
        p.block_device = vi.type == VIR_STORAGE_VOL_BLOCK;
      if (p.format.empty()) {
        CString vx(virStorageVolGetXMLDesc(vol.get(), 0));
        if (vx)
          p.format =
              XmlDoc::parse(vx.get(), "a volume description").value("/volume/target/format/@type");
      }
      take_last_error(s_.get());
    } else if (s_.is_local()) {
      struct stat sb;
      if (::stat(d.path.c_str(), &sb) != 0)
        throw Error(ErrorCode::NotFound,
                    std::string(p.cdrom ? "ISO " : "disk ") + quoted(d.path) +
                        " does not exist (and is no libvirt volume)",
                    op);
      p.block_device = S_ISBLK(sb.st_mode);
    }
    // A CD-ROM is read as raw whatever its volume says ("iso" is no qemu format).
    if (p.cdrom && (p.format.empty() || p.format == "iso")) p.format = "raw";
    if (p.format.empty()) p.format = format_from_path(p.path);
  }

  VolumeRollback rollback(s_);
  if (needs_pool) {
    PoolPtr default_pool;
    for (std::size_t i = 0; i < spec.disks.size(); ++i) {
      const DiskSpec& d = spec.disks[i];
      if (!d.size_bytes) continue;
      PoolPtr named;
      virStoragePoolPtr pool = nullptr;
      if (d.pool.empty()) {
        if (!default_pool) default_pool = choose_pool(s_, "", op);
        pool = default_pool.get();
      } else {
        named = choose_pool(s_, d.pool, op);
        pool = named.get();
      }
      const std::string format = d.format.empty() ? "qcow2" : d.format;
      const std::string vol_name =
          spec.name + "-disk" + std::to_string(i) + "." + extension_for(format);
      std::string vx = "<volume>\n  <name>" + escape::xml_text(vol_name) +
                       "</name>\n  <capacity unit='bytes'>" + std::to_string(d.size_bytes) +
                       "</capacity>\n  <target>\n    <format type='" + escape::xml_attr(format) +
                       "'/>\n  </target>\n</volume>\n";
      VolPtr vol(virStorageVolCreateXML(pool, vx.c_str(), 0));
      if (!vol)
        fail(s_.get(),
             "cannot create volume " + quoted(vol_name) + " in pool " +
                 quoted(virStoragePoolGetName(pool)),
             op);
      CString path(virStorageVolGetPath(vol.get()));
      if (!path) fail(s_.get(), "cannot read the path of volume " + quoted(vol_name), op);
      virStorageVolInfo vi;
      bool block = virStorageVolGetInfo(vol.get(), &vi) == 0 && vi.type == VIR_STORAGE_VOL_BLOCK;
      take_last_error(s_.get());
      rollback.add(std::move(vol));
      plan.disks[i].path = path.get();
      plan.disks[i].format = format;
      plan.disks[i].block_device = block;
    }
  }

  VmInfo info = define_xml(build_domain_xml(plan), op);
  rollback.release();
  return info;
}

// ---------------------------------------------------------------- portable form

namespace {

/// "linux", "windows" or "other" from a libosinfo id
/// ("http://microsoft.com/win/10", "http://debian.org/debian/12").
std::string os_family_of(const std::string& libosinfo) {
  if (libosinfo.empty()) return "other";
  if (libosinfo.find("microsoft.com") != std::string::npos) return "windows";
  for (const char* d : {"debian", "ubuntu", "fedora", "redhat", "centos", "opensuse", "suse",
                        "archlinux", "alpinelinux", "rockylinux", "almalinux", "linux"})
    if (libosinfo.find(d) != std::string::npos) return "linux";
  return "other";
}

}  // namespace

PortableVm LibvirtVmOps::describe(const VmRef& vm) {
  return guarded("vm.describe", [&] { return describe_impl(vm); });
}

PortableVm LibvirtVmOps::describe_impl(const VmRef& ref) {
  const std::string op = "vm.describe";
  auto dom = s_.find_domain(ref, op);
  const VmInfo info = describe(dom.get(), op);
  CString xml(virDomainGetXMLDesc(dom.get(), VIR_DOMAIN_XML_INACTIVE));
  if (!xml) fail(s_.get(), "cannot read the configuration of " + vm(dom.get()), op);
  const DomainDetails d = parse_domain_xml(xml.get());
  PortableVm p;
  p.name = info.name;
  p.id = info.id;
  p.family = kBackendName;
  p.vcpus = info.vcpus;
  p.memory_bytes = info.max_memory_bytes ? info.max_memory_bytes : info.memory_bytes;
  p.firmware = (d.firmware == "efi" || d.loader) ? "uefi" : "bios";
  p.guest_os = d.libosinfo_os;
  p.os_family = os_family_of(d.libosinfo_os);
  storage::VolumeFinder finder(s_, op);
  for (std::size_t i = 0; i < d.sources.size(); ++i) {
    const DiskSource& src = d.sources[i];
    const std::string fmt = i < d.disks.size() ? d.disks[i].format : "";
    if (src.device == "cdrom" || src.device == "floppy") {
      if (!src.path.empty() || !src.volume.empty())
        p.left_out.push_back("the media in " + src.target + " (" +
                             escape::terminal_text(src.path.empty() ? src.volume : src.path) +
                             ") is not carried; its tray is empty on the target");
      continue;
    }
    if (src.device != "disk")
      throw Error(ErrorCode::Unsupported,
                  "disk " + src.target + " of " + vm(dom.get()) + " is a '" + src.device +
                      "' device; a migration between families carries disks only",
                  op);
    VolPtr vol;
    if (!src.volume.empty()) {
      auto pool = storage::find_active_pool(s_, src.pool, op);
      vol = storage::find_volume(s_, pool.get(), src.pool, src.volume, op);
    } else if (!src.path.empty()) {
      vol = finder.by_path(src.path);
    }
    if (!vol)
      throw Error(ErrorCode::Unsupported,
                  "disk " + src.target + " of " + vm(dom.get()) + " (" +
                      escape::terminal_text(src.path) + ") is not a volume of a storage pool on " +
                      s_.uri.raw + "; define a pool for its folder",
                  op);
    CString vpath(virStorageVolGetPath(vol.get()));
    const std::string path = vpath ? vpath.get() : src.path;
    if (finder.chain(path).size() > 1)
      throw Error(ErrorCode::Conflict,
                  "disk " + src.target + " of " + vm(dom.get()) +
                      " is an overlay on a backing file; consolidate it first (hyperctl "
                      "snapshot delete, or qemu-img commit)",
                  op);
    PoolPtr pool(virStoragePoolLookupByVolume(vol.get()));
    if (!pool) fail(s_.get(), "cannot find the pool of " + escape::terminal_text(path), op);
    const char* pname = virStoragePoolGetName(pool.get());
    const char* vname = virStorageVolGetName(vol.get());
    const Volume v = storage::describe_volume(s_, vol.get(), pname ? pname : "");
    PortableDisk disk;
    disk.id = src.target;
    disk.bus = src.bus.empty() ? "virtio" : src.bus;
    disk.format = fmt.empty() ? (v.format.empty() ? "raw" : v.format) : fmt;
    disk.capacity_bytes = v.capacity_bytes;
    disk.allocation_bytes = v.allocation_bytes;
    disk.pool = pname ? pname : "";
    disk.volume = vname ? vname : "";
    disk.path = path;
    p.disks.push_back(std::move(disk));
  }
  for (const auto& nic : d.nics) p.nics.push_back(PortableNic{nic.mac, nic.network, nic.model});
  return p;
}

VmInfo LibvirtVmOps::create_from(const PortableVm& vm, const PortableCreate& how) {
  return guarded("vm.create", [&] { return create_from_impl(vm, how); });
}

VmInfo LibvirtVmOps::create_from_impl(const PortableVm& vm, const PortableCreate& how) {
  const std::string op = "vm.create";
  validate_name(vm.name, op);
  if (how.disks.size() != vm.disks.size())
    throw Error(ErrorCode::InvalidArgument,
                "the description has " + std::to_string(vm.disks.size()) + " disks, but " +
                    std::to_string(how.disks.size()) + " volumes were given",
                op);
  {
    DomPtr clash(virDomainLookupByName(s_.get(), vm.name.c_str()));
    if (clash)
      throw Error(ErrorCode::AlreadyExists,
                  "VM " + quoted(vm.name) + " already exists on " + s_.uri.raw, op);
    auto e = take_last_error(s_.get());
    if (e.code != VIR_ERR_NO_DOMAIN)
      fail(e, "cannot check whether VM " + quoted(vm.name) + " exists", op);
  }
  const GuestKind kind = choose_guest(s_, op);
  const bool ours = vm.family == kBackendName;
  DomainPlan plan;
  plan.domain_type = kind.domain_type;
  plan.os_type = kind.os_type;
  plan.arch = kind.arch;
  plan.acpi = kind.acpi;
  plan.serial_console = kind.os_type == "hvm";
  plan.name = vm.name;
  plan.vcpus = vm.vcpus;
  plan.memory_kib = bytes_to_kib(vm.memory_bytes);
  plan.firmware = choose_firmware(s_, vm.firmware, kind, op);
  for (std::size_t i = 0; i < vm.disks.size(); ++i) {
    DiskPlan d;
    d.path = how.disks[i].path;
    d.format = how.disks[i].format.empty() ? "raw" : how.disks[i].format;
    d.block_device = how.disks[i].type == "block";
    // A guest from elsewhere has no virtio drivers for certain: SATA
    // (AHCI), which every current OS drives, unless asked otherwise.
    d.bus = !how.disk_bus.empty() ? how.disk_bus : ours ? vm.disks[i].bus : "sata";
    plan.disks.push_back(std::move(d));
  }
  for (const auto& nic : vm.nics) {
    require_network(s_, nic.network, op);
    NicPlan n;
    n.network = nic.network;
    n.mac = how.new_mac ? "" : nic.mac;
    // e1000 for the same reason; a libvirt guest keeps its own model.
    n.model = kind.os_type != "hvm" ? "" : ours && !nic.model.empty() ? nic.model : "e1000";
    plan.nics.push_back(std::move(n));
  }
  return define_xml(build_domain_xml(plan), op);
}

// ---------------------------------------------------------------- power

void LibvirtVmOps::start(const VmRef& ref) {
  guarded("vm.start", [&] {
    const std::string op = "vm.start";
    auto dom = s_.find_domain(ref, op);
    auto st = state_of(s_, dom.get(), op);
    if (st.state == VIR_DOMAIN_PAUSED)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is paused; resume it instead", op);
    if (st.active) throw Error(ErrorCode::Conflict, vm(dom.get()) + " is already running", op);
    if (virDomainCreate(dom.get()) < 0) fail(s_.get(), "cannot start " + vm(dom.get()), op);
  });
}

ShutdownOutcome LibvirtVmOps::shutdown(const VmRef& ref, const ShutdownOptions& options,
                                       const ProgressFn& progress, const CancelToken& cancel) {
  return guarded("vm.shutdown", [&] { return shutdown_impl(ref, options, progress, cancel); });
}

ShutdownOutcome LibvirtVmOps::shutdown_impl(const VmRef& ref, const ShutdownOptions& options,
                                            const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "vm.shutdown";
  auto dom = s_.find_domain(ref, op);
  if (!state_of(s_, dom.get(), op).active) return ShutdownOutcome::AlreadyOff;
  const std::string who = vm(dom.get());
  auto cancelled = [&] {
    return Error(ErrorCode::Cancelled, "shutdown of " + who + " cancelled; it is still running",
                 op);
  };
  if (cancel.cancelled()) throw cancelled();
  if (virDomainShutdown(dom.get()) < 0) fail(s_.get(), "cannot shut down " + who, op);

  // A transient VM disappears when it stops: NO_DOMAIN means it is off.
  auto is_off = [&] {
    int state = 0, reason = 0;
    if (virDomainGetState(dom.get(), &state, &reason, 0) < 0) {
      auto e = take_last_error(s_.get());
      if (e.code == VIR_ERR_NO_DOMAIN) return true;
      fail(e, "cannot read the state of " + who, op);
    }
    return state == VIR_DOMAIN_SHUTOFF;
  };

  const auto started = Clock::now();
  const auto deadline = started + options.timeout;
  const auto poll = std::chrono::milliseconds(100);
  while (true) {
    if (is_off()) return ShutdownOutcome::Stopped;
    auto now = Clock::now();
    if (progress) {
      Progress p;
      p.phase = "shutdown";
      p.unit = "ms";
      p.done = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count());
      p.total = static_cast<std::uint64_t>(options.timeout.count());
      progress(p);
    }
    if (cancel.cancelled()) throw cancelled();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(poll, deadline - now));
  }
  if (!options.force)
    throw Error(ErrorCode::Timeout,
                who + " did not shut down within " + human_duration(options.timeout) +
                    "; it is still running (use --force to power it off)",
                op);
  if (virDomainDestroy(dom.get()) < 0) {
    auto e = take_last_error(s_.get());
    if (is_off()) return ShutdownOutcome::Stopped;  // it made it just in time
    fail(e, "cannot power off " + who + " after its shutdown timed out", op);
  }
  return ShutdownOutcome::ForcedOff;
}

void LibvirtVmOps::power_off(const VmRef& ref) {
  guarded("vm.poweroff", [&] {
    const std::string op = "vm.poweroff";
    auto dom = s_.find_domain(ref, op);
    if (!state_of(s_, dom.get(), op).active)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is not running", op);
    if (virDomainDestroy(dom.get()) < 0) fail(s_.get(), "cannot power off " + vm(dom.get()), op);
  });
}

void LibvirtVmOps::reboot(const VmRef& ref) {
  guarded("vm.reboot", [&] {
    const std::string op = "vm.reboot";
    auto dom = s_.find_domain(ref, op);
    if (!state_of(s_, dom.get(), op).active)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is not running", op);
    if (virDomainReboot(dom.get(), 0) < 0) fail(s_.get(), "cannot reboot " + vm(dom.get()), op);
  });
}

void LibvirtVmOps::reset(const VmRef& ref) {
  guarded("vm.reset", [&] {
    const std::string op = "vm.reset";
    auto dom = s_.find_domain(ref, op);
    if (!state_of(s_, dom.get(), op).active)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is not running", op);
    if (virDomainReset(dom.get(), 0) < 0) fail(s_.get(), "cannot reset " + vm(dom.get()), op);
  });
}

void LibvirtVmOps::suspend(const VmRef& ref) {
  guarded("vm.suspend", [&] {
    const std::string op = "vm.suspend";
    auto dom = s_.find_domain(ref, op);
    auto st = state_of(s_, dom.get(), op);
    if (st.state == VIR_DOMAIN_PAUSED)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is already paused", op);
    if (!st.active) throw Error(ErrorCode::Conflict, vm(dom.get()) + " is not running", op);
    if (virDomainSuspend(dom.get()) < 0) fail(s_.get(), "cannot pause " + vm(dom.get()), op);
  });
}

void LibvirtVmOps::resume(const VmRef& ref) {
  guarded("vm.resume", [&] {
    const std::string op = "vm.resume";
    auto dom = s_.find_domain(ref, op);
    if (state_of(s_, dom.get(), op).state != VIR_DOMAIN_PAUSED)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is not paused", op);
    if (virDomainResume(dom.get()) < 0) fail(s_.get(), "cannot resume " + vm(dom.get()), op);
  });
}

void LibvirtVmOps::save(const VmRef& ref) {
  guarded("vm.save", [&] {
    const std::string op = "vm.save";
    auto dom = s_.find_domain(ref, op);
    if (!state_of(s_, dom.get(), op).active)
      throw Error(ErrorCode::Conflict, vm(dom.get()) + " is not running; there is nothing to save",
                  op);
    if (virDomainIsPersistent(dom.get()) != 1)
      throw Error(ErrorCode::Conflict,
                  vm(dom.get()) + " is transient; only defined VMs can be saved and restored", op);
    if (virDomainManagedSave(dom.get(), 0) < 0) fail(s_.get(), "cannot save " + vm(dom.get()), op);
  });
}

// ---------------------------------------------------------------- delete

DeleteReport LibvirtVmOps::remove(const VmRef& ref, const DeleteOptions& options) {
  return guarded("vm.delete", [&] { return remove_impl(ref, options); });
}

DeleteReport LibvirtVmOps::remove_impl(const VmRef& ref, const DeleteOptions& options) {
  const std::string op = options.with_storage ? "vm.delete-storage" : "vm.delete";
  auto dom = s_.find_domain(ref, op);
  const std::string who = vm(dom.get());
  auto st = state_of(s_, dom.get(), op);
  if (st.active && !options.force)
    throw Error(ErrorCode::Conflict, who + " is running; stop it first or use --force", op);
  int persistent = virDomainIsPersistent(dom.get());
  if (persistent < 0) fail(s_.get(), "cannot read " + who, op);
  int snapshots = virDomainSnapshotNum(dom.get(), 0);
  if (snapshots < 0) fail(s_.get(), "cannot count the snapshots of " + who, op);
  check_delete_snapshots(who, static_cast<std::size_t>(snapshots), options, op);

  // Every decision about the disks is taken before anything changes: a disk
  // that is not a volume stops the whole call with nothing deleted.
  StoragePlan plan;
  if (options.with_storage) plan = plan_storage(s_, dom.get(), who, persistent == 1, op);

  if (st.active && virDomainDestroy(dom.get()) < 0) {
    auto e = take_last_error(s_.get());
    if (e.code != VIR_ERR_OPERATION_INVALID) fail(e, "cannot power off " + who, op);
  }
  if (persistent == 1) {
    // Snapshot metadata goes only when asked for (it is there only then).
    const unsigned snaps =
        options.snapshots ? static_cast<unsigned>(VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) : 0u;
    const unsigned all = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_NVRAM |
                         VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | snaps;
    const unsigned basic = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | snaps;  // test driver: only these
    bool done = false;
    for (unsigned flags : {all, basic}) {
      if (virDomainUndefineFlags(dom.get(), flags) == 0) {
        done = true;
        break;
      }
      auto e = take_last_error(s_.get());
      if (!unsupported_flags(e)) fail(e, "cannot delete " + who, op);
    }
    if (!done && virDomainUndefine(dom.get()) < 0) fail(s_.get(), "cannot delete " + who, op);
  }

  DeleteReport report;
  report.kept = std::move(plan.kept);
  std::string failures;
  std::string detail;
  for (auto& d : plan.doomed) {
    if (virStorageVolDelete(d.vol.get(), 0) == 0) {
      report.deleted.push_back(d.label);
      continue;
    }
    auto e = take_last_error(s_.get());
    failures += (failures.empty() ? "" : ", ") + quoted(d.label);
    detail += d.label + ": " + e.detail() + "\n";
  }
  if (!failures.empty())
    throw Error(ErrorCode::BackendFailure,
                who + " was deleted, but these disk volumes could not be: " + failures, op, detail);
  return report;
}

// ---------------------------------------------------------------- settings

namespace {

/// Throws InvalidArgument when the running VM cannot take `settings` live:
/// vCPUs above the maximum it was started with, memory above its maximum.
void check_live_limits(const Session& s, virDomainPtr dom, const ResourceSettings& settings,
                       const std::string& who, const std::string& op) {
  constexpr unsigned kLiveVcpuMax = static_cast<unsigned>(VIR_DOMAIN_AFFECT_LIVE) |
                                    static_cast<unsigned>(VIR_DOMAIN_VCPU_MAXIMUM);
  const std::string hint = " (change the configuration without --live, then restart it)";
  if (settings.vcpus) {
    const int max = virDomainGetVcpusFlags(dom, kLiveVcpuMax);
    if (max < 0) fail(s.get(), "cannot read the vCPU limit of running " + who, op);
    if (*settings.vcpus > static_cast<unsigned>(max))
      throw Error(ErrorCode::InvalidArgument,
                  who + " runs with at most " + std::to_string(max) +
                      " vCPUs; a live change cannot give it " + std::to_string(*settings.vcpus) +
                      hint + "; nothing was changed",
                  op);
  }
  if (settings.memory_bytes) {
    const unsigned long max_kib = virDomainGetMaxMemory(dom);
    if (max_kib == 0) fail(s.get(), "cannot read the memory limit of running " + who, op);
    if (bytes_to_kib(*settings.memory_bytes) > max_kib)
      throw Error(ErrorCode::InvalidArgument,
                  who + " runs with at most " + format_size(kib_to_bytes(max_kib)) +
                      " of memory; a live change cannot give it " +
                      format_size(*settings.memory_bytes) + hint + "; nothing was changed",
                  op);
  }
}

/// Writes the settings into the next-boot configuration, raising its limits
/// where needed.
void apply_config(const Session& s, virDomainPtr dom, const ResourceSettings& settings,
                  const std::string& who, const std::string& op) {
  if (settings.vcpus) {
    const unsigned n = *settings.vcpus;
    int max = virDomainGetVcpusFlags(dom, kConfigVcpuMax);
    if (max < 0) fail(s.get(), "cannot read the vCPU limit of " + who, op);
    if (n > static_cast<unsigned>(max) && virDomainSetVcpusFlags(dom, n, kConfigVcpuMax) < 0)
      fail(s.get(), "cannot raise the vCPU limit of " + who, op);
    if (virDomainSetVcpusFlags(dom, n, VIR_DOMAIN_AFFECT_CONFIG) < 0)
      fail(s.get(), "cannot set the vCPUs of " + who, op);
  }
  if (settings.memory_bytes) {
    const std::uint64_t kib = bytes_to_kib(*settings.memory_bytes);
    CString xml(virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE));
    if (!xml) fail(s.get(), "cannot read the configuration of " + who, op);
    auto doc = XmlDoc::parse(xml.get(), "a domain description");
    std::uint64_t max_kib = std::strtoull(doc.value("/domain/memory").c_str(), nullptr, 10);
    if (kib > max_kib && virDomainSetMemoryFlags(dom, kib, kConfigMemMax) < 0)
      fail(s.get(), "cannot raise the memory limit of " + who, op);
    if (virDomainSetMemoryFlags(dom, kib, VIR_DOMAIN_AFFECT_CONFIG) < 0)
      fail(s.get(), "cannot set the memory of " + who, op);
  }
}

}  // namespace

VmInfo LibvirtVmOps::set_resources(const VmRef& ref, const ResourceSettings& settings) {
  return guarded("vm.set", [&] {
    const std::string op = "vm.set";
    auto dom = s_.find_domain(ref, op);
    const std::string who = vm(dom.get());
    if (settings.vcpus && *settings.vcpus == 0)
      throw Error(ErrorCode::InvalidArgument, "a VM needs at least 1 vCPU", op);
    if (settings.memory_bytes && *settings.memory_bytes < (1u << 20))
      throw Error(ErrorCode::InvalidArgument, "a VM needs at least 1 MiB of memory", op);
    auto st = state_of(s_, dom.get(), op);
    const bool persistent = virDomainIsPersistent(dom.get()) == 1;
    if (settings.live && !st.active)
      throw Error(ErrorCode::Conflict, who + " is not running; --live changes a running VM", op);
    const bool live = settings.live;
    if (!persistent && !live)
      throw Error(ErrorCode::Conflict,
                  who + " is transient; only live changes (--live, while running) apply to it", op);
    if (live) check_live_limits(s_, dom.get(), settings, who, op);

    // What undoes a failure: the configuration as it was, and the running
    // VM's vCPU count.
    std::string config_before;
    if (persistent) {
      CString xml(virDomainGetXMLDesc(dom.get(), VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
      if (!xml) fail(s_.get(), "cannot read the configuration of " + who, op);
      config_before = xml.get();
    }
    virDomainInfo live_before{};
    if (live && virDomainGetInfo(dom.get(), &live_before) < 0)
      fail(s_.get(), "cannot read " + who, op);

    bool config_changed = false, live_vcpus_changed = false;
    try {
      if (persistent) {
        config_changed = true;
        apply_config(s_, dom.get(), settings, who, op);
      }
      if (live && settings.vcpus) {
        if (virDomainSetVcpusFlags(dom.get(), *settings.vcpus, VIR_DOMAIN_AFFECT_LIVE) < 0)
          fail(s_.get(), "cannot change the vCPUs of running " + who, op);
        live_vcpus_changed = *settings.vcpus != live_before.nrVirtCpu;
      }
      if (live && settings.memory_bytes &&
          virDomainSetMemoryFlags(dom.get(), bytes_to_kib(*settings.memory_bytes),
                                  VIR_DOMAIN_AFFECT_LIVE) < 0)
        fail(s_.get(), "cannot change the memory of running " + who, op);
    } catch (const Error& e) {
      // Put back what was applied, then say what state things are in.
      std::string undone;
      if (live_vcpus_changed) {
        if (virDomainSetVcpusFlags(dom.get(), live_before.nrVirtCpu, VIR_DOMAIN_AFFECT_LIVE) < 0) {
          take_last_error(s_.get());
          undone += "; the running VM keeps " + std::to_string(*settings.vcpus) +
                    " vCPUs (they could not be set back to " +
                    std::to_string(live_before.nrVirtCpu) + ")";
        }
      }
      if (config_changed) {
        DomPtr back(virDomainDefineXML(s_.get(), config_before.c_str()));
        if (!back) {
          auto re = take_last_error(s_.get());
          undone += "; the configuration could not be restored and may hold the new settings (" +
                    re.first_line() + ")";
        }
      }
      if (undone.empty()) undone = "; nothing was changed";
      throw Error(e.code(), e.what() + undone, op, e.detail());
    }
    return describe(dom.get(), op);
  });
}

void LibvirtVmOps::set_autostart(const VmRef& ref, bool enabled) {
  guarded("vm.autostart", [&] {
    const std::string op = "vm.autostart";
    auto dom = s_.find_domain(ref, op);
    if (virDomainIsPersistent(dom.get()) != 1)
      throw Error(ErrorCode::Conflict,
                  vm(dom.get()) + " is transient; only defined VMs can start with the host", op);
    if (virDomainSetAutostart(dom.get(), enabled ? 1 : 0) < 0)
      fail(s_.get(), "cannot change autostart of " + vm(dom.get()), op);
  });
}

std::string LibvirtVmOps::export_config(const VmRef& ref) {
  return guarded("vm.export-config", [&] {
    const std::string op = "vm.export-config";
    auto dom = s_.find_domain(ref, op);
    // Never VIR_DOMAIN_XML_SECURE: exported configuration carries no secrets.
    const unsigned flags = state_of(s_, dom.get(), op).active ? 0 : VIR_DOMAIN_XML_INACTIVE;
    CString xml(virDomainGetXMLDesc(dom.get(), flags));
    if (!xml) fail(s_.get(), "cannot read the configuration of " + vm(dom.get()), op);
    return std::string(xml.get());
  });
}

}  // namespace hyperctl::lv
