// HOOK: offline migration (--offline, --shutdown, --remove-source,
// --target-pool, --resume ID, --rollback ID). A placeholder until the offline
// migration work replaces this file.
#include "commands.hpp"

namespace hyperctl::cli {

int run_migrate_offline(const GlobalOptions&, const MigrateArgs&) {
  return usage_error("offline migration is not available yet");
}

}  // namespace hyperctl::cli
