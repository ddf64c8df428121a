// FleetConfig::parse: the fleet configuration file (connections, groups).
// Contract: what parses can be saved, and the saved file loads back to the
// same connections and groups.
#include <cstdint>

#include "hyperctl/config.hpp"
#include "hyperctl/error.hpp"
#include "support.hpp"

using namespace hyperctl;

namespace {

bool same(const ConnectionEntry& a, const ConnectionEntry& b) {
  return a.name == b.name && a.uri == b.uri && a.user == b.user && a.credentials == b.credentials &&
         a.tags == b.tags && a.timeout == b.timeout;
}

bool same(const FleetConfig& a, const FleetConfig& b) {
  if (a.connections().size() != b.connections().size() || a.groups().size() != b.groups().size())
    return false;
  for (std::size_t i = 0; i < a.connections().size(); ++i)
    if (!same(a.connections()[i], b.connections()[i])) return false;
  for (std::size_t i = 0; i < a.groups().size(); ++i)
    if (a.groups()[i].name != b.groups()[i].name || a.groups()[i].members != b.groups()[i].members)
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  FleetConfig config;
  try {
    config = FleetConfig::parse(text, "fuzz-config");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad config is InvalidArgument");
    return 0;
  }
  // Every group expands (its members name something) and select() finds
  // every connection by its name.
  for (const auto& g : config.groups()) (void)config.group(g.name);
  for (const auto& c : config.connections())
    fuzz::check(config.find(c.name) != nullptr, "every connection is found by its name");
  const std::string path = fuzz::temp_dir() + "/config";
  config.save(path);
  FleetConfig again;
  try {
    again = FleetConfig::load(path);
  } catch (const Error&) {
    fuzz::check(false, "a saved config loads again");
  }
  fuzz::check(same(config, again), "a saved config loads to the same entries");
  return 0;
}
