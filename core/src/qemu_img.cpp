// qemu-img for disk conversion; see hyperctl/qemu_img.hpp.
#include "hyperctl/qemu_img.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string_view>

#include "hyperctl/error.hpp"
#include "hyperctl/process.hpp"

namespace hyperctl::qemu_img {
namespace {

/// The last non-empty line of `text`, at most 300 bytes.
std::string last_line(const std::string& text) {
  std::size_t end = text.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return {};
  std::size_t start = text.find_last_of("\r\n", end);
  start = start == std::string::npos ? 0 : start + 1;
  std::string line = text.substr(start, end - start + 1);
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

/// qemu-img -p writes "    (12.34/100%)\r" as it goes: the last whole
/// percentage in `chunk`, or -1.
double last_percent(std::string_view chunk) {
  const auto close = chunk.rfind("/100%)");
  if (close == std::string_view::npos) return -1;
  const auto open = chunk.rfind('(', close);
  if (open == std::string_view::npos) return -1;
  const std::string number(chunk.substr(open + 1, close - open - 1));
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (end == number.c_str() || v < 0 || v > 100) return -1;
  return v;
}

}  // namespace

std::string program() {
  const char* p = std::getenv("HYPERCTL_QEMU_IMG");
  return p && *p ? p : "qemu-img";
}

bool available(std::string& why) {
  process::Command cmd;
  cmd.argv = {program(), "--version"};
  cmd.timeout = std::chrono::seconds(30);
  cmd.operation = "qemu-img";
  try {
    const auto r = process::Runner().run(cmd);
    if (r.ok()) return true;
    why = program() + " --version failed: " + last_line(r.err);
  } catch (const Error& e) {
    why = e.what();
  }
  return false;
}

bool known_format(const std::string& f) {
  return f == "raw" || f == "qcow2" || f == "vmdk" || f == "vhdx" || f == "vpc";
}

void convert(const std::string& in, const std::string& in_format, const std::string& out,
             const std::string& out_format, std::uint64_t size_bytes, const std::string& phase,
             const ProgressFn& progress, const CancelToken& cancel, const std::string& op) {
  for (const auto* f : {&in_format, &out_format})
    if (!known_format(*f))
      throw Error(ErrorCode::InvalidArgument,
                  "disk format '" + *f + "' cannot be converted (raw, qcow2, vmdk, vhdx, vpc)", op);
  process::Command cmd;
  cmd.argv = {program(), "convert", "-p", "-f", in_format, "-O", out_format};
  if (out_format == "vhdx" || out_format == "vpc") {
    cmd.argv.push_back("-o");
    cmd.argv.push_back("subformat=dynamic");
  }
  // "--" is not understood by qemu-img: paths are ours (the work folder),
  // never starting with '-'.
  cmd.argv.push_back(in);
  cmd.argv.push_back(out);
  cmd.cancel = cancel;
  cmd.operation = op;
  cmd.stdout_sink = [&](std::string_view chunk) {
    const double pct = last_percent(chunk);
    if (pct >= 0 && progress) {
      Progress p;
      p.phase = phase;
      p.total = size_bytes;
      p.done = static_cast<std::uint64_t>(static_cast<double>(size_bytes) * pct / 100.0);
      p.unit = "bytes";
      progress(p);
    }
  };
  try {
    const auto r = process::Runner().run(cmd);
    if (!r.ok()) {
      const std::string why = last_line(r.err);
      throw Error(ErrorCode::BackendFailure,
                  "qemu-img could not convert the " + in_format + " disk to " + out_format +
                      (why.empty() ? std::string() : ": " + why),
                  op, r.err);
    }
  } catch (...) {
    ::unlink(out.c_str());
    throw;
  }
}

bool same_content(const std::string& a, const std::string& a_format, const std::string& b,
                  const std::string& b_format, const CancelToken& cancel, const std::string& op) {
  for (const auto* f : {&a_format, &b_format})
    if (!known_format(*f))
      throw Error(ErrorCode::InvalidArgument,
                  "disk format '" + *f + "' cannot be compared (raw, qcow2, vmdk, vhdx, vpc)", op);
  process::Command cmd;
  // Not -s (strict): it also compares which sectors are allocated, and a
  // sparse copy of the same content would differ. The sizes are compared
  // apart (qemu-img takes the shorter image as zero-extended).
  cmd.argv = {program(), "compare", "-f", a_format, "-F", b_format, a, b};
  cmd.cancel = cancel;
  cmd.operation = op;
  const auto r = process::Runner().run(cmd);
  if (r.exit_code == 0) return true;
  if (r.exit_code == 1) return false;
  const std::string why = last_line(r.err);
  throw Error(ErrorCode::BackendFailure,
              "qemu-img could not compare two disks" + (why.empty() ? std::string() : ": " + why),
              op, r.err);
}

}  // namespace hyperctl::qemu_img
