// Calls to operations a backend does not declare. The arguments name things
// that do not exist, so that a backend that implements the operation anyway
// answers (NotFound, InvalidArgument...) instead of changing anything; what
// such a call made despite that is removed again.
#include <fstream>

#include "suite.hpp"

namespace hyperctl::conformance::detail {

void call_with_harmless_arguments(Case& c, Operation op) {
  const std::string missing = c.name_for("missing");
  VmOps& vms = c.vms();
  SnapshotOps& snaps = c.snapshots();
  StorageOps& st = c.storage();
  NetworkOps& nets = c.networks();
  auto remove_vm_later = [&c](const std::string& name) {
    c.on_cleanup("delete VM " + name, [&c, name] {
      c.vms().remove(name, DeleteOptions{true, true, true});
    });
  };
  switch (op) {
    case Operation::VmList:
      vms.list({});
      return;
    case Operation::VmGet:
      vms.get(missing);
      return;
    case Operation::VmCreate: {
      VmSpec spec;
      spec.name = c.name_for();
      spec.memory_bytes = 64 * kMiB;
      vms.create(spec);
      remove_vm_later(spec.name);
      return;
    }
    case Operation::VmDefine:
      vms.define("");
      return;
    case Operation::VmStart:
      vms.start(missing);
      return;
    case Operation::VmShutdown:
      vms.shutdown(missing, {}, {}, CancelToken{});
      return;
    case Operation::VmPowerOff:
      vms.power_off(missing);
      return;
    case Operation::VmReboot:
      vms.reboot(missing);
      return;
    case Operation::VmReset:
      vms.reset(missing);
      return;
    case Operation::VmSuspend:
      vms.suspend(missing);
      return;
    case Operation::VmResume:
      vms.resume(missing);
      return;
    case Operation::VmSave:
      vms.save(missing);
      return;
    case Operation::VmDelete:
      vms.remove(missing, DeleteOptions{false, false});
      return;
    case Operation::VmDeleteWithStorage:
      vms.remove(missing, DeleteOptions{true, false});
      return;
    case Operation::VmSetResources: {
      ResourceSettings s;
      s.vcpus = 1;
      vms.set_resources(missing, s);
      return;
    }
    case Operation::VmAutostart:
      vms.set_autostart(missing, false);
      return;
    case Operation::VmSetProperty:
      vms.set_property(missing, "hyperctl-conformance-key", "1");
      return;
    case Operation::VmExportConfig:
      vms.export_config(missing);
      return;

    case Operation::SnapshotList:
      snaps.list(missing);
      return;
    case Operation::SnapshotCreate:
      snaps.create(missing, SnapshotSpec{"conf-snapshot", "", false});
      return;
    case Operation::SnapshotRevert:
      snaps.revert(missing, "conf-snapshot");
      return;
    case Operation::SnapshotDelete:
      snaps.remove(missing, "conf-snapshot", false);
      return;

    case Operation::PoolList:
      st.list_pools();
      return;
    case Operation::PoolInfo:
      st.get_pool(missing);
      return;
    case Operation::PoolCreate: {
      const std::string name = c.name_for();
      st.create_pool(name, (c.temp_dir() / name).string());
      c.on_cleanup("delete pool " + name, [&c, name] { c.storage().remove_pool(name); });
      return;
    }
    case Operation::PoolStart:
      st.start_pool(missing);
      return;
    case Operation::PoolStop:
      st.stop_pool(missing);
      return;
    case Operation::PoolRefresh:
      st.refresh_pool(missing);
      return;
    case Operation::PoolDelete:
      st.remove_pool(missing);
      return;
    case Operation::VolumeList:
      st.list_volumes(missing);
      return;
    case Operation::VolumeInfo:
      st.get_volume(missing, missing);
      return;
    case Operation::VolumeCreate:
      st.create_volume(VolumeSpec{missing, missing, "", 1 * kMiB});
      return;
    case Operation::VolumeDelete:
      st.remove_volume(missing, missing);
      return;
    case Operation::VolumeResize:
      st.resize_volume(missing, missing, 1 * kMiB);
      return;
    case Operation::VolumeClone:
      st.clone_volume(missing, missing, VolumeSpec{c.name_for("clone"), missing, "", 0});
      return;
    case Operation::VolumeUpload: {
      const auto file = c.temp_dir() / "upload.img";
      std::ofstream(file, std::ios::binary) << "hyperctl";
      st.upload_volume(missing, missing, file.string(), {}, {}, CancelToken{});
      return;
    }
    case Operation::VolumeDownload:
      st.download_volume(missing, missing, (c.temp_dir() / "download.img").string(), {}, {},
                         CancelToken{});
      return;

    case Operation::NetworkList:
      nets.list();
      return;
    case Operation::NetworkInfo:
      nets.get(missing);
      return;
    case Operation::NetworkStart:
      nets.start(missing);
      return;
    case Operation::NetworkStop:
      nets.stop(missing);
      return;

    // The connection itself is the target: nothing can move anywhere.
    case Operation::MigratePreflight:
      c.conn().migration().preflight(missing, c.conn(), {});
      return;
    case Operation::MigrateLive:
    case Operation::MigrateOffline: {
      MigrationOptions o;
      o.mode = op == Operation::MigrateLive ? MigrationMode::Live : MigrationMode::Offline;
      c.conn().migration().migrate(missing, c.conn(), o, {}, CancelToken{});
      return;
    }
    case Operation::MigrateCross:
      c.conn().vms().describe(missing);
      return;
    case Operation::HostInfo:
      c.conn().host().info();
      return;
    case Operation::HostShutdown:
      // Undeclared, so it must refuse; a backend that obeyed would be the
      // very bug this check exists for.
      c.conn().host().shutdown(false);
      return;
  }
}

}  // namespace hyperctl::conformance::detail
