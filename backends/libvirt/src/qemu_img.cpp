#include "qemu_img.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

#include "hyperctl/error.hpp"
#include "hyperctl/process.hpp"

namespace hyperctl::lv {

std::optional<std::uint64_t> qemu_img_data_end(const std::string& path, const std::string& format,
                                               const std::string& op) {
  process::Command cmd;
  // -U: a VM may hold the image open; -f: never let qemu-img guess a format.
  cmd.argv = {"qemu-img", "map", "--output=json", "-U", "-f", format, path};
  cmd.timeout = std::chrono::minutes(1);
  cmd.operation = op;
  try {
    const auto result = process::Runner().run(cmd);
    if (!result.ok()) return std::nullopt;
    return map_data_end(result.out);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<std::uint64_t> map_data_end(const std::string& json) {
  try {
    std::uint64_t end = 0;
    for (const auto& extent : nlohmann::json::parse(json)) {
      if (!extent.value("data", false)) continue;
      // Offsets are non-negative integers: get<> would wrap a negative one
      // and truncate (or overflow on) a fractional one.
      const auto& start = extent.at("start");
      const auto& length = extent.at("length");
      if (!start.is_number_unsigned() || !length.is_number_unsigned()) return std::nullopt;
      const auto s = start.get<std::uint64_t>(), n = length.get<std::uint64_t>();
      if (n > std::numeric_limits<std::uint64_t>::max() - s) return std::nullopt;
      end = std::max(end, s + n);
    }
    return end;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace hyperctl::lv
