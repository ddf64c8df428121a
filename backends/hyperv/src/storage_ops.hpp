// Storage of a Hyper-V connection. (A placeholder: the storage engineer replaces it.)
#pragma once

#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include "connection.hpp"
#include "hyperctl/connection.hpp"

namespace hyperctl::hyperv {

class HypervStorageOps : public StorageOps {
 public:
  explicit HypervStorageOps(HypervConnection& c) : StorageOps(kBackendName), c_(c) {}

 private:
  [[maybe_unused]] HypervConnection& c_;
};

}  // namespace hyperctl::hyperv
