// Migration of Hyper-V VMs. (A placeholder: the migration engineer replaces it.)
#pragma once

#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include "connection.hpp"
#include "hyperctl/connection.hpp"

namespace hyperctl::hyperv {

class HypervMigrationOps : public MigrationOps {
 public:
  explicit HypervMigrationOps(HypervConnection& c) : MigrationOps(kBackendName), c_(c) {}

 private:
  [[maybe_unused]] HypervConnection& c_;
};

}  // namespace hyperctl::hyperv
