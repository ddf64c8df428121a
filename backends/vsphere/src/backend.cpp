// The vSphere backend: plugin entry point, Backend and connect().
#include "hyperctl/error.hpp"

#include "connection.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/plugin.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {
namespace {

class VsphereBackend final : public Backend {
 public:
  std::string name() const override { return kBackendName; }
  std::string description() const override {
    return "VMware ESXi and vCenter through the vSphere Web Services API (vim25 SOAP over HTTPS)";
  }
  std::vector<std::string> schemes() const override { return {"vsphere", "esx"}; }

  Capabilities capabilities() const override {
    Capabilities caps;
    for (const Capabilities& part :
         {vm_capabilities(), snapshot_capabilities(), storage_capabilities(),
          network_capabilities(), host_capabilities(), migration_capabilities()})
      for (Operation op : all_operations())
        if (part.has(op)) caps.set(op);
    return caps;
  }

  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    const std::string op = "connect";
    return guarded(op, [&]() -> std::unique_ptr<Connection> {
      auto session = std::make_unique<Session>(uri, options);
      // esx:// promises a standalone host; a vCenter behind it would make
      // every placement default wrong, so it is said at once.
      if (session->target().scheme == "esx" && session->is_vcenter())
        throw Error(ErrorCode::InvalidArgument,
                    session->endpoint() + " is a vCenter (" +
                        escape::terminal_text(session->content().full_name) +
                        "), not a standalone ESXi host: connect with vsphere://",
                    op);
      return std::make_unique<VsphereConnection>(uri, std::move(session));
    });
  }
};

std::unique_ptr<Backend> make_backend() {
  return std::make_unique<VsphereBackend>();
}

}  // namespace
}  // namespace hyperctl::vsphere

HYPERCTL_PLUGIN(hyperctl::vsphere::make_backend)
