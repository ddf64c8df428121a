#include "qemu_img.hpp"

#include <algorithm>
#include <chrono>
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
      end = std::max(
          end, extent.at("start").get<std::uint64_t>() + extent.at("length").get<std::uint64_t>());
    }
    return end;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace hyperctl::lv
