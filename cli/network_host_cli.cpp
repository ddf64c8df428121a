#include "app.hpp"

namespace hyperctl::cli {

void add_network_host_commands(CLI::App& /*app*/, const CommandContext& /*ctx*/) {
  // The network and host commands arrive with the libvirt storage/snapshot/network issue.
}

}  // namespace hyperctl::cli
