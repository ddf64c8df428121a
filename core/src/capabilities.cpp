#include "hyperctl/capabilities.hpp"

namespace hyperctl {

namespace {
constexpr std::string_view kNames[] = {
#define HYPERCTL_X(e, s) s,
    HYPERCTL_OPERATIONS(HYPERCTL_X)
#undef HYPERCTL_X
};
}  // namespace

std::string_view to_string(Operation op) {
  return kNames[static_cast<std::size_t>(op)];
}

std::optional<Operation> parse_operation(std::string_view name) {
  for (std::size_t i = 0; i < kOperationCount; ++i)
    if (kNames[i] == name) return static_cast<Operation>(i);
  return std::nullopt;
}

const std::vector<Operation>& all_operations() {
  static const std::vector<Operation> ops = [] {
    std::vector<Operation> v;
    for (std::size_t i = 0; i < kOperationCount; ++i) v.push_back(static_cast<Operation>(i));
    return v;
  }();
  return ops;
}

}  // namespace hyperctl
