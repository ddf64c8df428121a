// Reading a terminal's master side in the tests that drive the CLI through a
// pty (password prompts, Ctrl-C at a prompt).
#pragma once

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace hyperctl::test_pty {

/// Reads `fd` into `seen` until `text` appears at `from` or later; false when
/// `ms` pass first or the terminal closes (EIO once the child has gone).
inline bool read_until(int fd, const std::string& text, std::string& seen, int ms,
                       std::size_t from = 0) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (seen.find(text, from) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    seen.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace hyperctl::test_pty
