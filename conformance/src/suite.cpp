// register_tests(), the fixture and the building blocks of the scenarios.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "hyperctl/backend.hpp"
#include "hyperctl/conformance.hpp"
#include "hyperctl/uri.hpp"
#include "suite.hpp"

namespace hyperctl::conformance {

namespace detail {

std::string name_of(Operation op) {
  return std::string(to_string(op));
}

namespace {

/// "vm.delete-storage" -> "vm_delete_storage"; anything not alphanumeric -> '_'.
std::string identifier(const std::string& text) {
  std::string out = text;
  for (char& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return out.empty() ? "backend" : out;
}

std::string slug(const std::string& op) {
  std::string out = op;
  std::replace(out.begin(), out.end(), '.', '-');
  return out;
}

std::string state_name(VmState s) {
  return std::string(to_string(s));
}

}  // namespace

// ------------------------------------------------------------ the registry

Backend* Shared::load() {
  if (tried) return backend;
  tried = true;
  try {
    registry = std::make_unique<Registry>(config.plugin_dirs);
    backend = &registry->backend_for(Uri::parse(config.uri).scheme);
  } catch (const Error& e) {
    load_error = e.what();
    backend = nullptr;
  }
  return backend;
}

// -------------------------------------------------------------- the fixture

std::string Case::op_name() const {
  if (rule_) return std::string("rule.") + rule_->name;
  return op_ ? name_of(*op_) : "registry";
}

void Case::SetUp() {
  if (!config().skip_reason.empty()) GTEST_SKIP() << config().skip_reason;
  if (op_ || rule_) {
    const auto gap = config().test_bed_gaps.find(op_name());
    if (gap != config().test_bed_gaps.end())
      GTEST_SKIP() << "the test bed cannot show " << gap->first << ": " << gap->second;
  }
  Backend* b = shared_->load();
  ASSERT_NE(b, nullptr) << "no backend for " << config().uri << ": " << shared_->load_error;
  try {
    caps_ = b->capabilities();
    backend_name_ = b->name();
  } catch (const std::exception& e) {
    FAIL() << "the backend cannot describe itself: " << e.what();
  }
  try {
    conn_ = shared_->registry->open(config().uri, config().connect_options);
  } catch (const Error& e) {
    // A test bed that is not there (no daemon, no credentials) is not a
    // defect of the backend; anything else is.
    if (e.code() == ErrorCode::Unreachable || e.code() == ErrorCode::AuthFailed ||
        e.code() == ErrorCode::Timeout)
      GTEST_SKIP() << "cannot connect to " << config().uri << ": " << e.what();
    FAIL() << "cannot connect to " << config().uri << " (" << to_string(e.code())
           << "): " << e.what();
  }
}

void Case::TearDown() {
  for (auto it = cleanups_.rbegin(); it != cleanups_.rend(); ++it) {
    try {
      it->second();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound)
        ADD_FAILURE() << "cleanup (" << it->first << ") failed: " << e.what();
    } catch (const Skip& s) {
      ADD_FAILURE() << "cleanup (" << it->first << ") could not run: " << s.reason;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup (" << it->first << ") failed: " << e.what();
    }
  }
  cleanups_.clear();
  conn_.reset();
  if (!temp_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_, ec);
  }
}

void Case::TestBody() {
  try {
    if (rule_)
      rule_->check(*this);
    else if (!op_)
      check_registry();
    else if (!declared(*op_))
      check_undeclared(*op_);
    else if (auto s = vm_scenario(*op_))
      s(*this);
    else if (auto s2 = snapshot_scenario(*op_))
      s2(*this);
    else if (auto s3 = storage_scenario(*op_))
      s3(*this);
    else if (auto s4 = network_host_scenario(*op_))
      s4(*this);
    else
      FAIL() << "the conformance suite has no scenario for " << op_name();
  } catch (const Skip& s) {
    GTEST_SKIP() << s.reason;
  } catch (const Error& e) {
    report(e);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a foreign exception escaped the " << backend_name_
                  << " backend (plugins must throw hyperctl::Error): " << e.what();
  }
}

// An Error a scenario did not expect. Unsupported from a declared operation
// is a failure when it is the core's default sentence (declared, never
// implemented) and a skip when the backend says why this connection cannot.
void Case::report(const Error& e) {
  if (e.code() == ErrorCode::Unsupported) {
    const auto op = parse_operation(e.operation());
    const bool core_default = op && std::string(e.what()) == "the " + backend_name_ +
                                                                 " backend does not support " +
                                                                 e.operation();
    if (core_default && declared(*op)) {
      ADD_FAILURE() << backend_name_ << " declares " << e.operation()
                    << " but does not implement it (the core's default answered): " << e.what();
      return;
    }
    if (!core_default) {
      GTEST_SKIP() << "declared, but this connection (" << config().uri << ") cannot: " << e.what();
    }
  }
  ADD_FAILURE() << "unexpected error (" << to_string(e.code()) << ") from "
                << (e.operation().empty() ? "?" : e.operation()) << ": " << e.what()
                << (e.detail().empty() ? "" : "\ndetail: " + e.detail());
}

void Case::need(Operation op, const std::string& what_for) const {
  if (!declared(op))
    skip("needs " + name_of(op) + " " + what_for + ", which the " + backend_name_ +
         " backend does not declare");
}

void Case::on_cleanup(std::string what, std::function<void()> undo) {
  cleanups_.emplace_back(std::move(what), std::move(undo));
}

std::string Case::name_for(const std::string& what) const {
  return "hyperctl-test-conf-" + slug(op_name()) + (what.empty() ? "" : "-" + what) + "-" +
         std::to_string(::getpid());
}

std::filesystem::path Case::temp_dir() {
  if (temp_.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hyperctl-conf-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) skip("cannot make a temporary folder");
    temp_ = tmpl;
  }
  return temp_;
}

