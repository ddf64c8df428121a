#include "hyperctl/size.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "hyperctl/error.hpp"

namespace hyperctl {

namespace {

__extension__ typedef unsigned __int128 u128;  // exact arithmetic before the range check

[[noreturn]] void bad(const std::string& text, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument, "invalid size '" + text + "': " + why, "size.parse");
}

struct Suffix {
  const char* text;
  u128 factor;
};

constexpr u128 kKi = 1024, kK = 1000;
const Suffix kSuffixes[] = {
    {"b", 1},
    {"k", kKi},
    {"kib", kKi},
    {"kb", kK},
    {"m", kKi* kKi},
    {"mib", kKi* kKi},
    {"mb", kK* kK},
    {"g", kKi* kKi* kKi},
    {"gib", kKi* kKi* kKi},
    {"gb", kK* kK* kK},
    {"t", kKi* kKi* kKi* kKi},
    {"tib", kKi* kKi* kKi* kKi},
    {"tb", kK* kK* kK* kK},
    {"p", kKi* kKi* kKi* kKi* kKi},
    {"pib", kKi* kKi* kKi* kKi* kKi},
    {"pb", kK* kK* kK* kK* kK},
};

// Reads a size from text[start..]; messages quote the whole text.
std::uint64_t parse_size_from(const std::string& text, std::size_t start) {
  std::size_t i = start;
  const std::size_t n = text.size();
  while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i == n) bad(text, "it is empty");
  if (text[i] == '-') bad(text, "a size cannot be negative");

  u128 whole = 0;
  std::size_t digits = 0;
  for (; i < n && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > static_cast<u128>(UINT64_MAX)) bad(text, "it is too large");
  }
  u128 frac = 0, frac_scale = 1;
  if (i < n && text[i] == '.') {
    ++i;
    for (; i < n && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
      if (frac_scale < static_cast<u128>(1000000000000000000ull)) {
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        frac_scale *= 10;
      }
    }
    if (frac_scale == 1) bad(text, "expected digits after '.'");
  }
  if (digits == 0) bad(text, "expected a number such as 512M, 2G or 2GiB");
  while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::string suffix;
  for (; i < n && !std::isspace(static_cast<unsigned char>(text[i])); ++i)
    suffix += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i != n) bad(text, "unexpected text after the unit");

  if (suffix.empty())
    bad(text,
        "it has no unit (virsh reads KiB there, govc MiB, PowerShell bytes); write e.g. 512M, 2G, "
        "1048576K or 4096B");
  const auto it = std::find_if(std::begin(kSuffixes), std::end(kSuffixes),
                               [&](const Suffix& s) { return suffix == s.text; });
  if (it == std::end(kSuffixes))
    bad(text, "unknown unit '" + suffix + "' (use B, K, M, G, T, P, KiB..PiB or KB..PB)");
  if (frac_scale != 1 && it->factor == 1) bad(text, "a number of bytes must be whole");

  // whole < 2^68 and factor <= 2^50 keep the product inside 128 bits.
  const u128 value = whole * it->factor + frac * it->factor / frac_scale;
  if (value > static_cast<u128>(UINT64_MAX)) bad(text, "it is too large");
  return static_cast<std::uint64_t>(value);
}

}  // namespace

std::uint64_t parse_size(const std::string& text) {
  return parse_size_from(text, 0);
}

SizeChange parse_size_change(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  SizeChange change;
  if (i == text.size() || (text[i] != '+' && text[i] != '-')) {
    change.bytes = parse_size(text);
    return change;
  }
  change.kind = text[i] == '+' ? SizeChange::Kind::Grow : SizeChange::Kind::Shrink;
  const std::size_t start = i + 1;
  if (start == text.size() || !std::isdigit(static_cast<unsigned char>(text[start])))
    bad(text, "expected one sign then a size, e.g. +5G or -1G");
  change.bytes = parse_size_from(text, start);
  if (change.bytes == 0) bad(text, "a change of 0 changes nothing");
  return change;
}

std::uint64_t apply_size_change(const SizeChange& change, std::uint64_t current) {
  const auto shown = [](std::uint64_t b) { return format_size(b); };
  switch (change.kind) {
    case SizeChange::Kind::Absolute:
      if (change.bytes == 0)
        throw Error(ErrorCode::InvalidArgument, "a capacity must be more than 0", "size.change");
      return change.bytes;
    case SizeChange::Kind::Grow:
      if (change.bytes > UINT64_MAX - current)
        throw Error(ErrorCode::InvalidArgument,
                    "growing " + shown(current) + " by " + shown(change.bytes) +
                        " is past the largest size (16 EiB)",
                    "size.change");
      return current + change.bytes;
    case SizeChange::Kind::Shrink:
      if (change.bytes >= current)
        throw Error(
            ErrorCode::InvalidArgument,
            "shrinking " + shown(current) + " by " + shown(change.bytes) + " leaves nothing",
            "size.change");
      return current - change.bytes;
  }
  return change.bytes;
}

std::string format_size(std::uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t unit = 0;
  std::uint64_t scale = 1;
  while (unit + 1 < std::size(kUnits) && bytes / scale >= 1024) {
    scale *= 1024;
    ++unit;
  }
  char buf[64];
  if (bytes % scale == 0) {
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(bytes / scale),
                  kUnits[unit]);
  } else {
    const double v = static_cast<double>(bytes) / static_cast<double>(scale);
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

}  // namespace hyperctl
