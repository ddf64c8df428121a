// wsl.exe failures -> hyperctl::Error, through one table (errors.cpp).
#pragma once

#include <string>

#include "hyperctl/error.hpp"
#include "hyperctl/process.hpp"

namespace hyperctl::wsl {

/// The code for a failed wsl.exe run, from its decoded output (standard
/// output and error together): the `Wsl/.../TOKEN` error code line first,
/// in any language, then known sentences of older wsl.exe versions.
ErrorCode classify(const std::string& text);

/// The line of wsl.exe's text that says what went wrong: the first
/// non-empty line that is not the "Error code:" line; "" when none.
std::string first_message_line(const std::string& text);

/// Throws the Error for a failed run: what() is one line naming the
/// operation and the distribution (through escape::terminal_text), detail()
/// holds wsl.exe's decoded text and exit status.
[[noreturn]] void fail(const std::string& op, const std::string& distro,
                       const std::string& decoded_text, const process::Result& result);

}  // namespace hyperctl::wsl
