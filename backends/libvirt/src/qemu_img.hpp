// What the backend asks qemu-img about image files on this machine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hyperctl::lv {

/// The end of the last extent `qemu-img map` reports as data in the local
/// image `path` of `format` (a qcow2 overlay's backing files included): the
/// highest guest-visible offset that holds data. nullopt when qemu-img is
/// missing or cannot read the file.
std::optional<std::uint64_t> qemu_img_data_end(const std::string& path, const std::string& format,
                                               const std::string& op);

/// The same end read from `qemu-img map --output=json` output (an array of
/// extents {start, length, data, ...}); nullopt when it is not that.
std::optional<std::uint64_t> map_data_end(const std::string& json);

}  // namespace hyperctl::lv
