#include "hyperctl/version.hpp"

namespace hyperctl {
std::string_view version() {
  return HYPERCTL_VERSION;
}
}  // namespace hyperctl
