// A small in-memory backend, built several times with different names,
// schemes and descriptions (see CMakeLists.txt). It offers only vm.list and
// vm.get, so everything else must reach the core's Unsupported path.
//
// TOY_NAME, TOY_SCHEME, TOY_DESCRIPTION: strings given by the build.
// TOY_MARK_ENV (optional): an environment variable set when the library is
// loaded, so that a test can tell whether the registry loaded it at all.
#include <fnmatch.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"

namespace {

#ifdef TOY_MARK_ENV
__attribute__((constructor)) void mark_loaded() {
  ::setenv(TOY_MARK_ENV, "loaded", 1);
}
#endif

std::vector<hyperctl::VmInfo> toy_vms() {
  std::vector<hyperctl::VmInfo> vms(2);
  vms[0].id = "00000000-0000-4000-8000-000000000001";
  vms[0].name = "alpha";
  vms[0].state = hyperctl::VmState::Running;
  vms[0].vcpus = 2;
  vms[0].memory_bytes = 512ull << 20;
  vms[1].id = "00000000-0000-4000-8000-000000000002";
  vms[1].name = "beta";
  vms[1].state = hyperctl::VmState::Off;
  vms[1].vcpus = 1;
  vms[1].memory_bytes = 256ull << 20;
  for (auto& vm : vms) vm.backend = TOY_NAME;
  return vms;
}

class ToyVms : public hyperctl::VmOps {
 public:
  ToyVms() : VmOps(TOY_NAME), vms_(toy_vms()) {}

  std::vector<hyperctl::VmInfo> list(const hyperctl::VmFilter& filter) override {
    std::vector<hyperctl::VmInfo> out;
    for (const auto& vm : vms_) {
      bool wanted = filter.states.empty();
      for (auto s : filter.states) wanted = wanted || s == vm.state;
      if (!filter.name_glob.empty() && ::fnmatch(filter.name_glob.c_str(), vm.name.c_str(), 0) != 0)
        wanted = false;
      if (wanted) out.push_back(vm);
    }
    return out;
  }

  hyperctl::VmInfo get(const hyperctl::VmRef& ref) override {
    for (const auto& vm : vms_)
      if (vm.id == ref.value || vm.name == ref.value) return vm;
    // Thrown from inside the plugin: the caller must still catch it as
    // hyperctl::Error even though this library hides its symbols.
    throw hyperctl::Error(hyperctl::ErrorCode::NotFound, "no VM named '" + ref.value + "'",
                          "vm.get");
  }

 private:
  std::vector<hyperctl::VmInfo> vms_;
};

class ToyConnection : public hyperctl::Connection {
 public:
  explicit ToyConnection(hyperctl::Uri uri) : Connection(TOY_NAME), uri_(std::move(uri)) {}
  const hyperctl::Uri& uri() const override { return uri_; }
  hyperctl::VmOps& vms() override { return vms_; }

 private:
  hyperctl::Uri uri_;
  ToyVms vms_;
};

class ToyBackend : public hyperctl::Backend {
 public:
  std::string name() const override { return TOY_NAME; }
  std::string description() const override { return TOY_DESCRIPTION; }
  std::vector<std::string> schemes() const override { return {TOY_SCHEME}; }
  hyperctl::Capabilities capabilities() const override {
    return {hyperctl::Operation::VmList, hyperctl::Operation::VmGet};
  }
  std::unique_ptr<hyperctl::Connection> connect(const hyperctl::Uri& uri,
                                                const hyperctl::ConnectOptions&) override {
    return std::make_unique<ToyConnection>(uri);
  }
};

std::unique_ptr<hyperctl::Backend> make_toy() {
  return std::make_unique<ToyBackend>();
}

}  // namespace

HYPERCTL_PLUGIN(make_toy)
