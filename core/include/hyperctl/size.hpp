// Sizes as people write them: 512M, 2G, 2GiB, 1.5T, 4096B. A bare number
// is refused: for memory virsh reads KiB, govc MiB and PowerShell bytes, so
// hyperctl makes the writer say which.
#pragma once

#include <cstdint>
#include <string>

namespace hyperctl {

/// Parses a size. Units (case-insensitive, required): B = bytes;
/// K M G T P and KiB MiB GiB TiB PiB = powers of 1024; KB MB GB TB PB = powers
/// of 1000 (as virsh does). A decimal fraction is allowed with a unit larger
/// than B. Throws Error(InvalidArgument) for a number without a unit and for
/// negative, empty, unknown-unit or overflowing input, quoting the input.
std::uint64_t parse_size(const std::string& text);

/// A capacity as written for a resize: "20G" sets it, "+5G" grows it by
/// 5 GiB, "-1G" shrinks it by 1 GiB.
struct SizeChange {
  enum class Kind { Absolute, Grow, Shrink };
  Kind kind = Kind::Absolute;
  std::uint64_t bytes = 0;
};

/// Parses "SIZE", "+SIZE" or "-SIZE" (parse_size's rules for SIZE).
SizeChange parse_size_change(const std::string& text);

/// The capacity `change` gives a volume of `current` bytes. Throws
/// Error(InvalidArgument) when it would be 0 or less, or past 2^64-1.
std::uint64_t apply_size_change(const SizeChange& change, std::uint64_t current);

/// Human form with binary units: "512 MiB", "2 GiB", "1.5 GiB", "300 B".
std::string format_size(std::uint64_t bytes);

}  // namespace hyperctl
