// Host facts of a vSphere endpoint: the product from the service content's
// about info, and every HostSystem (CPU, memory, state, cluster) with the
// clusters and datacenters, in one PropertyCollector round trip. On a vCenter
// the figures are the sum over its hosts; each host also has its own line
// in the extras ("host.NAME").
#include "hyperctl/error.hpp"

#include <algorithm>

#include "common.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {
namespace {

struct HostFacts {
  std::string name;
  std::string cluster;  ///< empty for a standalone host
  std::string state;    ///< runtime.connectionState
  bool maintenance = false;
  std::string version, cpu_model, cpu_vendor, uuid;
  std::int64_t packages = 0, cores = 0, threads = 0;
  std::int64_t memory = 0;       ///< bytes
  std::int64_t memory_used = 0;  ///< bytes (quickStats, MB on the wire)
};

/// The distinct non-empty values, in first-seen order, joined by ", ".
std::string distinct(const std::vector<std::string>& values) {
  std::vector<std::string> seen;
  for (const auto& v : values)
    if (!v.empty() && std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
  std::string out;
  for (const auto& v : seen) out += (out.empty() ? "" : ", ") + v;
  return out;
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ",") + v;
  return out;
}

HostFacts facts_of(const ObjectContent& oc, const NameMap& clusters) {
  HostFacts h;
  h.name = decode_name(xml::text(oc.prop("name")));
  const MoRef parent = xml::moref(oc.prop("parent"));
  if (parent.type == "ClusterComputeResource") {
    const auto it = clusters.find(parent);
    h.cluster = it != clusters.end() ? it->second : parent.value;
  }
  h.state = xml::text(oc.prop("runtime.connectionState"));
  h.maintenance = xml::text(oc.prop("runtime.inMaintenanceMode")) == "true";
  h.version = xml::text(oc.prop("summary.config.product"), "version");
  const pugi::xml_node hw = oc.prop("summary.hardware");
  h.cpu_model = xml::text(hw, "cpuModel");
  h.uuid = xml::text(hw, "uuid");
  h.packages = xml::i64(hw, "numCpuPkgs");
  h.cores = xml::i64(hw, "numCpuCores");
  h.threads = xml::i64(hw, "numCpuThreads");
  h.memory = xml::i64(hw, "memorySize");
  h.memory_used =
      std::max<std::int64_t>(0, xml::i64(oc.prop("summary.quickStats"), "overallMemoryUsage")) *
      (1 << 20);
  h.cpu_vendor = cpu_vendor_of(oc.prop("hardware.cpuPkg"));
  return h;
}

}  // namespace

Capabilities host_capabilities() {
  return {Operation::HostInfo};
}

HostInfo VsphereHostOps::info() {
  const std::string op = "host.info";
  return guarded(op, [&] {
    Session& s = c_.session();
    const ServiceContent& about = s.content();
    // The datacenter the URI names, else the whole inventory.
    MoRef container;
    std::vector<std::string> datacenters;
    if (!s.target().datacenter.empty()) {
      const Datacenter& dc = c_.datacenter(op);
      container = dc.ref;
      datacenters.push_back(dc.name);
    }
    const auto objects = s.retrieve_all(
        {{"HostSystem",
          {"name", "parent", "runtime.connectionState", "runtime.inMaintenanceMode",
           "summary.hardware", "summary.config.product", "summary.quickStats", "hardware.cpuPkg"}},
         {"ClusterComputeResource", {"name"}},
         {"Datacenter", {"name"}}},
        op, container);

    NameMap clusters;
    std::vector<std::string> cluster_names;
    for (const auto& oc : objects)
      if (oc.obj.type == "ClusterComputeResource") {
        clusters[oc.obj] = decode_name(xml::text(oc.prop("name")));
        cluster_names.push_back(clusters[oc.obj]);
      } else if (oc.obj.type == "Datacenter") {
        datacenters.push_back(decode_name(xml::text(oc.prop("name"))));
      }
    std::vector<HostFacts> hosts;
    for (const auto& oc : objects)
      if (oc.obj.type == "HostSystem") hosts.push_back(facts_of(oc, clusters));

    HostInfo info;
    info.hypervisor = "ESXi";
    std::vector<std::string> versions, models, vendors;
    bool uniform = !hosts.empty();
    for (const auto& h : hosts) {
      info.cpus += static_cast<unsigned>(std::max<std::int64_t>(0, h.threads));
      info.sockets += static_cast<unsigned>(std::max<std::int64_t>(0, h.packages));
      info.memory_total_bytes += static_cast<std::uint64_t>(std::max<std::int64_t>(0, h.memory));
      info.memory_free_bytes +=
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, h.memory - h.memory_used));
      versions.push_back(h.version);
      models.push_back(h.cpu_model);
      vendors.push_back(h.cpu_vendor);
      const HostFacts& first = hosts.front();
      if (h.packages != first.packages || h.cores != first.cores || h.threads != first.threads)
        uniform = false;
      std::string line = "cpu=" + std::to_string(h.threads) +
                         " memory=" + std::to_string(h.memory) + " state=" + h.state +
                         " maintenance=" + (h.maintenance ? "true" : "false");
      if (!h.cluster.empty()) line += " cluster=" + h.cluster;
      info.extras["host." + h.name] = line;
    }
    // Per-socket figures only when every host has the same layout.
    if (uniform && hosts.front().packages > 0 && hosts.front().cores > 0) {
      info.cores_per_socket = static_cast<unsigned>(hosts.front().cores / hosts.front().packages);
      info.threads_per_core = static_cast<unsigned>(hosts.front().threads / hosts.front().cores);
    }
    info.cpu_model = distinct(models);
    info.cpu_vendor = distinct(vendors);
    bool x86 = !vendors.empty();
    for (const auto& v : vendors) x86 = x86 && (v == "intel" || v == "amd");
    if (x86) info.arch = "x86_64";

    if (s.is_vcenter()) {
      info.hostname = s.target().host;
      info.hypervisor_version = distinct(versions);
      info.manager_version = about.version;
      info.host_uuid = about.instance_uuid;
    } else {
      info.hostname = hosts.size() == 1 ? hosts.front().name : s.target().host;
      info.hypervisor_version = about.version;
      if (hosts.size() == 1) info.host_uuid = hosts.front().uuid;
    }
    info.extras["product"] = about.full_name;
    info.extras["api_type"] = about.api_type;
    info.extras["api_version"] = about.api_version;
    if (!about.instance_uuid.empty()) info.extras["instance_uuid"] = about.instance_uuid;
    if (!about.build.empty()) info.extras["build"] = about.build;
    info.extras["hosts"] = std::to_string(hosts.size());
    std::sort(cluster_names.begin(), cluster_names.end());
    info.extras["clusters"] = join(cluster_names);
    std::sort(datacenters.begin(), datacenters.end());
    info.extras["datacenters"] = join(datacenters);
    return info;
  });
}

}  // namespace hyperctl::vsphere
