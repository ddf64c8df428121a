// Migration between two libvirt hosts: the preflight report and live
// (managed peer-to-peer) migration with progress, stall detection and abort.
// Offline migration is added by migration_offline (another file) later.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "errors.hpp"
#include "migration_offline.hpp"
#include "ops.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

constexpr const char* kCrossFamily = "cross-family migration needs --offline";

std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}

std::string mib(std::uint64_t bytes) {
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

Session& target_session(Connection& target) {
  Session* t = session_of(target);
  if (!t) throw Error(ErrorCode::InvalidArgument, kCrossFamily, "migrate");
  return *t;
}

/// The <cpu>...</cpu> element of a domain XML, verbatim; "" when none.
std::string cpu_element(const std::string& xml) {
  const auto begin = xml.find("<cpu");
  if (begin == std::string::npos) return {};
  const auto close = xml.find('>', begin);
  if (close == std::string::npos) return {};
  if (xml[close - 1] == '/') return xml.substr(begin, close + 1 - begin);
  const auto end = xml.find("</cpu>", close);
  if (end == std::string::npos) return {};
  return xml.substr(begin, end + 6 - begin);
}

std::string domain_xml(const Session& s, virDomainPtr dom, unsigned flags, const std::string& op) {
  CString xml(virDomainGetXMLDesc(dom, flags));
  if (!xml) fail(s.get(), "cannot read the VM's configuration", op);
  return xml.get();
}

bool domain_exists(const Session& t, DomPtr found) {
  if (found) return true;
  auto e = take_last_error(t.get());
  if (e.code == VIR_ERR_NO_DOMAIN || e.code == VIR_ERR_INVALID_ARG) return false;
  fail(e, "cannot look up VMs on " + t.uri.raw, "migrate.check");
}

struct Report {
  PreflightReport r;
  void add(std::string check, CheckLevel level, std::string message, std::string fix = {}) {
    r.items.push_back({std::move(check), level, std::move(message), std::move(fix)});
  }
};

/// Host CPU of a capabilities document as a <cpu> for BaselineCPU.
std::string host_cpu_xml(const XmlDoc& caps) {
  std::string cpu = "<cpu>";
  for (const char* field : {"arch", "model", "vendor"}) {
    const std::string v = caps.value((std::string("/capabilities/host/cpu/") + field).c_str());
    if (!v.empty()) cpu += std::string("<") + field + ">" + v + "</" + field + ">";
  }
  for (const auto& f : caps.select("/capabilities/host/cpu/feature"))
    cpu += "<feature name='" + f.attr("name") + "'/>";
  return cpu + "</cpu>";
}

void check_cpu(Report& rep, const Session& src, const Session& dst, const HostInfo& sh,
               const HostInfo& th, const std::string& xml, const XmlDoc& doc, bool live) {
  const CheckLevel hard = live ? CheckLevel::Blocker : CheckLevel::Warning;
  // Vendor.
  if (sh.cpu_vendor.empty() || th.cpu_vendor.empty())
    rep.add("cpu-vendor", CheckLevel::Warning,
            "CPU vendor unknown on one host (source '" + sh.cpu_vendor + "', target '" +
                th.cpu_vendor + "')");
  else if (sh.cpu_vendor != th.cpu_vendor)
    rep.add("cpu-vendor", hard,
            "CPU vendors differ: " + sh.cpu_vendor + " on the source, " + th.cpu_vendor +
                " on the target",
            "migrate offline (--offline), or pick a target with a " + sh.cpu_vendor + " CPU");
  else
    rep.add("cpu-vendor", CheckLevel::Ok, "both hosts have " + sh.cpu_vendor + " CPUs");

  // NX.
  auto nx = [](const HostInfo& h) {
    auto it = h.extras.find("nx");
    return it == h.extras.end() ? std::string("unknown") : it->second;
  };
  const std::string snx = nx(sh), tnx = nx(th);
  if (snx == "unknown" || tnx == "unknown")
    rep.add("nx", CheckLevel::Warning, "NX flag unknown (source " + snx + ", target " + tnx + ")");
  else if (snx != tnx)
    rep.add("nx", hard, "NX (no-execute) differs: source " + snx + ", target " + tnx,
            "enable NX/XD in the firmware of the host that lacks it");
  else
    rep.add("nx", CheckLevel::Ok, "NX flag alike (" + snx + ")");

  // Guest CPU against what the target hypervisor can give.
  const std::string cpu = cpu_element(xml);
  const std::string mode = doc.value("/domain/cpu/@mode");
  if (mode == "host-passthrough") {
    if (sh.cpu_model == th.cpu_model && !sh.cpu_model.empty())
      rep.add("cpu-compat", CheckLevel::Ok,
              "host-passthrough CPU, same host model " + sh.cpu_model);
    else
      rep.add("cpu-compat", hard,
              "host-passthrough CPU needs identical hosts: " + sh.cpu_model + " vs " + th.cpu_model,
              "give the VM a named CPU model both hosts support (host-model or custom)");
    return;
  }
  if (cpu.empty() || doc.value("/domain/cpu/model").empty()) {
    rep.add("cpu-compat", CheckLevel::Ok, "the VM uses the hypervisor's default CPU model");
    return;
  }
  const std::string arch = doc.value("/domain/os/type/@arch");
  const std::string machine = doc.value("/domain/os/type/@machine");
  const std::string virt = doc.value("/domain/@type");
  int r = virConnectCompareHypervisorCPU(dst.get(), nullptr, arch.empty() ? nullptr : arch.c_str(),
                                         machine.empty() ? nullptr : machine.c_str(),
                                         virt.empty() ? nullptr : virt.c_str(), cpu.c_str(), 0);
  if (r == VIR_CPU_COMPARE_ERROR) {
    take_last_error(dst.get());
    r = virConnectCompareCPU(dst.get(), cpu.c_str(), 0);
  }
  if (r == VIR_CPU_COMPARE_ERROR) {
    auto e = take_last_error(dst.get());
    rep.add("cpu-compat", CheckLevel::Warning,
            "cannot compare the VM's CPU with the target: " + e.first_line());
    return;
  }
  if (r != VIR_CPU_COMPARE_INCOMPATIBLE) {
    rep.add("cpu-compat", CheckLevel::Ok,
            "the target can provide the VM's CPU model " + doc.value("/domain/cpu/model"));
    return;
  }
  std::string fix = "give the VM a CPU model both hosts support";
  // A baseline of the two hosts names one.
  CString scaps(virConnectGetCapabilities(src.get())), tcaps(virConnectGetCapabilities(dst.get()));
  if (scaps && tcaps) {
    auto a = XmlDoc::parse(scaps.get(), "a capabilities document");
    auto b = XmlDoc::parse(tcaps.get(), "a capabilities document");
    const std::string xa = host_cpu_xml(a), xb = host_cpu_xml(b);
    const char* cpus[] = {xa.c_str(), xb.c_str()};
    CString base(virConnectBaselineCPU(src.get(), cpus, 2, 0));
    if (base) {
      auto bd = XmlDoc::parse(base.get(), "a CPU description");
      if (!bd.value("/cpu/model").empty())
        fix += " (their baseline: <model>" + bd.value("/cpu/model") + "</model>)";
    }
  }
  take_last_error(src.get());
  rep.add("cpu-compat", hard,
          "the target cannot provide the VM's CPU (" + doc.value("/domain/cpu/model") + ")", fix);
}

void check_networks(Report& rep, const Session& dst, const XmlDoc& doc) {
  std::set<std::string> seen;
  bool any = false;
  for (const auto& nic : doc.select("/domain/devices/interface")) {
    const std::string type = nic.attr("type");
    const XmlNode src = nic.child("source");
    if (type == "network") {
      const std::string name = src ? src.attr("network") : "";
      if (name.empty() || !seen.insert("n:" + name).second) continue;
      any = true;
      NetPtr net(virNetworkLookupByName(dst.get(), name.c_str()));
      if (!net) {
        auto e = take_last_error(dst.get());
        if (e.code != VIR_ERR_NO_NETWORK)
          fail(e, "cannot look up networks on " + dst.uri.raw, "migrate.check");
        rep.add("network", CheckLevel::Blocker,
                "network " + quoted(name) + " does not exist on the target",
                "create network " + quoted(name) + " on " + dst.uri.raw);
        continue;
      }
      if (virNetworkIsActive(net.get()) != 1) {
        take_last_error(dst.get());
        rep.add("network", CheckLevel::Blocker,
                "network " + quoted(name) + " is not active on the target",
                "start it: hyperctl -c " + dst.uri.raw + " network start " + name);
      } else {
        rep.add("network", CheckLevel::Ok, "network " + quoted(name) + " present on the target");
      }
    } else if (type == "bridge") {
      const std::string name = src ? src.attr("bridge") : "";
      if (name.empty() || !seen.insert("b:" + name).second) continue;
      any = true;
      virInterfacePtr iface = virInterfaceLookupByName(dst.get(), name.c_str());
      if (iface) {
        virInterfaceFree(iface);
        rep.add("bridge", CheckLevel::Ok, "bridge " + quoted(name) + " present on the target");
        continue;
      }
      auto e = take_last_error(dst.get());
      if (e.code == VIR_ERR_NO_INTERFACE)
        rep.add("bridge", CheckLevel::Blocker,
                "bridge " + quoted(name) + " does not exist on the target",
                "create bridge " + quoted(name) + " on the target host");
      else
        rep.add("bridge", CheckLevel::Warning,
                "cannot tell whether bridge " + quoted(name) +
                    " exists on the target: " + e.first_line(),
                "make sure bridge " + quoted(name) + " exists on the target host");
    }
  }
  if (!any) rep.add("network", CheckLevel::Ok, "the VM uses no libvirt network or bridge");
}

/// The source pool holding `path`, "" when none does.
std::string pool_of_path(const Session& s, const std::string& path) {
  VolPtr vol(virStorageVolLookupByPath(s.get(), path.c_str()));
  if (!vol) {
    take_last_error(s.get());
    return {};
  }
  PoolPtr pool(virStoragePoolLookupByVolume(vol.get()));
  if (!pool) {
    take_last_error(s.get());
    return {};
  }
  const char* name = virStoragePoolGetName(pool.get());
  return name ? name : "";
}

void check_storage(Report& rep, const Session& src, const Session& dst, const XmlDoc& doc,
                   const MigrationOptions& options) {
  bool any = false;
  std::set<std::string> pools_checked;
  for (const auto& disk : doc.select("/domain/devices/disk")) {
    const std::string type = disk.attr("type");
    const XmlNode source = disk.child("source");
    const XmlNode target = disk.child("target");
    const std::string dev = target ? target.attr("dev") : "?";
    if (!source) continue;  // an empty CD-ROM drive
    std::string pool, path;
    if (type == "volume") {
      pool = source.attr("pool");
    } else if (type == "file" || type == "block") {
      path = source.attr(type == "file" ? "file" : "dev");
      if (path.empty()) continue;
      pool = pool_of_path(src, path);
    } else {
      rep.add("storage", CheckLevel::Warning,
              "disk " + dev + " is of type '" + type + "': not checked",
              "make sure the target reaches the same storage");
      continue;
    }
    any = true;
    if (!pool.empty() && pools_checked.insert(pool).second) {
      PoolPtr p(virStoragePoolLookupByName(dst.get(), pool.c_str()));
      if (!p) {
        auto e = take_last_error(dst.get());
        if (e.code != VIR_ERR_NO_STORAGE_POOL)
          fail(e, "cannot look up pools on " + dst.uri.raw, "migrate.check");
        rep.add("pool", CheckLevel::Blocker,
                "storage pool " + quoted(pool) + " (disk " + dev + ") does not exist on the target",
                "create pool " + quoted(pool) + " on " + dst.uri.raw +
                    " (on shared storage, the same path as on the source)");
      } else {
        rep.add("pool", CheckLevel::Ok, "storage pool " + quoted(pool) + " present on the target");
        if (options.copy_storage) {
          virStoragePoolInfo pi;
          if (virStoragePoolGetInfo(p.get(), &pi) == 0 && path.size()) {
            VolPtr v(virStorageVolLookupByPath(src.get(), path.c_str()));
            virStorageVolInfo vi;
            if (v && virStorageVolGetInfo(v.get(), &vi) == 0 && vi.allocation > pi.available)
              rep.add("storage-space", CheckLevel::Blocker,
                      "disk " + dev + " needs " + gib(vi.allocation) + ", pool " + quoted(pool) +
                          " on the target has " + gib(pi.available) + " free",
                      "free space in pool " + quoted(pool) + " on the target");
          }
          take_last_error(dst.get());
          take_last_error(src.get());
        }
      }
    }
    if (options.copy_storage) {
      rep.add("storage", CheckLevel::Ok, "disk " + dev + " is copied along (--copy-storage)");
      continue;
    }
    const std::string shown = path.empty() ? pool + "/" + source.attr("volume") : path;
    rep.add("storage", CheckLevel::Warning,
            "disk " + dev + " (" + shown +
                "): hyperctl cannot tell whether the target sees the "
                "same storage",
            "use --copy-storage, or shared storage at the same path on both hosts");
  }
  if (!any) rep.add("storage", CheckLevel::Ok, "the VM has no disk to move");
}

}  // namespace

