// Broken plugins, one per HOSTILE_* definition given by the build. Their
// entry points are written by hand with BOOST_DLL_ALIAS (not HYPERCTL_PLUGIN)
// so that each can get exactly one thing wrong. Every factory records that it
// ran in the environment variable HYPERCTL_TEST_FACTORY_RAN_<name>, so tests
// can prove the registry refused a library before calling into it.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/dll/alias.hpp>

#include "hyperctl/backend.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"

namespace hostile {

void note_factory_ran() {
  ::setenv("HYPERCTL_TEST_FACTORY_RAN_" HOSTILE_NAME, "yes", 1);
}

class NeverBackend : public hyperctl::Backend {
 public:
  std::string name() const override { return HOSTILE_NAME; }
  std::string description() const override { return "must never be adopted"; }
  std::vector<std::string> schemes() const override { return {HOSTILE_NAME}; }
  hyperctl::Capabilities capabilities() const override { return {}; }
  std::unique_ptr<hyperctl::Connection> connect(const hyperctl::Uri&,
                                                const hyperctl::ConnectOptions&) override {
    throw hyperctl::Error(hyperctl::ErrorCode::Internal, "must never connect");
  }
};

std::unique_ptr<hyperctl::Backend> factory() {
  note_factory_ran();
#if defined(HOSTILE_THROWS_STD)
  throw std::runtime_error("toy factory exploded (std::runtime_error)");
#elif defined(HOSTILE_THROWS_ERROR)
  throw hyperctl::Error(hyperctl::ErrorCode::Unreachable, "toy factory exploded (hyperctl::Error)",
                        "plugin.init");
#elif defined(HOSTILE_RETURNS_NULL)
  return nullptr;
#else
  return std::make_unique<NeverBackend>();
#endif
}

#if defined(HOSTILE_ABI)
const std::uint32_t abi = HOSTILE_ABI;
#else
const std::uint32_t abi = hyperctl::kPluginAbi;
#endif

}  // namespace hostile

#if !defined(HOSTILE_NO_ABI_SYMBOL)
BOOST_DLL_ALIAS(hostile::abi, hyperctl_plugin_abi)
#endif
#if !defined(HOSTILE_NO_FACTORY_SYMBOL)
BOOST_DLL_ALIAS(hostile::factory, hyperctl_plugin_factory)
#endif
