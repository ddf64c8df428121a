// Storage of a Hyper-V connection: the host's two default folders
// (Get-VMHost's VirtualHardDiskPath "vhd" and VirtualMachinePath "vm") are
// the pools, the .vhd/.vhdx files directly in them the volumes.
//
// A volume is a file in its pool's folder, named by the file's stem (the
// name without .vhd/.vhdx; both "x" and "x.vhdx" find x.vhdx; when x.vhd and
// x.vhdx are both there they are listed by their whole file names and "x"
// alone is Error(Conflict)). A name with a path separator, "..", a drive or
// stream colon, a wildcard or another character Windows refuses in file
// names is Error(InvalidArgument) before anything runs. Formats: "vhdx",
// "vhd" and "raw" (a fixed VHD: a raw image with a 512-byte footer); the
// extension decides, as New-VHD and Convert-VHD do. Volume::type is "fixed",
// "dynamic" or "differencing". Volumes returned by get/create/resize/clone
// carry the name they were asked by.
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
  /// Dynamic (fixed for "raw"). spec.pool empty: "vhd". spec.name ending
  /// .vhd/.vhdx decides the format (spec.format, when given, must agree);
  /// otherwise spec.format gives the extension (default .vhdx).
  Volume create_volume(const VolumeSpec& spec) override;
  /// Conflict, naming the VMs, when a VM's HardDrives point at it.
  void remove_volume(const std::string& pool, const std::string& name) override;
  /// Conflict when `capacity_bytes` is below the file's size (what the
  /// volume holds); nothing changes then.
  Volume resize_volume(const std::string& pool, const std::string& name,
                       std::uint64_t capacity_bytes, const ResizeOptions& options) override;
  /// Convert-VHD to `target` (pool-relative; target.pool empty: the same
  /// pool): the target name's extension (or target.format, or the source's
  /// format) gives the format, so vhd <-> vhdx conversion is a clone.
  /// target.capacity_bytes, when set, must not be below the source's size;
  /// a larger one grows the copy.
  Volume clone_volume(const std::string& pool, const std::string& name, const VolumeSpec& target,
                      const ProgressFn& progress, const CancelToken& cancel) override;

 private:
  HypervConnection& c_;

  /// A volume by name: its pool and its Get-VHD record.
  struct Located {
    Pool pool;
    nlohmann::json vhd;
  };
  /// `name` with .vhd/.vhdx is that file; without, name.vhdx or name.vhd
  /// (Conflict when both are there, NotFound when neither).
  Located locate(const std::string& pool, const std::string& name, const std::string& op);
};

/// Shared with migration.cpp and connection.cpp.
/// `s` with A-Z made a-z (Windows compares names and paths that way).
std::string lower_ascii(std::string s);
/// "vhd" / "vhdx" from a file name's extension, any case; "" otherwise.
std::string format_of_name(const std::string& name);
/// A Windows path for comparison: '/' as '\', ASCII lower-case, no trailing '\'.
std::string path_key(const std::string& path);
/// `folder` + '\' + `leaf` (no doubled separator).
std::string join_path(const std::string& folder, const std::string& leaf);
/// True when `name` can be one file name in a Windows folder (see above).
bool safe_file_name(const std::string& name);

}  // namespace hyperctl::hyperv
