// What the storage files of the libvirt backend share: look-ups that say
// NotFound/Conflict in our words, name checks, the Volume description and the
// "which VMs use this volume" scan.
#pragma once

#include <cstdint>
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

/// Names of the VMs (defined or running) with a disk whose source is this
/// volume: by path, or by pool/volume for <disk type='volume'>. One pass over
/// every domain's XML. With `running_only`, only running VMs.
std::vector<std::string> vms_using(const Session& s, const Volume& volume, bool running_only,
                                   const std::string& op);

/// <volume> XML for a new volume: name escaped, capacity in bytes, no
/// allocation (sparse), target format.
std::string volume_xml(const std::string& name, std::uint64_t capacity_bytes,
                       const std::string& format);

}  // namespace hyperctl::lv::storage
