// Scenarios of the declared pool and volume operations: pools the suite
// creates under a temporary folder, volumes in Config::pool (or such a pool).
#include <fstream>
#include <iterator>

#include "suite.hpp"

namespace hyperctl::conformance::detail {

namespace {

bool pool_listed(Case& c, const std::string& pool) {
  for (const auto& p : c.storage().list_pools())
    if (p.name == pool) return true;
  return false;
}

bool volume_listed(Case& c, const std::string& pool, const std::string& name) {
  for (const auto& v : c.storage().list_volumes(pool))
    if (v.name == name) return true;
  return false;
}

void expect_code(const std::function<void()>& f, ErrorCode code, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << " succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << what << ": " << to_string(e.code()) << " (expected "
                              << to_string(code) << "): " << e.what();
  }
}

/// A pool this test may stop: one it creates.
std::string scratch_pool(Case& c) {
  return c.new_pool("");
}

void pool_list(Case& c) {
  const auto all = c.storage().list_pools();
  for (const auto& p : all) {
    EXPECT_FALSE(p.name.empty()) << "a listed pool has no name";
  }
  if (!c.config().pool.empty()) {
    EXPECT_TRUE(pool_listed(c, c.config().pool)) << "pool " << c.config().pool << " is not listed";
  }
  if (c.declared(Operation::PoolCreate) && c.declared(Operation::PoolDelete)) {
    const std::string made = c.new_pool("");
    EXPECT_TRUE(pool_listed(c, made)) << "the pool just made is not listed";
  }
}

void pool_info(Case& c) {
  std::string pool = c.config().pool;
  if (pool.empty()) {
    if (c.declared(Operation::PoolCreate) && c.declared(Operation::PoolDelete)) {
      pool = c.new_pool("");
    } else {
      c.need(Operation::PoolList, "to find a pool (Config::pool is empty)");
      const auto all = c.storage().list_pools();
      if (all.empty()) c.skip("no pool is listed on " + c.config().uri);
      pool = all.front().name;
    }
  }
  const Pool p = c.storage().get_pool(pool);
  EXPECT_EQ(p.name, pool);
  expect_code([&] { c.storage().get_pool(c.name_for("missing")); }, ErrorCode::NotFound,
              "pool.info of a missing pool");
}

void pool_create(Case& c) {
  const std::string name = c.name_for();
  if (c.declared(Operation::PoolList)) {
    ASSERT_FALSE(pool_listed(c, name));
  }
  const std::string pool = c.new_pool("");
  EXPECT_TRUE(c.pool_active(pool)) << "a new pool is started";
  if (c.declared(Operation::PoolList)) {
    EXPECT_TRUE(pool_listed(c, pool));
  }
  expect_code([&] { c.storage().create_pool(pool, (c.temp_dir() / "again").string()); },
              ErrorCode::AlreadyExists, "a second pool named " + pool);
}

void pool_start(Case& c) {
  c.need(Operation::PoolStop, "to stop the pool it then starts");
  const std::string pool = scratch_pool(c);
  c.storage().stop_pool(pool);
  ASSERT_FALSE(c.pool_active(pool));
  c.storage().start_pool(pool);
  EXPECT_TRUE(c.pool_active(pool));
}

void pool_stop(Case& c) {
  const std::string pool = scratch_pool(c);
  ASSERT_TRUE(c.pool_active(pool));
  c.storage().stop_pool(pool);
  EXPECT_FALSE(c.pool_active(pool));
}

void pool_refresh(Case& c) {
  const std::string pool = c.declared(Operation::PoolCreate) && c.declared(Operation::PoolDelete)
                               ? scratch_pool(c)
                               : c.volume_pool();
  std::vector<std::string> before;
  if (c.declared(Operation::VolumeList))
    for (const auto& v : c.storage().list_volumes(pool)) before.push_back(v.name);
  c.storage().refresh_pool(pool);
  EXPECT_TRUE(c.pool_active(pool));
  if (c.declared(Operation::VolumeList)) {
    std::vector<std::string> after;
    for (const auto& v : c.storage().list_volumes(pool)) after.push_back(v.name);
    EXPECT_EQ(after, before) << "nothing changed behind the pool's back";
  }
  expect_code([&] { c.storage().refresh_pool(c.name_for("missing")); }, ErrorCode::NotFound,
              "pool.refresh of a missing pool");
}

void pool_delete(Case& c) {
  c.need(Operation::PoolCreate, "to make the pool it deletes");
  const std::string pool = c.new_pool("");
  c.storage().remove_pool(pool);
  if (c.declared(Operation::PoolList)) {
    EXPECT_FALSE(pool_listed(c, pool));
  }
  if (c.declared(Operation::PoolInfo))
    expect_code([&] { c.storage().get_pool(pool); }, ErrorCode::NotFound, "pool.info after delete");
}

void volume_list(Case& c) {
  const std::string pool = c.volume_pool();
  for (const auto& v : c.storage().list_volumes(pool)) {
    EXPECT_FALSE(v.name.empty()) << "a listed volume has no name";
    EXPECT_EQ(v.pool, pool) << v.name;
  }
  if (c.declared(Operation::VolumeCreate) && c.declared(Operation::VolumeDelete)) {
    const Volume v = c.new_volume("", 1 * kMiB, "");
    EXPECT_TRUE(volume_listed(c, pool, v.name)) << "the volume just made is not listed";
  }
  expect_code([&] { c.storage().list_volumes(c.name_for("missing")); }, ErrorCode::NotFound,
              "volume.list of a missing pool");
}

void volume_info(Case& c) {
  const std::string pool = c.volume_pool();
  std::string name;
  std::uint64_t capacity = 0;
  if (c.declared(Operation::VolumeCreate) && c.declared(Operation::VolumeDelete)) {
    const Volume v = c.new_volume("", 2 * kMiB, "");
    name = v.name;
    capacity = 2 * kMiB;
  } else {
    c.need(Operation::VolumeList, "(or volume.create) to find a volume");
    const auto all = c.storage().list_volumes(pool);
    if (all.empty()) c.skip("pool " + pool + " has no volume");
    name = all.front().name;
  }
  const Volume v = c.storage().get_volume(pool, name);
  EXPECT_EQ(v.name, name);
  EXPECT_EQ(v.pool, pool);
  if (capacity) {
    EXPECT_EQ(v.capacity_bytes, capacity);
    EXPECT_TRUE(v.used_by.empty()) << "nothing uses a new volume";
  }
  expect_code([&] { c.storage().get_volume(pool, c.name_for("missing")); }, ErrorCode::NotFound,
              "volume.info of a missing volume");
}

void volume_create(Case& c) {
  const Volume v = c.new_volume("", 1 * kMiB, "");
  EXPECT_EQ(v.capacity_bytes, 1 * kMiB);
  EXPECT_EQ(v.pool, c.volume_pool());
  if (c.declared(Operation::VolumeList)) {
    EXPECT_TRUE(volume_listed(c, v.pool, v.name));
  }
  VolumeSpec again;
  again.pool = v.pool;
  again.name = v.name;
  again.capacity_bytes = 1 * kMiB;
  expect_code([&] { c.storage().create_volume(again); }, ErrorCode::AlreadyExists,
              "a second volume named " + v.name);
}

void volume_delete(Case& c) {
  const Volume v = c.new_volume("", 1 * kMiB, "");
  c.storage().remove_volume(v.pool, v.name);
  if (c.declared(Operation::VolumeList)) {
    EXPECT_FALSE(volume_listed(c, v.pool, v.name));
  }
  if (c.declared(Operation::VolumeInfo))
    expect_code([&] { c.storage().get_volume(v.pool, v.name); }, ErrorCode::NotFound,
                "volume.info after delete");
}

void volume_resize(Case& c) {
  const Volume v = c.new_volume("", 1 * kMiB, "raw");
  const Volume grown = c.storage().resize_volume(v.pool, v.name, 2 * kMiB);
  EXPECT_EQ(grown.capacity_bytes, 2 * kMiB);
  if (c.declared(Operation::VolumeInfo)) {
    EXPECT_EQ(c.storage().get_volume(v.pool, v.name).capacity_bytes, 2 * kMiB);
  }
}

void volume_clone(Case& c) {
  const Volume v = c.new_volume("", 1 * kMiB, "");
  VolumeSpec target;
  target.pool = v.pool;
  target.name = c.name_for("clone");
  c.on_cleanup("delete volume " + target.pool + "/" + target.name,
               [&c, target] { c.storage().remove_volume(target.pool, target.name); });
  const Volume copy = c.storage().clone_volume(v.pool, v.name, target);
  EXPECT_EQ(copy.name, target.name);
  EXPECT_EQ(copy.capacity_bytes, v.capacity_bytes);
  if (c.declared(Operation::VolumeList)) {
    EXPECT_TRUE(volume_listed(c, v.pool, target.name)) << "the clone is listed";
    EXPECT_TRUE(volume_listed(c, v.pool, v.name)) << "the source stays";
  }
}

/// 1 MiB that is not all zeros.
std::string pattern() {
  std::string data(1 * kMiB, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 31 + 7) % 251);
  return data;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void volume_upload(Case& c) {
  const Volume v = c.new_volume("", 1 * kMiB, "raw");
  const auto in = c.temp_dir() / "upload.img";
  const std::string data = pattern();
  std::ofstream(in, std::ios::binary) << data;
  TransferOptions overwrite;
  overwrite.overwrite = true;
  c.storage().upload_volume(v.pool, v.name, in.string(), overwrite, {}, CancelToken{});
  if (c.declared(Operation::VolumeDownload)) {
    const auto out = c.temp_dir() / "back.img";
    c.storage().download_volume(v.pool, v.name, out.string(), {}, {}, CancelToken{});
    EXPECT_TRUE(read_file(out) == data) << "the volume does not hold what was uploaded";
  } else if (c.declared(Operation::VolumeInfo)) {
    EXPECT_GE(c.storage().get_volume(v.pool, v.name).capacity_bytes, data.size());
  }
}

void volume_download(Case& c) {
  const Volume v = c.new_volume("", 1 * kMiB, "raw");
  const auto out = c.temp_dir() / "download.img";
  c.storage().download_volume(v.pool, v.name, out.string(), {}, {}, CancelToken{});
  const std::string got = read_file(out);
  EXPECT_EQ(got.size(), 1 * kMiB) << "a raw volume of 1 MiB";
  EXPECT_EQ(got.find_first_not_of('\0'), std::string::npos) << "a new raw volume holds zeros";
  // An existing file is kept without TransferOptions::overwrite: a target
  // that exists is AlreadyExists, as for every other operation.
  expect_code(
      [&] { c.storage().download_volume(v.pool, v.name, out.string(), {}, {}, CancelToken{}); },
      ErrorCode::AlreadyExists, "a download over an existing file");
  EXPECT_EQ(read_file(out), got) << "the refused download changed the file";
}

}  // namespace

Scenario storage_scenario(Operation op) {
  switch (op) {
    case Operation::PoolList:
      return pool_list;
    case Operation::PoolInfo:
      return pool_info;
    case Operation::PoolCreate:
      return pool_create;
    case Operation::PoolStart:
      return pool_start;
    case Operation::PoolStop:
      return pool_stop;
    case Operation::PoolRefresh:
      return pool_refresh;
    case Operation::PoolDelete:
      return pool_delete;
    case Operation::VolumeList:
      return volume_list;
    case Operation::VolumeInfo:
      return volume_info;
    case Operation::VolumeCreate:
      return volume_create;
    case Operation::VolumeDelete:
      return volume_delete;
    case Operation::VolumeResize:
      return volume_resize;
    case Operation::VolumeClone:
      return volume_clone;
    case Operation::VolumeUpload:
      return volume_upload;
    case Operation::VolumeDownload:
      return volume_download;
    default:
      return nullptr;
  }
}

}  // namespace hyperctl::conformance::detail
