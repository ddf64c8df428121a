// parse_size, parse_size_change and apply_size_change: sizes come from the
// command line and from scripts.
#include <cstdint>
#include <limits>
#include <optional>

#include "hyperctl/error.hpp"
#include "hyperctl/size.hpp"
#include "support.hpp"

using namespace hyperctl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  std::optional<std::uint64_t> bytes;
  try {
    bytes = parse_size(text);
    // format_size's human form must not throw for any size parsed.
    fuzz::check(!format_size(*bytes).empty(), "every size can be shown");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad size is InvalidArgument");
  }
  try {
    const SizeChange change = parse_size_change(text);
    // "SIZE" is absolute and then means what parse_size says.
    if (change.kind == SizeChange::Kind::Absolute)
      fuzz::check(bytes && *bytes == change.bytes, "an absolute change is parse_size's size");
    for (const std::uint64_t current :
         {std::uint64_t{1}, std::uint64_t{1} << 30, std::numeric_limits<std::uint64_t>::max()}) {
      try {
        const std::uint64_t after = apply_size_change(change, current);
        fuzz::check(after > 0, "a resize never gives 0 bytes");
        if (change.kind == SizeChange::Kind::Grow) fuzz::check(after >= current, "grow grows");
        if (change.kind == SizeChange::Kind::Shrink) fuzz::check(after < current, "shrink shrinks");
      } catch (const Error& e) {
        fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad resize is InvalidArgument");
      }
    }
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad change is InvalidArgument");
  }
  return 0;
}