// -------------------------------------------------------------------- VMs

std::string Case::new_vm(const std::string& what, bool with_disk) {
  need(Operation::VmCreate, "to make a VM");
  const bool storage = with_disk && declared(Operation::VmDeleteWithStorage);
  if (!storage) need(Operation::VmDelete, "to remove the VM it creates");
  VmSpec spec;
  if (config().vm_spec) {
    spec = *config().vm_spec;
    spec.name = name_for(what);
  } else {
    spec.name = name_for(what);
    spec.vcpus = 1;
    spec.memory_bytes = 64 * kMiB;
  }
  if (storage && spec.disks.empty()) {
    DiskSpec disk;
    disk.size_bytes = 16 * kMiB;
    disk.pool = config().pool;
    spec.disks.push_back(disk);
  }
  const VmInfo info = vms().create(spec);
  on_cleanup("delete VM " + spec.name, [this, name = spec.name, storage] {
    vms().remove(name, DeleteOptions{storage, true, true});
  });
  EXPECT_EQ(info.name, spec.name);
  return spec.name;
}

std::string Case::vm(bool with_disk) {
  if (declared(Operation::VmCreate) &&
      (declared(Operation::VmDelete) || declared(Operation::VmDeleteWithStorage)))
    return new_vm("vm" + std::to_string(++serial_), with_disk);
  const std::string& name = config().existing_vm;
  if (name.empty())
    skip("needs a VM: the " + backend_name_ +
         " backend cannot both create (vm.create) and delete (vm.delete) one, and "
         "Config::existing_vm is empty");
  // Put the VM back the way it was, once the scenario's own cleanups ran.
  const VmInfo before = vm_info(name);
  on_cleanup("restore VM " + name, [this, name, before] {
    if (before.state == VmState::Running || before.state == VmState::Off ||
        before.state == VmState::Paused || before.state == VmState::Suspended)
      bring_to(name, before.state);
  });
  return name;
}

VmInfo Case::vm_info(const std::string& vm) {
  if (declared(Operation::VmGet)) return vms().get(vm);
  need(Operation::VmList, "(or vm.get) to read a VM's state");
  for (auto& info : vms().list({}))
    if (info.name == vm || info.id == vm) return info;
  throw Error(ErrorCode::NotFound, "VM '" + vm + "' is not listed", "vm.list");
}

