// Rules every backend keeps (DESIGN.md, "Rules every backend keeps"), written
// once here so that each backend says the same thing in the same words; the
// conformance suite checks that every backend calls them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "hyperctl/types.hpp"

namespace hyperctl {

/// Throws Error(Conflict) unless a volume of `current_bytes` may be set to
/// `new_bytes`: a smaller capacity needs options.shrink ("would shrink ...
/// add --shrink"); `data_bytes` (what the volume holds, 0 when unknown) is
/// only passed over with options.force. `volume` names it in the message.
void check_resize(const std::string& volume, std::uint64_t current_bytes, std::uint64_t new_bytes,
                  std::uint64_t data_bytes, const ResizeOptions& options,
                  std::string_view operation);

/// Throws Error(InvalidArgument) for a name no backend may give a snapshot:
/// empty, longer than 255 bytes, not UTF-8, with a control character or '/'
/// (other tools draw snapshot trees as paths and lines).
void validate_snapshot_name(const std::string& name, std::string_view operation);

/// Throws Error(Conflict) "VM 'x' has N snapshots; ..." when a VM with
/// snapshots is deleted without DeleteOptions::snapshots.
void check_delete_snapshots(const std::string& vm_label, std::size_t snapshot_count,
                            const DeleteOptions& options, std::string_view operation);

}  // namespace hyperctl
