// Storage pools and volumes: bulk listing only, for now (networks: network_ops.cpp).
#include "errors.hpp"
#include "ops.hpp"
#include "xml.hpp"

namespace hyperctl::lv {

std::vector<Pool> LibvirtStorageOps::list_pools() {
  return guarded("pool.list", [&] {
    const std::string op = "pool.list";
    virStoragePoolPtr* raw = nullptr;
    int n = virConnectListAllStoragePools(s_.get(), &raw, 0);
    if (n < 0) fail(s_.get(), "cannot list the storage pools of " + s_.uri.raw, op);
    std::vector<Pool> out;
    for (auto& pool : adopt_array<PoolPtr>(raw, n)) {
      Pool p;
      p.name = virStoragePoolGetName(pool.get());
      char uuid[VIR_UUID_STRING_BUFLEN] = {};
      if (virStoragePoolGetUUIDString(pool.get(), uuid) == 0) p.id = uuid;
      p.active = virStoragePoolIsActive(pool.get()) == 1;
      int autostart = 0;
      if (virStoragePoolGetAutostart(pool.get(), &autostart) == 0) p.autostart = autostart != 0;
      virStoragePoolInfo info;
      if (virStoragePoolGetInfo(pool.get(), &info) == 0) {
        p.capacity_bytes = info.capacity;
        p.allocation_bytes = info.allocation;
        p.available_bytes = info.available;
      }
      CString xml(virStoragePoolGetXMLDesc(pool.get(), 0));
      if (!xml) fail(s_.get(), "cannot read storage pool " + quoted(p.name), op);
      auto doc = XmlDoc::parse(xml.get(), "a storage pool description");
      p.type = doc.value("/pool/@type");
      p.path = doc.value("/pool/target/path");
      take_last_error(s_.get());
      out.push_back(std::move(p));
    }
    return out;
  });
}

std::vector<Volume> LibvirtStorageOps::list_volumes(const std::string& pool_name) {
  return guarded("volume.list", [&] {
    const std::string op = "volume.list";
    PoolPtr pool(virStoragePoolLookupByName(s_.get(), pool_name.c_str()));
    if (!pool) {
      auto e = take_last_error(s_.get());
      if (e.code == VIR_ERR_NO_STORAGE_POOL)
        throw Error(ErrorCode::NotFound,
                    "storage pool " + quoted(pool_name) + " not found on " + s_.uri.raw, op,
                    e.detail());
      fail(e, "cannot look up storage pool " + quoted(pool_name), op);
    }
    if (virStoragePoolIsActive(pool.get()) != 1)
      throw Error(ErrorCode::Conflict, "storage pool " + quoted(pool_name) + " is not active", op);
    virStorageVolPtr* raw = nullptr;
    int n = virStoragePoolListAllVolumes(pool.get(), &raw, 0);
    if (n < 0) fail(s_.get(), "cannot list the volumes of pool " + quoted(pool_name), op);
    std::vector<Volume> out;
    for (auto& vol : adopt_array<VolPtr>(raw, n)) {
      Volume v;
      v.name = virStorageVolGetName(vol.get());
      v.pool = pool_name;
      CString path(virStorageVolGetPath(vol.get()));
      if (path) v.path = path.get();
      virStorageVolInfo info;
      if (virStorageVolGetInfo(vol.get(), &info) == 0) {
        v.capacity_bytes = info.capacity;
        v.allocation_bytes = info.allocation;
      }
      CString xml(virStorageVolGetXMLDesc(vol.get(), 0));
      if (xml)
        v.format =
            XmlDoc::parse(xml.get(), "a volume description").value("/volume/target/format/@type");
      take_last_error(s_.get());
      out.push_back(std::move(v));
    }
    return out;
  });
}

}  // namespace hyperctl::lv
