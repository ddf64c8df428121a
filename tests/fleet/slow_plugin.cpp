// A backend plugin whose VM actions take a set time, for the -g tests of a
// host that passes its deadline in the middle of its VMs. Scheme "slow":
// slow:///?vms=N&action_ms=MS gives N VMs (vm1..vmN, off) whose start and
// power-off each take MS milliseconds. Nothing is kept between connections.
#include <fnmatch.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"

namespace {

unsigned query_number(const hyperctl::Uri& uri, const std::string& key, unsigned fallback) {
  const auto it = uri.query.find(key);
  return it == uri.query.end() ? fallback : static_cast<unsigned>(std::stoul(it->second));
}

class SlowVms : public hyperctl::VmOps {
 public:
  SlowVms(unsigned count, std::chrono::milliseconds action) : VmOps("slow"), action_(action) {
    for (unsigned i = 1; i <= count; ++i) {
      hyperctl::VmInfo vm;
      vm.name = "vm" + std::to_string(i);
      vm.id = "slow-" + std::to_string(i);
      vm.state = hyperctl::VmState::Off;
      vm.vcpus = 1;
      vm.backend = "slow";
      vms_.push_back(vm);
    }
  }

  std::vector<hyperctl::VmInfo> list(const hyperctl::VmFilter& filter) override {
    std::vector<hyperctl::VmInfo> out;
    for (const auto& vm : vms_)
      if (filter.name_glob.empty() || ::fnmatch(filter.name_glob.c_str(), vm.name.c_str(), 0) == 0)
        out.push_back(vm);
    return out;
  }

  void start(const hyperctl::VmRef& ref) override {
    find(ref).state = hyperctl::VmState::Running;
    std::this_thread::sleep_for(action_);
  }
  void power_off(const hyperctl::VmRef& ref) override {
    find(ref).state = hyperctl::VmState::Off;
    std::this_thread::sleep_for(action_);
  }

 private:
  hyperctl::VmInfo& find(const hyperctl::VmRef& ref) {
    for (auto& vm : vms_)
      if (vm.name == ref.value || vm.id == ref.value) return vm;
    throw hyperctl::Error(hyperctl::ErrorCode::NotFound, "no VM named '" + ref.value + "'",
                          "vm.get");
  }

  std::chrono::milliseconds action_;
  std::vector<hyperctl::VmInfo> vms_;
};

class SlowConnection : public hyperctl::Connection {
 public:
  explicit SlowConnection(hyperctl::Uri uri)
      : Connection("slow"),
        uri_(std::move(uri)),
        vms_(query_number(uri_, "vms", 3),
             std::chrono::milliseconds(query_number(uri_, "action_ms", 0))) {}
  const hyperctl::Uri& uri() const override { return uri_; }
  hyperctl::VmOps& vms() override { return vms_; }

 private:
  hyperctl::Uri uri_;
  SlowVms vms_;
};

class SlowBackend : public hyperctl::Backend {
 public:
  std::string name() const override { return "slow"; }
  std::string description() const override { return "VM actions that take a set time (tests)"; }
  std::vector<std::string> schemes() const override { return {"slow"}; }
  hyperctl::Capabilities capabilities() const override {
    return {hyperctl::Operation::VmList, hyperctl::Operation::VmStart,
            hyperctl::Operation::VmPowerOff};
  }
  std::unique_ptr<hyperctl::Connection> connect(const hyperctl::Uri& uri,
                                                const hyperctl::ConnectOptions&) override {
    return std::make_unique<SlowConnection>(uri);
  }
};

std::unique_ptr<hyperctl::Backend> make_slow() {
  return std::make_unique<SlowBackend>();
}

}  // namespace

HYPERCTL_PLUGIN(make_slow)
