// A PowerShell run as the Hyper-V backend reads it: the framed base64
// answer on standard output, else standard error (CLIXML included), and the
// base64 decoder. The first input byte picks which stream the rest is.
#include <cstdint>

#include "hyperctl/error.hpp"
#include "powershell.hpp"
#include "support.hpp"

using namespace hyperctl;
using namespace hyperctl::hyperv;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string rest = fuzz::text_of(data + 1, size - 1);
  if (data[0] % 3 == 2) {
    try {
      const std::string bytes = base64_decode(rest);
      // Unused low bits of a last group are ignored ("YWW=" is "ae"), so the
      // bytes, not the text, must survive a round trip.
      fuzz::check(base64_decode(base64_encode(bytes)) == bytes, "base64 round-trips the bytes");
      fuzz::check(
          bytes.size() == rest.size() / 4 * 3 - (rest.size() - rest.find_last_not_of('=') - 1) ||
              rest.empty(),
          "three bytes per four characters, less the padding");
    } catch (const Error& e) {
      fuzz::check(e.code() == ErrorCode::BackendFailure, "bad base64 is BackendFailure");
    }
    return 0;
  }
  process::Result result;
  result.exit_code = 1;
  (data[0] % 3 == 0 ? result.out : result.err) = rest;
  try {
    (void)parse_response(result, "vm.list", "a \"VM\"");
  } catch (const Error& e) {
    // Any code of the table may come from the answer's error record; the
    // message stays one line whatever the host wrote.
    fuzz::check(std::string(e.what()).find('\n') == std::string::npos,
                "a PowerShell failure is one line");
  }
  return 0;
}
