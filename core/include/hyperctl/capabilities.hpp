// The operations a backend may offer, one flag each. `hyperctl backends`
// prints them as a matrix; an operation a backend lacks throws
// ErrorCode::Unsupported naming the backend and the operation.
#pragma once

#include <bitset>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

namespace hyperctl {

// X(enumerator, "group.name") — the table every list of operations comes from.
#define HYPERCTL_OPERATIONS(X)                \
  X(VmList, "vm.list")                        \
  X(VmGet, "vm.get")                          \
  X(VmCreate, "vm.create")                    \
  X(VmDefine, "vm.define")                    \
  X(VmStart, "vm.start")                      \
  X(VmShutdown, "vm.shutdown")                \
  X(VmPowerOff, "vm.poweroff")                \
  X(VmReboot, "vm.reboot")                    \
  X(VmReset, "vm.reset")                      \
  X(VmSuspend, "vm.suspend")                  \
  X(VmResume, "vm.resume")                    \
  X(VmSave, "vm.save")                        \
  X(VmDelete, "vm.delete")                    \
  X(VmDeleteWithStorage, "vm.delete-storage") \
  X(VmSetResources, "vm.set")                 \
  X(VmAutostart, "vm.autostart")              \
  X(VmSetProperty, "vm.set-property")         \
  X(VmExportConfig, "vm.export-config")       \
  X(SnapshotList, "snapshot.list")            \
  X(SnapshotCreate, "snapshot.create")        \
  X(SnapshotRevert, "snapshot.revert")        \
  X(SnapshotDelete, "snapshot.delete")        \
  X(PoolList, "pool.list")                    \
  X(PoolInfo, "pool.info")                    \
  X(PoolCreate, "pool.create")                \
  X(PoolStart, "pool.start")                  \
  X(PoolStop, "pool.stop")                    \
  X(PoolRefresh, "pool.refresh")              \
  X(PoolDelete, "pool.delete")                \
  X(VolumeList, "volume.list")                \
  X(VolumeInfo, "volume.info")                \
  X(VolumeCreate, "volume.create")            \
  X(VolumeDelete, "volume.delete")            \
  X(VolumeResize, "volume.resize")            \
  X(VolumeClone, "volume.clone")              \
  X(VolumeUpload, "volume.upload")            \
  X(VolumeDownload, "volume.download")        \
  X(NetworkList, "network.list")              \
  X(NetworkInfo, "network.info")              \
  X(NetworkStart, "network.start")            \
  X(NetworkStop, "network.stop")              \
  X(MigratePreflight, "migrate.check")        \
  X(MigrateLive, "migrate.live")              \
  X(MigrateOffline, "migrate.offline")        \
  X(MigrateCross, "migrate.cross")            \
  X(HostInfo, "host.info")                    \
  X(HostShutdown, "host.shutdown")

enum class Operation {
#define HYPERCTL_X(e, s) e,
  HYPERCTL_OPERATIONS(HYPERCTL_X)
#undef HYPERCTL_X
};

inline constexpr std::size_t kOperationCount = 0
#define HYPERCTL_X(e, s) +1
    HYPERCTL_OPERATIONS(HYPERCTL_X)
#undef HYPERCTL_X
    ;

/// "vm.start", "snapshot.list", ...
std::string_view to_string(Operation op);
std::optional<Operation> parse_operation(std::string_view name);
/// Every operation, in declaration order.
const std::vector<Operation>& all_operations();

/// A set of operations.
class Capabilities {
 public:
  Capabilities() = default;
  Capabilities(std::initializer_list<Operation> ops) {
    for (auto op : ops) set(op);
  }
  Capabilities& set(Operation op, bool on = true) {
    bits_.set(static_cast<std::size_t>(op), on);
    return *this;
  }
  bool has(Operation op) const { return bits_.test(static_cast<std::size_t>(op)); }
  std::size_t count() const { return bits_.count(); }

 private:
  std::bitset<kOperationCount> bits_;
};

}  // namespace hyperctl
