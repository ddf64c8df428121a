// One escaping function per target language. Everything that builds a
// document or a command from user input (VM names, paths, descriptions) goes
// through these; nothing is spliced raw.
#pragma once

#include <string>
#include <string_view>

namespace hyperctl::escape {

/// XML character data: & < > escaped; characters XML 1.0 cannot carry (NUL,
/// most C0 controls, lone surrogates, invalid UTF-8) throw
/// Error(InvalidArgument). Tab, LF and CR are kept (CR as &#13;).
std::string xml_text(std::string_view text);

/// XML attribute value for either quote style: & < > " ' escaped, and
/// tab/LF/CR as character references so they survive attribute normalisation.
std::string xml_attr(std::string_view text);

/// A PowerShell single-quoted literal, quotes included: every ' and the
/// typographic quotes PowerShell also treats as quotes (U+2018..U+201B) are
/// doubled. The result is inert: no $ expansion, no subexpressions.
std::string powershell_literal(std::string_view text);

/// A POSIX shell word, quotes included: '...' with each ' written as '\''.
std::string shell_word(std::string_view text);

/// A JSON string literal, quotes included (UTF-8 kept; controls as \uXXXX).
/// Invalid UTF-8 throws Error(InvalidArgument).
std::string json_string(std::string_view text);

/// True when `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

}  // namespace hyperctl::escape
