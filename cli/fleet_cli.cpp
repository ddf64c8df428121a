// The fleet command family (being written).
#include "app.hpp"

namespace hyperctl::cli {

void add_fleet_commands(CLI::App&, const CommandContext&) {}

}  // namespace hyperctl::cli