VmState Case::state_of(const std::string& vm) {
  return vm_info(vm).state;
}

void Case::bring_to(const std::string& vm, VmState target) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int step = 0; step < 6; ++step) {
    VmState now = state_of(vm);
    while (now == VmState::Transitional && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      now = state_of(vm);
    }
    if (now == target) return;
    const std::string why = "to bring the VM from " + state_name(now) + " to " + state_name(target);
    switch (now) {
      case VmState::Off:
      case VmState::Suspended:  // start restores it; off is one more step
      case VmState::Crashed:
        need(Operation::VmStart, why);
        vms().start(vm);
        break;
      case VmState::Running:
        if (target == VmState::Paused) {
          need(Operation::VmSuspend, why);
          vms().suspend(vm);
        } else if (target == VmState::Suspended) {
          need(Operation::VmSave, why);
          vms().save(vm);
        } else if (declared(Operation::VmPowerOff)) {
          vms().power_off(vm);
        } else {
          need(Operation::VmShutdown, why + " (or vm.poweroff)");
          ShutdownOptions o;
          o.timeout = std::chrono::seconds(5);
          o.force = true;
          vms().shutdown(vm, o, {}, CancelToken{});
        }
        break;
      case VmState::Paused:
        if (target == VmState::Off && declared(Operation::VmPowerOff)) {
          vms().power_off(vm);
        } else {
          need(Operation::VmResume, why);
          vms().resume(vm);
        }
        break;
      default:
        skip("the VM is " + state_name(now) + ": cannot bring it to " + state_name(target));
    }
  }
  const VmState last = state_of(vm);
  if (last != target)
    skip("could not bring the VM to " + state_name(target) + " (it is " + state_name(last) + ")");
}

// ---------------------------------------------------------------- storage

std::string Case::new_pool(const std::string& what) {
  need(Operation::PoolCreate, "to make a pool");
  need(Operation::PoolDelete, "to remove the pool it creates");
  const std::string name = name_for(what);
  const Pool p = storage().create_pool(name, (temp_dir() / name).string());
  on_cleanup("delete pool " + name, [this, name] { storage().remove_pool(name); });
  EXPECT_EQ(p.name, name);
  return name;
}

bool Case::pool_active(const std::string& pool) {
  if (declared(Operation::PoolInfo)) return storage().get_pool(pool).active;
  need(Operation::PoolList, "(or pool.info) to read a pool's state");
  for (const auto& p : storage().list_pools())
    if (p.name == pool) return p.active;
  throw Error(ErrorCode::NotFound, "pool '" + pool + "' is not listed", "pool.list");
}

std::string Case::volume_pool() {
  if (!config().pool.empty()) return config().pool;
  if (!declared(Operation::PoolCreate) || !declared(Operation::PoolDelete))
    skip("needs a pool for volumes: Config::pool is empty and the " + backend_name_ +
         " backend cannot create and delete one");
  if (volume_pool_.empty()) volume_pool_ = new_pool("pool");
  return volume_pool_;
}

Volume Case::new_volume(const std::string& what, std::uint64_t capacity,
                        const std::string& format) {
  need(Operation::VolumeCreate, "to make a volume");
  need(Operation::VolumeDelete, "to remove the volume it creates");
  VolumeSpec spec;
  spec.pool = volume_pool();
  spec.name = name_for(what);
  spec.format = format;
  spec.capacity_bytes = capacity;
  Volume v = storage().create_volume(spec);
  on_cleanup("delete volume " + spec.pool + "/" + spec.name,
             [this, spec] { storage().remove_volume(spec.pool, spec.name); });
  EXPECT_EQ(v.name, spec.name);
  return v;
}

// --------------------------------------------------------------- networks

std::string Case::network() {
  if (!config().network.empty()) return config().network;
  need(Operation::NetworkList, "to find a network (Config::network is empty)");
  const auto all = networks().list();
  if (all.empty()) skip("no network is listed on " + config().uri);
  return all.front().name;
}

