#include "app.hpp"

namespace hyperctl::cli {

void add_storage_commands(CLI::App& /*app*/, const CommandContext& /*ctx*/) {
  // The storage commands arrive with the libvirt storage/snapshot/network issue.
}

}  // namespace hyperctl::cli
