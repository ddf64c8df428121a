#include "app.hpp"

namespace hyperctl::cli {

void add_snapshot_commands(CLI::App& /*app*/, const CommandContext& /*ctx*/) {
  // The snapshot commands arrive with the libvirt storage/snapshot/network issue.
}

}  // namespace hyperctl::cli
