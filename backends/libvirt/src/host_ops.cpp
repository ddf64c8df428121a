// Host facts: node info, versions, CPU (model, vendor, full feature set), guest
// types from the capabilities document — what the migration preflight compares.
#include <algorithm>
#include <optional>

#include "errors.hpp"
#include "hyperctl/escape.hpp"
#include "ops.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

/// libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release.
std::string dotted(unsigned long long v) {
  return std::to_string(v / 1000000) + "." + std::to_string((v / 1000) % 1000) + "." +
         std::to_string(v % 1000);
}

void add_unique(std::vector<std::string>& items, std::string item) {
  if (!item.empty() && std::find(items.begin(), items.end(), item) == items.end())
    items.push_back(std::move(item));
}

/// Every feature of the host CPU (model features included), from
/// virConnectBaselineCPU(EXPAND_FEATURES) on the host's own <cpu>;
/// nullopt when the driver cannot.
std::optional<std::vector<std::string>> expanded_features(const Session& s, const XmlDoc& caps) {
  using escape::xml_attr;
  using escape::xml_text;
  std::string cpu = "<cpu>\n";
  for (const char* field : {"arch", "model", "vendor"}) {
    const std::string path = std::string("/capabilities/host/cpu/") + field;
    const std::string v = caps.value(path.c_str());
    if (!v.empty()) cpu += std::string("  <") + field + ">" + xml_text(v) + "</" + field + ">\n";
  }
  for (const auto& f : caps.select("/capabilities/host/cpu/feature"))
    cpu += "  <feature name='" + xml_attr(f.attr("name")) + "'/>\n";
  cpu += "</cpu>\n";
  const char* cpus[] = {cpu.c_str()};
  CString out(virConnectBaselineCPU(s.get(), cpus, 1, VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES));
  if (!out) {
    take_last_error(s.get());
    return std::nullopt;
  }
  auto doc = XmlDoc::parse(out.get(), "a CPU description");
  std::vector<std::string> features;
  for (const auto& f : doc.select("/cpu/feature")) {
    const std::string policy = f.attr("policy");
    if (policy.empty() || policy == "require" || policy == "force")
      add_unique(features, f.attr("name"));
  }
  return features;
}

}  // namespace

HostInfo LibvirtHostOps::info() {
  return guarded("host.info", [&] {
    const std::string op = "host.info";
    const std::string where = s_.uri.raw;
    HostInfo h;
    CString name(virConnectGetHostname(s_.get()));
    if (!name) fail(s_.get(), "cannot read the host name of " + where, op);
    h.hostname = name.get();
    h.hypervisor = s_.driver;

    unsigned long hv = 0;
    if (virConnectGetVersion(s_.get(), &hv) == 0)
      h.hypervisor_version = dotted(hv);
    else
      take_last_error(s_.get());
    unsigned long lib = 0;
    if (virConnectGetLibVersion(s_.get(), &lib) < 0)
      fail(s_.get(), "cannot read the libvirt version of " + where, op);
    h.manager_version = dotted(lib);

    virNodeInfo node;
    if (virNodeGetInfo(s_.get(), &node) < 0)
      fail(s_.get(), "cannot read node info of " + where, op);
    h.cpus = node.cpus;
    h.arch = node.model;
    h.memory_total_bytes = static_cast<std::uint64_t>(node.memory) * 1024;
    h.sockets = node.sockets * std::max(node.nodes, 1u);
    h.cores_per_socket = node.cores;
    h.threads_per_core = node.threads;
    h.extras["cpu_mhz"] = std::to_string(node.mhz);
    h.extras["numa_nodes"] = std::to_string(node.nodes);

    unsigned long long free_bytes = virNodeGetFreeMemory(s_.get());
    if (free_bytes == 0) take_last_error(s_.get());  // 0 is also libvirt's error value
    h.memory_free_bytes = free_bytes;

    CString caps(virConnectGetCapabilities(s_.get()));
    if (!caps) fail(s_.get(), "cannot read the capabilities of " + where, op);
    auto doc = XmlDoc::parse(caps.get(), "a capabilities document");
    std::string arch = doc.value("/capabilities/host/cpu/arch");
    if (!arch.empty()) h.arch = arch;
    h.cpu_model = doc.value("/capabilities/host/cpu/model");
    h.cpu_vendor = doc.value("/capabilities/host/cpu/vendor");
    h.host_uuid = doc.value("/capabilities/host/uuid");
    for (const auto& f : doc.select("/capabilities/host/cpu/feature"))
      add_unique(h.cpu_features, f.attr("name"));
    // Older drivers (test) list flags as elements: <features><pae/></features>.
    for (const auto& f : doc.select("/capabilities/host/cpu/features/*"))
      add_unique(h.cpu_features, f.name());
    for (const auto& d : doc.select("/capabilities/guest/arch/domain"))
      add_unique(h.guest_types, d.attr("type"));

    // The capabilities list only the features beyond the CPU model; the
    // migration preflight compares the full set, which libvirt expands from
    // its CPU map. Where it cannot (test driver), the listed ones stay.
    bool expanded = false;
    if (!h.cpu_model.empty()) {
      if (auto full = expanded_features(s_, doc)) {
        for (auto& f : *full) add_unique(h.cpu_features, std::move(f));
        expanded = true;
      }
    }
    std::sort(h.cpu_features.begin(), h.cpu_features.end());
    const bool nx =
        std::find(h.cpu_features.begin(), h.cpu_features.end(), "nx") != h.cpu_features.end();
    h.extras["nx"] = nx ? "yes" : (expanded ? "no" : "unknown");
    h.extras["cpu_features"] = expanded ? "expanded" : "listed";
    h.extras["uri"] = where;
    return h;
  });
}

}  // namespace hyperctl::lv