// ---------------------------------------------------------------- preflight

PreflightReport LibvirtMigrationOps::preflight(const VmRef& ref, Connection& target,
                                               const MigrationOptions& options) {
  return guarded("migrate.check", [&] {
    const std::string op = "migrate.check";
    Session& dst = target_session(target);
    auto dom = s_.find_domain(ref, op);
    const std::string name = virDomainGetName(dom.get());
    Report rep;
    const bool live = options.mode == MigrationMode::Live;

    // State.
    const int active = virDomainIsActive(dom.get());
    if (active < 0) fail(s_.get(), "cannot read the state of VM " + quoted(name), op);
    if (live && active == 0)
      rep.add("state", CheckLevel::Blocker,
              "VM " + quoted(name) + " is not running: a live migration needs a running VM",
              "use --offline, or start the VM first");
    else if (!live && active == 1 && !options.shutdown_first)
      rep.add("state", CheckLevel::Blocker,
              "VM " + quoted(name) + " is running: an offline migration needs it shut off",
              "use --shutdown, or --live");
    else
      rep.add("state", CheckLevel::Ok,
              std::string("VM ") + quoted(name) + (active ? " is running" : " is shut off"));

    // Hypervisor type and version.
    LibvirtHostOps src_host(s_), dst_host(dst);
    const HostInfo sh = src_host.info();
    const HostInfo th = dst_host.info();
    if (sh.hypervisor != th.hypervisor)
      rep.add("hypervisor", CheckLevel::Blocker,
              "hypervisors differ: " + sh.hypervisor + " on the source, " + th.hypervisor +
                  " on the target",
              "pick a target with the same hypervisor");
    else if (th.hypervisor_version < sh.hypervisor_version &&
             th.hypervisor_version.size() <= sh.hypervisor_version.size())
      rep.add("hypervisor", CheckLevel::Warning,
              "the target's " + th.hypervisor + " " + th.hypervisor_version +
                  " is older than the source's " + sh.hypervisor_version,
              "upgrade the target, or check that it accepts the VM's machine type");
    else
      rep.add("hypervisor", CheckLevel::Ok,
              sh.hypervisor + " " + sh.hypervisor_version + " -> " + th.hypervisor + " " +
                  th.hypervisor_version);
    if (sh.host_uuid == th.host_uuid && !sh.host_uuid.empty() && !s_.is_test_driver())
      rep.add("host", CheckLevel::Blocker,
              "source and target are the same host (host UUID " + sh.host_uuid + ")",
              "give the target host its own host_uuid, or migrate elsewhere");

    const std::string xml =
        domain_xml(s_, dom.get(), active ? VIR_DOMAIN_XML_MIGRATABLE : VIR_DOMAIN_XML_INACTIVE, op);
    auto doc = XmlDoc::parse(xml, "a domain XML");

    // Architecture: the target must run guests of the VM's arch.
    const std::string arch = doc.value("/domain/os/type/@arch");
    if (!arch.empty()) {
      CString caps(virConnectGetCapabilities(dst.get()));
      if (!caps) fail(dst.get(), "cannot read the capabilities of " + dst.uri.raw, op);
      auto cd = XmlDoc::parse(caps.get(), "a capabilities document");
      bool found = false;
      for (const auto& a : cd.select("/capabilities/guest/arch"))
        if (a.attr("name") == arch) found = true;
      if (found)
        rep.add("arch", CheckLevel::Ok, "the target runs " + arch + " guests");
      else
        rep.add("arch", CheckLevel::Blocker,
                "the target cannot run " + arch + " guests (its host is " + th.arch + ")",
                "pick a target whose host runs " + arch +
                    " guests (64-bit guests need a 64-bit "
                    "host)");
    }

    check_cpu(rep, s_, dst, sh, th, xml, doc, live);

    // Name and UUID on the target.
    const bool name_taken =
        domain_exists(dst, DomPtr(virDomainLookupByName(dst.get(), name.c_str())));
    if (name_taken)
      rep.add("name-clash", CheckLevel::Blocker,
              "a VM named " + quoted(name) + " already exists on the target",
              "delete or rename it there (hyperctl -c " + dst.uri.raw + " delete " + name + ")");
    else
      rep.add("name-clash", CheckLevel::Ok, "no VM named " + quoted(name) + " on the target");
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom.get(), uuid) < 0) fail(s_.get(), "cannot read the UUID", op);
    if (domain_exists(dst, DomPtr(virDomainLookupByUUIDString(dst.get(), uuid))))
      rep.add("uuid-clash", CheckLevel::Blocker,
              std::string("a VM with UUID ") + uuid + " already exists on the target",
              "remove that VM from the target, or give this one a new UUID");
    else
      rep.add("uuid-clash", CheckLevel::Ok, "UUID free on the target");

    check_networks(rep, dst, doc);
    check_storage(rep, s_, dst, doc, options);

    // Memory.
    virDomainInfo di;
    if (virDomainGetInfo(dom.get(), &di) < 0) fail(s_.get(), "cannot read VM " + quoted(name), op);
    const std::uint64_t need = static_cast<std::uint64_t>(di.memory) * 1024;
    if (th.memory_free_bytes >= need)
      rep.add("memory", CheckLevel::Ok,
              "the target has " + gib(th.memory_free_bytes) + " free, the VM needs " + gib(need));
    else if (th.memory_free_bytes > 0 || need > th.memory_total_bytes)
      rep.add("memory", CheckLevel::Blocker,
              "the VM needs " + gib(need) + ", the target has only " +
                  gib(th.memory_free_bytes > 0 ? th.memory_free_bytes : th.memory_total_bytes) +
                  (th.memory_free_bytes > 0 ? " free" : " in all"),
              "free memory on the target (stop VMs there), or shrink the VM "
              "(hyperctl set " +
                  name + " --memory SIZE)");
    else
      rep.add("memory", CheckLevel::Warning,
              "the target does not report its free memory (" + gib(th.memory_total_bytes) +
                  " in all); the VM needs " + gib(need));
    return rep.r;
  });
}