bool Case::network_active(const std::string& net) {
  if (declared(Operation::NetworkInfo)) return networks().get(net).active;
  need(Operation::NetworkList, "(or network.info) to read a network's state");
  for (const auto& n : networks().list())
    if (n.name == net) return n.active;
  throw Error(ErrorCode::NotFound, "network '" + net + "' is not listed", "network.list");
}

// ------------------------------------------------------- the fixed checks

void Case::check_registry() {
  Backend& b = backend();
  EXPECT_FALSE(backend_name_.empty()) << "the backend has no name";
  EXPECT_FALSE(b.description().empty()) << "the backend has no description";
  const auto schemes = b.schemes();
  EXPECT_FALSE(schemes.empty()) << "the backend serves no scheme";
  for (const auto& s : schemes) {
    EXPECT_FALSE(s.empty()) << "an empty scheme";
    EXPECT_EQ(s.find_first_of("+:/ "), std::string::npos) << "scheme '" << s << "'";
    std::string lower = s;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(lower, s) << "schemes are lower-case";
  }
  const std::string scheme = Uri::parse(config().uri).scheme;
  EXPECT_NE(std::find(schemes.begin(), schemes.end(), scheme), schemes.end())
      << "the backend was chosen for '" << scheme << "' but does not list it";
  EXPECT_GT(caps_.count(), 0u) << "the backend declares no operation";

  // The registry's record is what the backend says, and saying it twice
  // gives the same answer.
  const Capabilities again = b.capabilities();
  bool found = false;
  for (const auto& info : shared_->registry->loaded()) {
    if (info.name != backend_name_) continue;
    found = true;
    EXPECT_TRUE(info.loaded);
    EXPECT_TRUE(info.error.empty()) << info.error;
    EXPECT_EQ(info.schemes, schemes);
    EXPECT_EQ(info.description, b.description());
    for (Operation op : all_operations()) {
      EXPECT_EQ(info.capabilities.has(op), caps_.has(op)) << name_of(op);
      EXPECT_EQ(again.has(op), caps_.has(op)) << name_of(op) << " changed between two calls";
    }
  }
  EXPECT_TRUE(found) << "the registry has no record of " << backend_name_;
  EXPECT_EQ(&shared_->registry->backend_for(scheme), &b);
  if (conn_) {
    EXPECT_EQ(conn_->backend_name(), backend_name_);
    EXPECT_EQ(conn_->uri().raw, config().uri);
  }
}

void Case::check_undeclared(Operation op) {
  const std::string name = name_of(op);
  try {
    call_with_harmless_arguments(*this, op);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported)
        << name << " is not declared, so it must answer unsupported; it answered "
        << to_string(e.code()) << ": " << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find(backend_name_), std::string::npos)
        << "the message must name the backend: " << what;
    EXPECT_NE(what.find(name), std::string::npos)
        << "the message must name " << name << ": " << what;
    return;
  }
  ADD_FAILURE() << name << " is not declared by the " << backend_name_
                << " backend, yet it succeeded";
}

}  // namespace detail

void register_tests(const Config& config) {
  using detail::Case;
  auto shared = std::make_shared<detail::Shared>(config);
  const std::string suite = "Conformance/" + detail::identifier(config.name);
  ::testing::RegisterTest(suite.c_str(), "declared_matches_registry", nullptr, nullptr, __FILE__,
                          __LINE__, [shared]() -> Case* { return new Case(shared, std::nullopt); });
  for (Operation op : all_operations()) {
    const std::string test = detail::identifier(detail::name_of(op));
    ::testing::RegisterTest(suite.c_str(), test.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [shared, op]() -> Case* { return new Case(shared, op); });
  }
  for (const detail::Rule& rule : detail::rules()) {
    const std::string test = "rule_" + detail::identifier(rule.name);
    ::testing::RegisterTest(
        suite.c_str(), test.c_str(), nullptr, nullptr, __FILE__, __LINE__,
        [shared, r = &rule]() -> Case* { return new Case(shared, std::nullopt, r); });
  }
}

}  // namespace hyperctl::conformance
