// Sizes as people write them: 512M, 2G, 2GiB, 1.5T, 4096 (bytes).
#pragma once

#include <cstdint>
#include <string>

namespace hyperctl {

/// Parses a size. Suffixes (case-insensitive): none or B = bytes;
/// K M G T P and KiB MiB GiB TiB PiB = powers of 1024; KB MB GB TB PB = powers
/// of 1000 (as virsh does). A decimal fraction is allowed with a suffix.
/// Throws Error(InvalidArgument) for negative, empty, unknown-suffix or
/// overflowing input, quoting the input.
std::uint64_t parse_size(const std::string& text);

/// Human form with binary units: "512 MiB", "2 GiB", "1.5 GiB", "300 B".
std::string format_size(std::uint64_t bytes);

}  // namespace hyperctl
