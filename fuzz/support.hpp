// Shared pieces of the harnesses: the input as text, a private temporary
// folder for the parsers that read files, and a contract check that stops
// the run (libFuzzer reports it as a crash, the replay as a failed test).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hyperctl::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// Aborts with `what` when `ok` is false: a broken contract is a finding.
void check(bool ok, const char* what);

/// A folder of this process under $TMPDIR (else /tmp), made on first use and
/// removed at exit. Harnesses write the files they parse only there.
const std::string& temp_dir();

/// Writes `bytes` to `path` with `mode` (replacing what was there).
void write_file(const std::string& path, std::string_view bytes, unsigned mode = 0600);

}  // namespace hyperctl::fuzz
