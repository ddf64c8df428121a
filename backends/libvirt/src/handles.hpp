// RAII owners for everything libvirt hands out. Each pointer type frees
// itself with the matching libvirt call; nothing in the backend calls a
// *Free function by hand.
#pragma once

#include <libvirt/libvirt.h>

#include <cstdlib>
#include <memory>
#include <vector>

namespace hyperctl::lv {

template <auto FreeFn>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    if (p) FreeFn(p);
  }
};

using ConnPtr = std::unique_ptr<virConnect, Deleter<virConnectClose>>;
using DomPtr = std::unique_ptr<virDomain, Deleter<virDomainFree>>;
using PoolPtr = std::unique_ptr<virStoragePool, Deleter<virStoragePoolFree>>;
using VolPtr = std::unique_ptr<virStorageVol, Deleter<virStorageVolFree>>;
using NetPtr = std::unique_ptr<virNetwork, Deleter<virNetworkFree>>;
using SnapPtr = std::unique_ptr<virDomainSnapshot, Deleter<virDomainSnapshotFree>>;
/// A string libvirt allocated and the caller must free().
using CString = std::unique_ptr<char, Deleter<std::free>>;

/// virDomainStatsRecordPtr array from virConnectGetAllDomainStats.
struct StatsList {
  virDomainStatsRecordPtr* records = nullptr;
  int count = 0;
  StatsList() = default;
  StatsList(const StatsList&) = delete;
  StatsList& operator=(const StatsList&) = delete;
  ~StatsList() {
    if (records) virDomainStatsRecordListFree(records);
  }
};

/// Takes ownership of an array of objects returned by a virConnectListAll*
/// call: each element is wrapped, the array itself freed.
template <class Ptr, class Raw>
std::vector<Ptr> adopt_array(Raw* array, int count) {
  std::vector<Ptr> out;
  if (!array) return out;
  out.reserve(count > 0 ? static_cast<std::size_t>(count) : 0);
  for (int i = 0; i < count; ++i) out.emplace_back(array[i]);
  std::free(array);
  return out;
}

}  // namespace hyperctl::lv
