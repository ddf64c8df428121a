// Scenarios of the declared network, host and migration operations. A
// network is stopped only to be started again (or started only to be
// stopped again), and never while VMs are attached to it.
#include <fstream>
#include <iterator>
#include <random>

#include "suite.hpp"

namespace hyperctl::conformance::detail {

namespace {

bool listed(Case& c, const std::string& net) {
  for (const auto& n : c.networks().list())
    if (n.name == net) return true;
  return false;
}

/// A network it is safe to stop and start: nothing attached.
std::string idle_network(Case& c) {
  const std::string net = c.network();
  if (c.declared(Operation::NetworkInfo)) {
    const Network n = c.networks().get(net);
    if (!n.vms.empty())
      c.skip("network " + net + " has VMs attached (" + n.vms.front() + "...): not touching it");
  }
  return net;
}

void network_list(Case& c) {
  const auto all = c.networks().list();
  for (const auto& n : all) {
    EXPECT_FALSE(n.name.empty()) << "a listed network has no name";
  }
  if (!c.config().network.empty()) {
    EXPECT_TRUE(listed(c, c.config().network))
        << "network " << c.config().network << " is not listed";
  }
}

void network_info(Case& c) {
  const std::string net = c.network();
  const Network n = c.networks().get(net);
  EXPECT_EQ(n.name, net);
  if (c.declared(Operation::NetworkList)) {
    for (const auto& l : c.networks().list())
      if (l.name == net) {
        EXPECT_EQ(l.active, n.active) << "list and info agree";
      }
  }
  try {
    c.networks().get(c.name_for("missing"));
    ADD_FAILURE() << "network.info of a missing network succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
  }
}

void network_start(Case& c) {
  c.need(Operation::NetworkStop, "to put the network back the way it was");
  const std::string net = idle_network(c);
  if (c.network_active(net)) {
    c.networks().stop(net);
    c.on_cleanup("start network " + net, [&c, net] {
      if (!c.network_active(net)) c.networks().start(net);
    });
    ASSERT_FALSE(c.network_active(net));
  } else {
    c.on_cleanup("stop network " + net, [&c, net] {
      if (c.network_active(net)) c.networks().stop(net);
    });
  }
  c.networks().start(net);
  EXPECT_TRUE(c.network_active(net));
}

void network_stop(Case& c) {
  c.need(Operation::NetworkStart, "to put the network back the way it was");
  const std::string net = idle_network(c);
  if (c.network_active(net)) {
    c.on_cleanup("start network " + net, [&c, net] {
      if (!c.network_active(net)) c.networks().start(net);
    });
  } else {
    c.networks().start(net);
    c.on_cleanup("stop network " + net, [&c, net] {
      if (c.network_active(net)) c.networks().stop(net);
    });
    ASSERT_TRUE(c.network_active(net));
  }
  c.networks().stop(net);
  EXPECT_FALSE(c.network_active(net));
}

void host_info(Case& c) {
  const HostInfo h = c.conn().host().info();
  EXPECT_FALSE(h.hostname.empty() && h.hypervisor.empty()) << "neither hostname nor hypervisor";
  EXPECT_GT(h.cpus, 0u) << "logical CPUs";
  EXPECT_GT(h.memory_total_bytes, 0u) << "total memory";
  EXPECT_LE(h.memory_free_bytes, h.memory_total_bytes);
}

void host_shutdown(Case& c) {
  if (!c.config().allow_host_shutdown)
    c.skip("host.shutdown stops the whole hypervisor; set Config::allow_host_shutdown to run it");
  c.conn().host().shutdown(false);
  if (!c.declared(Operation::VmList)) return;
  for (const VmInfo& vm : c.vms().list({}))
    EXPECT_TRUE(vm.state != VmState::Running && vm.state != VmState::Paused)
        << vm.name << " is still " << to_string(vm.state) << " after host.shutdown";
}

void migration(Case& c) {
  c.skip(c.op_name() + " needs a second host; the conformance suite runs against one URI");
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// migrate.cross: the backend's half of a migration between families, both
/// ways on one host: a disk imported from a local file (import_disk), a VM
/// made around it from a portable description (create_from), that VM
/// described again (describe) and its disk exported (export_disk). The
/// contract: the description keeps vCPUs, memory and the disk's capacity;
/// export_disk gives the format describe named, and the bytes imported; a
/// volume name in use is AlreadyExists.
void migrate_cross(Case& c) {
  c.need(Operation::VmDelete, "to remove the VM it makes");
  c.need(Operation::VolumeDelete, "to remove the volume it imports");
  const ImportFormat takes = c.storage().import_format("raw");
  if (takes.format != "raw")
    c.skip("the backend takes " + takes.format +
           " disks; converting raw to it needs qemu-img, which tests/migration covers");
  const std::uint64_t size = 1u << 20;
  const auto file = c.temp_dir() / "disk.raw";
  {
    std::mt19937_64 rng(7);
    std::string bytes(size, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng());
    std::ofstream(file, std::ios::binary) << bytes;
  }
  VolumeSpec spec;
  spec.pool = c.volume_pool();
  spec.name = c.name_for("disk") + takes.extension;
  spec.format = takes.format;
  spec.capacity_bytes = size;
  const Volume v = c.storage().import_disk(spec, file.string(), {}, {});
  c.on_cleanup("delete volume " + spec.pool + "/" + v.name,
               [&c, pool = spec.pool, name = v.name] { c.storage().remove_volume(pool, name); });
  EXPECT_EQ(v.pool, spec.pool);
  try {
    c.storage().import_disk(spec, file.string(), {}, {});
    ADD_FAILURE() << "importing into a volume name in use succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::AlreadyExists)
        << "importing into a volume name in use: " << e.what();
  }

  PortableVm p;
  p.name = c.name_for("vm");
  p.family = "elsewhere";  // a guest from another family: the backend's own device choice
  p.vcpus = 2;
  p.memory_bytes = 128u << 20;
  p.os_family = "linux";
  PortableDisk d;
  d.id = "disk0";
  d.bus = "virtio";
  d.format = "raw";
  d.capacity_bytes = size;
  p.disks.push_back(d);
  PortableCreate how;
  how.disks.push_back(v);
  const VmInfo made = c.vms().create_from(p, how);
  c.on_cleanup("delete VM " + p.name, [&c, name = p.name] {
    DeleteOptions o;
    o.force = true;
    c.vms().remove(VmRef(name), o);
  });
  EXPECT_EQ(made.name, p.name);
  EXPECT_EQ(made.vcpus, 2u);
  EXPECT_EQ(made.memory_bytes, p.memory_bytes);

  const PortableVm back = c.vms().describe(VmRef(p.name));
  EXPECT_EQ(back.name, p.name);
  EXPECT_EQ(back.family, c.backend_name());
  EXPECT_EQ(back.vcpus, 2u);
  EXPECT_EQ(back.memory_bytes, p.memory_bytes);
  EXPECT_TRUE(back.firmware == "bios" || back.firmware == "uefi") << back.firmware;
  ASSERT_EQ(back.disks.size(), 1u);
  EXPECT_EQ(back.disks[0].capacity_bytes, size);
  EXPECT_NE(back.disks[0].bus, "virtio") << "a guest from elsewhere got virtio disks";
  const auto out = c.temp_dir() / "export.raw";
  const std::string fmt =
      c.storage().export_disk(back.disks[0].pool, back.disks[0].volume, out.string(), {}, {});
  EXPECT_EQ(fmt, back.disks[0].format) << "export_disk's format is not the one describe named";
  EXPECT_EQ(fmt, "raw");
  EXPECT_TRUE(slurp(out) == slurp(file)) << "the exported disk is not the imported one";
}

}  // namespace

Scenario network_host_scenario(Operation op) {
  switch (op) {
    case Operation::NetworkList:
      return network_list;
    case Operation::NetworkInfo:
      return network_info;
    case Operation::NetworkStart:
      return network_start;
    case Operation::NetworkStop:
      return network_stop;
    case Operation::HostInfo:
      return host_info;
    case Operation::HostShutdown:
      return host_shutdown;
    case Operation::MigratePreflight:
    case Operation::MigrateLive:
    case Operation::MigrateOffline:
      return migration;
    case Operation::MigrateCross:
      return migrate_cross;
    default:
      return nullptr;
  }
}

}  // namespace hyperctl::conformance::detail
