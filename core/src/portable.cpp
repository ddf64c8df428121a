// The portable VM description's JSON form (journals of migrations between
// families keep the description the check made).
#include "hyperctl/portable.hpp"

#include <nlohmann/json.hpp>

#include "hyperctl/error.hpp"

namespace hyperctl {
namespace {

using json = nlohmann::json;

constexpr const char* kSchema = "hyperctl.portable-vm/1";

}  // namespace

std::string portable_to_json(const PortableVm& vm) {
  json disks = json::array();
  for (const auto& d : vm.disks)
    disks.push_back({{"id", d.id},
                     {"bus", d.bus},
                     {"format", d.format},
                     {"capacity_bytes", d.capacity_bytes},
                     {"allocation_bytes", d.allocation_bytes},
                     {"pool", d.pool},
                     {"volume", d.volume},
                     {"path", d.path}});
  json nics = json::array();
  for (const auto& n : vm.nics)
    nics.push_back({{"mac", n.mac}, {"network", n.network}, {"model", n.model}});
  const json doc = {{"schema", kSchema},
                    {"name", vm.name},
                    {"id", vm.id},
                    {"family", vm.family},
                    {"vcpus", vm.vcpus},
                    {"memory_bytes", vm.memory_bytes},
                    {"firmware", vm.firmware},
                    {"guest_os", vm.guest_os},
                    {"os_family", vm.os_family},
                    {"disks", disks},
                    {"nics", nics},
                    {"left_out", vm.left_out}};
  // Names are data: any byte sequence survives (invalid UTF-8 escaped).
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

PortableVm portable_from_json(const std::string& text) {
  try {
    const json doc = json::parse(text);
    if (!doc.is_object() || doc.value("schema", "") != kSchema)
      throw Error(ErrorCode::InvalidArgument, "not a portable VM description");
    PortableVm vm;
    vm.name = doc.at("name").get<std::string>();
    vm.id = doc.at("id").get<std::string>();
    vm.family = doc.at("family").get<std::string>();
    vm.vcpus = doc.at("vcpus").get<unsigned>();
    vm.memory_bytes = doc.at("memory_bytes").get<std::uint64_t>();
    vm.firmware = doc.at("firmware").get<std::string>();
    vm.guest_os = doc.at("guest_os").get<std::string>();
    vm.os_family = doc.at("os_family").get<std::string>();
    for (const auto& d : doc.at("disks")) {
      PortableDisk p;
      p.id = d.at("id").get<std::string>();
      p.bus = d.at("bus").get<std::string>();
      p.format = d.at("format").get<std::string>();
      p.capacity_bytes = d.at("capacity_bytes").get<std::uint64_t>();
      p.allocation_bytes = d.at("allocation_bytes").get<std::uint64_t>();
      p.pool = d.at("pool").get<std::string>();
      p.volume = d.at("volume").get<std::string>();
      p.path = d.at("path").get<std::string>();
      vm.disks.push_back(std::move(p));
    }
    for (const auto& n : doc.at("nics"))
      vm.nics.push_back(PortableNic{n.at("mac").get<std::string>(),
                                    n.at("network").get<std::string>(),
                                    n.at("model").get<std::string>()});
    vm.left_out = doc.at("left_out").get<std::vector<std::string>>();
    return vm;
  } catch (const json::exception& e) {
    throw Error(ErrorCode::InvalidArgument,
                std::string("damaged portable VM description: ") + e.what());
  }
}

}  // namespace hyperctl