// ---------------------------------------------------------------- live migration

namespace {

struct JobSample {
  bool active = false;
  std::uint64_t data_total = 0, data_processed = 0, data_remaining = 0;
  std::uint64_t mem_total = 0, mem_processed = 0, mem_remaining = 0;
  std::uint64_t dirty_rate_bytes = 0, bps = 0, iteration = 0, downtime = 0;
  std::uint64_t disk_total = 0, disk_processed = 0;
};

JobSample sample(virDomainPtr dom) {
  JobSample out;
  int type = VIR_DOMAIN_JOB_NONE;
  virTypedParameterPtr params = nullptr;
  int n = 0;
  if (virDomainGetJobStats(dom, &type, &params, &n, 0) < 0) {
    take_last_error(nullptr);
    return out;
  }
  out.active = type != VIR_DOMAIN_JOB_NONE;
  auto get = [&](const char* field) {
    unsigned long long v = 0;
    if (virTypedParamsGetULLong(params, n, field, &v) != 1) v = 0;
    return static_cast<std::uint64_t>(v);
  };
  out.data_total = get(VIR_DOMAIN_JOB_DATA_TOTAL);
  out.data_processed = get(VIR_DOMAIN_JOB_DATA_PROCESSED);
  out.data_remaining = get(VIR_DOMAIN_JOB_DATA_REMAINING);
  out.mem_total = get(VIR_DOMAIN_JOB_MEMORY_TOTAL);
  out.mem_processed = get(VIR_DOMAIN_JOB_MEMORY_PROCESSED);
  out.mem_remaining = get(VIR_DOMAIN_JOB_MEMORY_REMAINING);
  const std::uint64_t page = std::max<std::uint64_t>(get(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE), 1);
  out.dirty_rate_bytes = get(VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE) * page;
  out.bps = get(VIR_DOMAIN_JOB_MEMORY_BPS);
  out.iteration = get(VIR_DOMAIN_JOB_MEMORY_ITERATION);
  out.downtime = get(VIR_DOMAIN_JOB_DOWNTIME);
  out.disk_total = get(VIR_DOMAIN_JOB_DISK_TOTAL);
  out.disk_processed = get(VIR_DOMAIN_JOB_DISK_PROCESSED);
  virTypedParamsFree(params, n);
  return out;
}

enum class Abort { None, Cancelled, Timeout, Stalled };

}  // namespace

