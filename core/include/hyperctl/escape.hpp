// One escaping function per target language. Everything that builds a
// document or a command from user input (VM names, paths, descriptions) goes
// through these; nothing is spliced raw.
#pragma once

#include <cstddef>
#include <optional>
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

/// Text for one terminal line or log line: C0/C1 controls, DEL, line and
/// paragraph separators, bidi overrides and bytes that are not valid UTF-8
/// become visible escapes (\n, \t, \x1b, \u202e...), so a hostile name cannot
/// move the cursor, inject colour, reorder or break a line. Printable UTF-8 is
/// kept as is. Used for every user-supplied string in a message.
std::string terminal_text(std::string_view text);

/// True when `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

/// Decodes the UTF-8 sequence that starts at text[pos] (pos < size): sets
/// `len` to its length in bytes and returns its code point, or returns
/// nullopt with `len` = 1 when the byte there starts no well-formed sequence.
std::optional<char32_t> decode_utf8(std::string_view text, std::size_t pos, std::size_t& len);

}  // namespace hyperctl::escape
