// What wsl.exe and reg.exe print: decode_output (UTF-16LE or UTF-8), then
// the list, registry, version and status parsers and the error table. The
// first input byte picks the entry point; the rest is the raw output.
#include <cstdint>

#include "errors.hpp"
#include "hyperctl/error.hpp"
#include "support.hpp"
#include "wsl_exe.hpp"

using namespace hyperctl;
using namespace hyperctl::wsl;

namespace {

// Whether `text` is well-formed UTF-8 (what decode_output promises).
bool valid_utf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

bool one_line(const std::string& text) {
  return text.find('\n') == std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string raw = fuzz::text_of(data + 1, size - 1);
  // Never throws, whatever the bytes.
  const std::string text = decode_output(raw);
  fuzz::check(valid_utf8(text), "decoded output is valid UTF-8");
  fuzz::check(text.find('\r') == std::string::npos || raw.find('\r') != std::string::npos,
              "no carriage return is invented");
  try {
    switch (data[0] % 6) {
      case 0:
        // UTF-8 without NULs (which would look like UTF-16), carriage
        // returns or a BOM is taken as it is.
        if (text.find_first_of(std::string("\0\r", 2)) == std::string::npos &&
            text.rfind("\xEF\xBB\xBF", 0) != 0)
          fuzz::check(decode_output(text) == text, "decoding UTF-8 text again changes nothing");
        break;
      case 1:
        for (const ListedDistro& d : parse_list_verbose(text)) {
          fuzz::check(!d.name.empty(), "a listed distribution has a name");
          (void)map_state(d.state);
        }
        break;
      case 2:
        for (const RegistryDistro& d : parse_registry(text))
          fuzz::check(d.version >= 0 && d.version <= 2, "a WSL version is 0, 1 or 2");
        break;
      case 3:
        (void)parse_version(text);
        break;
      case 4:
        (void)parse_status(text);
        break;
      default: {
        (void)classify(text);
        (void)first_message_line(text);
        process::Result result;
        result.exit_code = 255;
        result.err = text;
        try {
          fail("vm.start", "Ubuntu", text, result);
        } catch (const Error& e) {
          fuzz::check(one_line(e.what()), "a wsl.exe failure is one line");
          return 0;
        }
      }
    }
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::BackendFailure, "an unknown shape is BackendFailure");
    fuzz::check(one_line(e.what()), "the message is one line");
  }
  return 0;
}