VmInfo LibvirtMigrationOps::migrate(const VmRef& ref, Connection& target,
                                    const MigrationOptions& options, const ProgressFn& progress,
                                    const CancelToken& cancel) {
  return guarded("migrate", [&]() -> VmInfo {
    const std::string op = "migrate";
    Session& dst = target_session(target);
    // Offline (cold) migration: migration_offline.cpp.
    if (options.mode == MigrationMode::Offline)
      return offline_migrate(s_, dst, ref, options, progress, cancel);
    auto dom = s_.find_domain(ref, op);
    const std::string name = virDomainGetName(dom.get());
    const int active = virDomainIsActive(dom.get());
    if (active < 0) fail(s_.get(), "cannot read the state of VM " + quoted(name), op);
    if (active == 0)
      throw Error(ErrorCode::Conflict,
                  "VM " + quoted(name) +
                      " is not running: a live migration needs a running VM (use --offline)",
                  op);
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom.get(), uuid) < 0) fail(s_.get(), "cannot read the UUID", op);

    const bool postcopy = options.postcopy || options.on_stall == OnStall::Postcopy ||
                          options.postcopy_after_iterations.has_value();
    // QEMU's auto-converge throttles only once it sees the migration fall
    // behind, so asking for it on stall means enabling it from the start.
    const bool auto_converge = options.auto_converge || options.on_stall == OnStall::AutoConverge;
    unsigned long flags = VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_LIVE;
    if (options.persist) flags |= VIR_MIGRATE_PERSIST_DEST;
    if (options.undefine_source) flags |= VIR_MIGRATE_UNDEFINE_SOURCE;
    if (options.copy_storage) flags |= VIR_MIGRATE_NON_SHARED_DISK;
    if (auto_converge) flags |= VIR_MIGRATE_AUTO_CONVERGE;
    if (postcopy) flags |= VIR_MIGRATE_POSTCOPY;
    if (options.unsafe) flags |= VIR_MIGRATE_UNSAFE;

    virTypedParameterPtr params = nullptr;
    int nparams = 0, maxparams = 0;
    struct ParamsFree {
      virTypedParameterPtr* p;
      int* n;
      ~ParamsFree() { virTypedParamsFree(*p, *n); }
    } params_free{&params, &nparams};
    if (options.bandwidth_mib_s &&
        virTypedParamsAddULLong(&params, &nparams, &maxparams, VIR_MIGRATE_PARAM_BANDWIDTH,
                                *options.bandwidth_mib_s) < 0)
      fail(nullptr, "cannot set the bandwidth", op);
    // No VIR_MIGRATE_PARAM_URI: the target daemon advertises where its
    // memory stream listens (qemu.conf migration_host / migration_address),
    // which is what works with peer-to-peer migration; forcing
    // tcp://<target host> would bypass it.
    if (options.max_downtime_ms &&
        virDomainMigrateSetMaxDowntime(dom.get(), *options.max_downtime_ms, 0) < 0)
      fail(s_.get(), "cannot set the maximum downtime of VM " + quoted(name), op);

    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    int rc = -1;
    LastError werr;
    const std::string dconnuri = dst.uri.raw;
    std::thread worker([&, d = dom.get()] {
      const int r = virDomainMigrateToURI3(d, dconnuri.c_str(), params, nparams, flags);
      LastError e = r < 0 ? take_last_error(nullptr) : LastError{};
      std::lock_guard<std::mutex> lock(m);
      rc = r;
      werr = e;
      done = true;
      cv.notify_all();
    });

    const auto start = std::chrono::steady_clock::now();
    Abort abort = Abort::None;
    bool switched = false, stalled = false;
    std::vector<std::uint64_t> per_iteration;  // remaining memory at each new iteration
    std::uint64_t last_iteration = 0;
    std::string stall_text;
    // An abort can miss: asked before the job has started or while it
    // switches phases, virDomainAbortJob fails or the job goes on. It is
    // asked again every second until the migration call returns.
    std::chrono::steady_clock::time_point abort_asked{};
    auto send_abort = [&] {
      abort_asked = std::chrono::steady_clock::now();
      if (virDomainAbortJob(dom.get()) < 0) take_last_error(nullptr);
    };
    auto request_abort = [&](Abort why) {
      if (abort != Abort::None) return;
      abort = why;
      send_abort();
    };
    try {
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(m);
          if (cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return done; })) break;
        }
        if (abort != Abort::None &&
            std::chrono::steady_clock::now() - abort_asked >= std::chrono::seconds(1))
          send_abort();
        if (cancel.cancelled()) request_abort(Abort::Cancelled);
        if (options.timeout.count() > 0 &&
            std::chrono::steady_clock::now() - start >= options.timeout)
          request_abort(Abort::Timeout);
        const JobSample js = sample(dom.get());
        if (!js.active) continue;
        if (js.iteration != last_iteration) {
          last_iteration = js.iteration;
          per_iteration.push_back(js.mem_remaining);
        }
        const std::size_t k = per_iteration.size();
        // A guest that rewrites its working set faster than the link carries
        // it shows a dirty rate of about the bandwidth (QEMU counts each page
        // once per pass), so "at least the bandwidth" is compared within 10%.
        if (!stalled && !switched && k >= 4 && js.bps > 0 &&
            js.dirty_rate_bytes * 10 >= js.bps * 9 &&
            per_iteration[k - 1] * 10 >= per_iteration[k - 4] * 9) {
          stalled = true;
          stall_text = "remaining memory " + mib(per_iteration[k - 1]) + " after " +
                       std::to_string(js.iteration) + " iterations, dirty rate " +
                       mib(js.dirty_rate_bytes) + "/s >= bandwidth " + mib(js.bps) + "/s";
          if (options.on_stall == OnStall::Abort) request_abort(Abort::Stalled);
          if (options.on_stall == OnStall::Postcopy && abort == Abort::None) {
            if (virDomainMigrateStartPostCopy(dom.get(), 0) == 0)
              switched = true;
            else
              take_last_error(nullptr);
          }
        }
        if (options.postcopy_after_iterations && !switched && abort == Abort::None &&
            js.iteration >= *options.postcopy_after_iterations) {
          if (virDomainMigrateStartPostCopy(dom.get(), 0) == 0)
            switched = true;
          else
            take_last_error(nullptr);
        }
        if (progress) {
          Progress p;
          p.phase = switched ? "postcopy" : "memory";
          p.unit = "bytes";
          p.done = js.data_processed;
          p.total = js.data_total;
          p.counters["memory_total"] = js.mem_total;
          p.counters["memory_processed"] = js.mem_processed;
          p.counters["memory_remaining"] = js.mem_remaining;
          p.counters["dirty_rate"] = js.dirty_rate_bytes;
          p.counters["bandwidth"] = js.bps;
          p.counters["iteration"] = js.iteration;
          p.counters["expected_downtime"] = js.downtime;
          if (js.disk_total) {
            p.counters["disk_total"] = js.disk_total;
            p.counters["disk_processed"] = js.disk_processed;
          }
          p.counters["stalled"] = stalled ? 1 : 0;
          p.counters["auto_converge"] = auto_converge ? 1 : 0;
          progress(p);
        }
      }
    } catch (...) {
      // A throwing progress callback: abort the job, never leave the thread.
      request_abort(Abort::Cancelled);
      worker.join();
      throw;
    }
    worker.join();

    if (rc == 0) {
      DomPtr moved(virDomainLookupByUUIDString(dst.get(), uuid));
      if (!moved)
        fail(dst.get(), "VM " + quoted(name) + " migrated but not found on the target", op);
      return target.vms().get(VmRef{uuid});
    }

    // Failed or aborted: where is the VM now?
    std::string where;
    const int still = virDomainIsActive(dom.get());
    if (still == 1) {
      int state = 0, reason = 0;
      if (virDomainGetState(dom.get(), &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED &&
          switched)
        where = "VM " + quoted(name) + " is paused on " + s_.uri.raw +
                " (post-copy could not finish; its memory is split between the hosts)";
      else
        where = "VM " + quoted(name) + " is still running on " + s_.uri.raw;
    } else {
      take_last_error(s_.get());
      where = "VM " + quoted(name) + " is no longer running on " + s_.uri.raw +
              "; check the target " + dst.uri.raw;
    }
    switch (abort) {
      case Abort::Cancelled:
        throw Error(ErrorCode::Cancelled, "migration cancelled; " + where, op, werr.detail());
      case Abort::Timeout:
        throw Error(ErrorCode::Timeout,
                    "migration did not finish within " +
                        std::to_string(options.timeout.count() / 1000) + " s and was aborted; " +
                        where,
                    op, werr.detail());
      case Abort::Stalled:
        throw Error(ErrorCode::Timeout,
                    "migration did not converge (" + stall_text + ") and was aborted; " + where +
                        "; try --auto-converge, --postcopy, a higher --bandwidth or --offline",
                    op, werr.detail());
      case Abort::None:
        break;
    }
    std::string text = "migration failed: " + werr.first_line() + "; " + where;
    if (werr.code == VIR_ERR_MIGRATE_UNSAFE)
      text +=
          " (set cache='none' on its disks, use --copy-storage, or --unsafe when the storage "
          "is really shared)";
    ErrorCode code = translate(werr, Phase::Operate);
    if (code == ErrorCode::Conflict && werr.code != VIR_ERR_OPERATION_INVALID)
      code = ErrorCode::BackendFailure;
    throw Error(code, text, op, werr.detail());
  });
}

}  // namespace hyperctl::lv
