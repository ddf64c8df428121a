// What the storage files of the libvirt backend share: look-ups that say
// NotFound/Conflict in our words, name checks, the Volume description and the
// "which VMs use this volume" scan.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "handles.hpp"
#include "hyperctl/types.hpp"
#include "session.hpp"

namespace hyperctl::lv::storage {

/// Suffix of the staging volume an upload writes into before it replaces the
/// target ("disk.qcow2.hyperctl-partial"). A volume with this suffix is never
/// complete; users cannot create one by that name.
inline constexpr const char* kPartialSuffix = ".hyperctl-partial";

/// The pool `name`; Error(NotFound) "storage pool 'x' not found on <uri>".
PoolPtr find_pool(const Session& s, const std::string& name, const std::string& op);
/// Same, and Error(Conflict) when the pool is not active (volumes of an
/// inactive pool cannot be reached).
PoolPtr find_active_pool(const Session& s, const std::string& name, const std::string& op);
/// The volume `name` of `pool`; Error(NotFound) "volume 'p/x' not found on <uri>".
VolPtr find_volume(const Session& s, virStoragePoolPtr pool, const std::string& pool_name,
                   const std::string& name, const std::string& op);
/// The volume if it exists, else null (other look-up failures throw).
VolPtr volume_if_exists(const Session& s, virStoragePoolPtr pool, const std::string& pool_name,
                        const std::string& name, const std::string& op);

/// A name for a new pool or volume (`what` = "pool" or "volume"): refuses,
/// with InvalidArgument and before libvirt sees it, an empty name, invalid
/// UTF-8, control characters, '/', "." and ".." (a volume name is a file name
/// in a directory pool) and the staging suffix. XML metacharacters are data.
void validate_new_name(const std::string& what, const std::string& name, const std::string& op);
/// qcow2, raw, vmdk...: lower-case letters and digits only.
void validate_format(const std::string& format, const std::string& op);

/// 'pool/name' for messages.
std::string volume_label(const std::string& pool, const std::string& name);

/// Everything but used_by.
Volume describe_volume(const Session& s, virStorageVolPtr vol, const std::string& pool_name);
Pool describe_pool(const Session& s, virStoragePoolPtr pool, const std::string& op);

/// Finds volumes by path. A file in a pool's folder that the pool has not
/// listed yet (the overlay a disk-only snapshot just made) is found after one
/// refresh of that pool.
class VolumeFinder {
 public:
  VolumeFinder(const Session& s, std::string op) : s_(s), op_(std::move(op)) {}
  /// The volume at `path`, or null when no pool holds it.
  VolPtr by_path(const std::string& path);
  /// `path` and the files below it in its backing chain (qcow2 overlays over
  /// base images), top first, as the volumes' descriptions say; the chain
  /// ends at a file that is no volume.
  std::vector<std::string> chain(const std::string& path);
  /// The path libvirt gives the volume at `path` (it tidies "//" and the
  /// like); `path` itself when no pool holds it.
  std::string canonical(const std::string& path);

 private:
  const Session& s_;
  std::string op_;
  std::set<std::string> refreshed_;  ///< pool folders refreshed by this finder
};

/// Which VMs use which file: the disk sources of every VM (defined or
/// running, persistent or transient; for a running persistent VM both its
/// running and its next-boot configuration) and the backing chains below
/// them, by path. One pass over every domain.
class DiskUsers {
 public:
  /// With `running_only`, only running VMs; `skip_uuid`: leave that VM out.
  static DiskUsers scan(const Session& s, bool running_only, const std::string& skip_uuid,
                        const std::string& op);
  /// Sorted VM names; empty when no VM uses `path`.
  std::vector<std::string> of(const std::string& path) const;

 private:
  std::map<std::string, std::set<std::string>> by_path_;
};

/// Names of the VMs (defined or running) that use this volume: as a disk
/// (by path, or by pool/volume for <disk type='volume'>) or below one of
/// their disks in a backing chain. With `running_only`, only running VMs.
std::vector<std::string> vms_using(const Session& s, const Volume& volume, bool running_only,
                                   const std::string& op);

/// "used by VM 'a'" / "used by VMs 'a', 'b'".
std::string used_by_text(const std::vector<std::string>& vms);

/// <volume> XML for a new volume: name escaped, capacity in bytes, no
/// allocation (sparse), target format.
std::string volume_xml(const std::string& name, std::uint64_t capacity_bytes,
                       const std::string& format);

}  // namespace hyperctl::lv::storage
