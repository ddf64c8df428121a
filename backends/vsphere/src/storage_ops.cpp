// Placeholder until its owner lands the real one: every method is Unsupported.
#include "ops.hpp"

namespace hyperctl::vsphere {

Capabilities storage_capabilities() {
  return {};
}

std::vector<Pool> VsphereStorageOps::list_pools() {
  unsupported(Operation::VmList);
}

Pool VsphereStorageOps::get_pool(const std::string& /*name*/) {
  unsupported(Operation::VmList);
}

void VsphereStorageOps::refresh_pool(const std::string& /*name*/) {
  unsupported(Operation::VmList);
}

std::vector<Volume> VsphereStorageOps::list_volumes(const std::string& /*pool*/) {
  unsupported(Operation::VmList);
}

Volume VsphereStorageOps::get_volume(const std::string& /*pool*/, const std::string& /*name*/) {
  unsupported(Operation::VmList);
}

Volume VsphereStorageOps::create_volume(const VolumeSpec& /*spec*/) {
  unsupported(Operation::VmList);
}

void VsphereStorageOps::remove_volume(const std::string& /*pool*/, const std::string& /*name*/) {
  unsupported(Operation::VmList);
}

void VsphereStorageOps::upload_volume(const std::string& /*pool*/, const std::string& /*name*/,
                                      const std::string& /*local_path*/,
                                      const TransferOptions& /*options*/,
                                      const ProgressFn& /*progress*/,
                                      const CancelToken& /*cancel*/) {
  unsupported(Operation::VmList);
}

void VsphereStorageOps::download_volume(const std::string& /*pool*/, const std::string& /*name*/,
                                        const std::string& /*local_path*/,
                                        const TransferOptions& /*options*/,
                                        const ProgressFn& /*progress*/,
                                        const CancelToken& /*cancel*/) {
  unsupported(Operation::VmList);
}

}  // namespace hyperctl::vsphere
