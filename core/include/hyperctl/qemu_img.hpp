// Disk conversion between families with qemu-img (Debian's qemu-utils):
// raw, qcow2, vmdk, vhdx and vpc, always with both formats named (qemu-img
// never guesses one from the bytes), on this machine.
#pragma once

#include <cstdint>
#include <string>

#include "hyperctl/types.hpp"

namespace hyperctl::qemu_img {

/// The program: $HYPERCTL_QEMU_IMG when set, else "qemu-img" (found in PATH).
std::string program();

/// Whether the program runs here ("qemu-img --version" answers); `why` says
/// what failed otherwise.
bool available(std::string& why);

/// Formats convert() reads and writes.
bool known_format(const std::string& format);

/// Converts the image `in` (of `in_format`) into a new file `out` of
/// `out_format` (vhdx and vpc dynamic, qcow2 and raw sparse). Progress:
/// {phase, done of `size_bytes`, "bytes"} from qemu-img's own percentage.
/// Cancelled, failed or killed, `out` is removed. Errors: InvalidArgument
/// for an unknown format, Unreachable when qemu-img cannot be started,
/// BackendFailure with qemu-img's last line of error (e.g. "No space left on
/// device"), Cancelled.
void convert(const std::string& in, const std::string& in_format, const std::string& out,
             const std::string& out_format, std::uint64_t size_bytes, const std::string& phase,
             const ProgressFn& progress, const CancelToken& cancel, const std::string& operation);

/// Whether two images hold the same guest-visible content (qemu-img
/// compare; formats and allocation may differ; the shorter image is taken
/// as zero-extended, so compare the sizes apart). Errors as convert().
bool same_content(const std::string& a, const std::string& a_format, const std::string& b,
                  const std::string& b_format, const CancelToken& cancel,
                  const std::string& operation);

}  // namespace hyperctl::qemu_img
