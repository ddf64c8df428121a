// Journal::load: the migration journal, a JSON document in the state
// folder ($HYPERCTL_STATE_DIR, set to the harness's folder). Contract: a
// journal that loads saves and loads back the same.
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "hyperctl/error.hpp"
#include "hyperctl/journal.hpp"
#include "support.hpp"

using namespace hyperctl;

namespace {

constexpr const char* kId = "20261126T031500Z-fuzz0001";

bool same(const Journal& a, const Journal& b) {
  if (a.id() != b.id() || a.kind() != b.kind() || a.status() != b.status() ||
      a.params() != b.params() || a.steps().size() != b.steps().size())
    return false;
  for (std::size_t i = 0; i < a.steps().size(); ++i) {
    const JournalStep &x = a.steps()[i], &y = b.steps()[i];
    if (x.name != y.name || x.state != y.state || x.data != y.data) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool env_set = ::setenv("HYPERCTL_STATE_DIR", fuzz::temp_dir().c_str(), 1) == 0;
  fuzz::check(env_set, "HYPERCTL_STATE_DIR is set");
  const std::string folder = Journal::folder();
  std::filesystem::create_directories(folder);
  fuzz::write_file(folder + "/" + kId + ".json",
                   std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const Journal j = Journal::load(kId);
    fuzz::check(j.id() == kId, "a journal loads under its own id");
    j.save();
    fuzz::check(same(Journal::load(kId), j), "a saved journal loads back the same");
    try {
      (void)load_migration_journal(kId, "migrate-offline", "an offline migration", "a://b", "c://d",
                                   "migrate");
    } catch (const Error& e) {
      fuzz::check(e.code() == ErrorCode::InvalidArgument, "a wrong journal is InvalidArgument");
    }
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a damaged journal is InvalidArgument");
  }
  return 0;
}
