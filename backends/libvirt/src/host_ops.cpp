// Host facts: node info, versions, CPU from the capabilities document.
#include "errors.hpp"
#include "ops.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

/// libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release.
std::string dotted(unsigned long long v) {
  return std::to_string(v / 1000000) + "." + std::to_string((v / 1000) % 1000) + "." +
         std::to_string(v % 1000);
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
    h.extras["cpu_mhz"] = std::to_string(node.mhz);
    h.extras["numa_nodes"] = std::to_string(node.nodes);
    h.extras["sockets"] = std::to_string(node.sockets);
    h.extras["cores_per_socket"] = std::to_string(node.cores);
    h.extras["threads_per_core"] = std::to_string(node.threads);

    unsigned long long free_bytes = virNodeGetFreeMemory(s_.get());
    if (free_bytes == 0) take_last_error(s_.get());  // 0 is also libvirt's error value
    h.memory_free_bytes = free_bytes;

    CString caps(virConnectGetCapabilities(s_.get()));
    if (caps) {
      auto doc = XmlDoc::parse(caps.get(), "a capabilities document");
      std::string arch = doc.value("/capabilities/host/cpu/arch");
      if (!arch.empty()) h.arch = arch;
      h.cpu_model = doc.value("/capabilities/host/cpu/model");
      h.cpu_vendor = doc.value("/capabilities/host/cpu/vendor");
      std::string uuid = doc.value("/capabilities/host/uuid");
      if (!uuid.empty()) h.extras["host_uuid"] = uuid;
    } else {
      take_last_error(s_.get());
    }
    h.extras["uri"] = where;
    return h;
  });
}

}  // namespace hyperctl::lv
