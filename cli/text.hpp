// Text helpers for terminal and file output: UTF-8 aware widths, tables,
// CSV (RFC 4180) and a small YAML emitter. No CLI11 here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hyperctl::cli {

/// JSON documents keep their keys in insertion order, so "schema" comes first
/// and fields appear in the documented order.
using JsonValue = nlohmann::ordered_json;

/// Untrusted text made safe for one terminal line: hyperctl::escape::terminal_text.
std::string printable(std::string_view text);

/// Columns `text` takes on a terminal, for well-formed printable UTF-8:
/// combining marks take 0, East Asian wide and emoji take 2, others 1.
std::size_t display_width(std::string_view text);

enum class Align { Left, Right };

/// An aligned text table like `virsh list`: a header row, then rows; cells are
/// passed through printable() and padded by display width. The last column
/// is not padded (no trailing blanks).
class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

/// One CSV field, quoted per RFC 4180 when it holds , " CR or LF (or starts or
/// ends with a space); inner quotes doubled. A field that starts with
/// = + - @ tab or CR (a spreadsheet formula) is quoted with a leading '.
std::string csv_field(std::string_view text);
/// A CSV record of fields, ended with "\n".
std::string csv_row(const std::vector<std::string>& fields);

/// A YAML 1.2 document for a JSON value. Every string (and every key that is
/// not a plain identifier) is double-quoted and escaped, so any name stays
/// data: no tags, anchors, multi-line tricks or implicit typing ("no", "1e3").
std::string to_yaml(const JsonValue& value);

/// A JSON document as text, pretty-printed, invalid UTF-8 replaced by U+FFFD.
std::string to_json_text(const JsonValue& value);

}  // namespace hyperctl::cli
