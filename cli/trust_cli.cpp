// The trust command family (being written).
#include "app.hpp"

namespace hyperctl::cli {

void add_trust_commands(CLI::App&, const CommandContext&) {}

}  // namespace hyperctl::cli
