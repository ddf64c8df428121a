// The hosts command family (being written).
#include "app.hpp"

namespace hyperctl::cli {

void add_hosts_commands(CLI::App&, const CommandContext&) {}

}  // namespace hyperctl::cli
