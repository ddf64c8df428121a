// Storage of a Hyper-V connection: the host's two default folders
// (Get-VMHost's VirtualHardDiskPath "vhd" and VirtualMachinePath "vm") are
// the pools, the .vhd/.vhdx files directly in them the volumes.
//
// A volume name is a file name in its pool's folder: a name with a path
// separator, "..", a drive or stream colon, a wildcard or another character
// Windows refuses in file names is Error(InvalidArgument) before anything
// runs. Formats: "vhd" and "vhdx" (the extension decides, as Convert-VHD and
// New-VHD do); Volume::type is "fixed", "dynamic" or "differencing".
//
// Upload and download are not offered: the files live on a remote Windows
// file system that PowerShell reaches but our process runner cannot stream
// into (the WSL and libvirt backends stream through channels of their own:
// wsl.exe's standard streams, libvirt's stream API). Pools are not created,
// started or stopped: they are the host's settings (Set-VMHost).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

// powershell.hpp (through connection.hpp) names ErrorCode.
#include "hyperctl/error.hpp"

#include "connection.hpp"
#include "hyperctl/connection.hpp"

namespace hyperctl::hyperv {

class HypervStorageOps : public StorageOps {
 public:
  explicit HypervStorageOps(HypervConnection& c);

  /// "vhd" and "vm", type "folder", always active; sizes of their volume
  /// (0 when the host cannot tell, e.g. a share).
  std::vector<Pool> list_pools() override;
  Pool get_pool(const std::string& name) override;
  std::vector<Volume> list_volumes(const std::string& pool) override;
  Volume get_volume(const std::string& pool, const std::string& name) override;
  /// Dynamic. spec.pool empty: "vhd". spec.name ending .vhd/.vhdx decides the
  /// format (spec.format, when given, must agree); otherwise spec.format
  /// ("vhd" or "vhdx", default "vhdx") gives the extension.
  Volume create_volume(const VolumeSpec& spec) override;
  /// Conflict, naming the VMs, when a VM's HardDrives point at it.
  void remove_volume(const std::string& pool, const std::string& name) override;
  /// Conflict when `capacity_bytes` is below the file's size (what the
  /// volume holds); nothing changes then.
  Volume resize_volume(const std::string& pool, const std::string& name,
                       std::uint64_t capacity_bytes) override;
  /// Convert-VHD to `target` (pool-relative; target.pool empty: the same
  /// pool): the target name's extension (or target.format, or the source's
  /// format) gives the format, so vhd <-> vhdx conversion is a clone.
  /// target.capacity_bytes, when set, must not be below the source's size;
  /// a larger one grows the copy.
  Volume clone_volume(const std::string& pool, const std::string& name,
                      const VolumeSpec& target) override;

 private:
  HypervConnection& c_;
};

/// Shared with migration.cpp.
/// A Windows path for comparison: '/' as '\', ASCII lower-case, no trailing '\'.
std::string path_key(const std::string& path);
/// `folder` + '\' + `leaf` (no doubled separator).
std::string join_path(const std::string& folder, const std::string& leaf);
/// True when `name` can be one file name in a Windows folder (see above).
bool safe_file_name(const std::string& name);

}  // namespace hyperctl::hyperv
