// Hyper-V virtual switches as the core's networks.
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <array>

#include "hyperctl/escape.hpp"
#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {
namespace {

struct SwitchTypeRow {
  int number;
  std::string_view word;
  std::string_view forward_mode;
};

// Microsoft.HyperV.PowerShell.VMSwitchType.
constexpr std::array kSwitchTypes = {
    SwitchTypeRow{0, "Private", "private"},
    SwitchTypeRow{1, "Internal", "internal"},
    SwitchTypeRow{2, "External", "external"},
};

std::string forward_mode(const nlohmann::json& type) {
  for (const auto& row : kSwitchTypes)
    if ((type.is_number_integer() && type.get<int>() == row.number) ||
        (type.is_string() && type.get<std::string>() == row.word))
      return std::string(row.forward_mode);
  return type.is_string() ? type.get<std::string>() : type.is_null() ? "" : type.dump();
}

}  // namespace

Network network_of(const nlohmann::json& record) {
  const nlohmann::json& s = object_record(record, "a switch record");
  Network n;
  n.name = text_field(s, "Name");
  n.id = text_field(s, "Id");
  n.active = true;  // a switch exists as long as its host runs
  n.forward_mode = forward_mode(s.value("SwitchType", nlohmann::json()));
  n.bridge = text_field(s, "NetAdapterInterfaceDescription");
  return n;
}

namespace {

nlohmann::json switches(HypervConnection& c) {
  const auto result = c.ps().run("network.list", nlohmann::json::object());
  const auto items = result.value("switches", nlohmann::json::array());
  return items.is_array() ? items : nlohmann::json::array();
}

}  // namespace

std::vector<Network> HypervNetworkOps::list() {
  return guarded("network.list", [&] {
    std::vector<Network> out;
    for (const auto& s : switches(c_)) out.push_back(network_of(s));
    return out;
  });
}

Network HypervNetworkOps::get(const std::string& name) {
  const std::string op = "network.info";
  return guarded(op, [&] {
    std::vector<Network> found;
    for (const auto& s : switches(c_))
      if (text_field(s, "Name") == name ||
          (!guid_key(name).empty() && guid_key(text_field(s, "Id")) == guid_key(name)))
        found.push_back(network_of(s));
    if (found.empty())
      throw Error(
          ErrorCode::NotFound,
          "no virtual switch " + quoted(name) + " on " + escape::terminal_text(c_.host_name()), op);
    if (found.size() > 1)
      throw Error(ErrorCode::Conflict,
                  std::to_string(found.size()) + " virtual switches are named " + quoted(name) +
                      "; name one by its Id",
                  op);
    Network n = found.front();
    for (const auto& vm : c_.vms().list({}))
      for (const auto& nic : vm.nics)
        if (nic.network == n.name) {
          n.vms.push_back(vm.name);
          break;
        }
    return n;
  });
}

}  // namespace hyperctl::hyperv
