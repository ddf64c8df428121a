// Implementation of hyperctl/lingering.hpp.
#include "hyperctl/lingering.hpp"

#include <atomic>

namespace hyperctl {

namespace {
std::atomic<std::size_t> g_lingering{0};
}  // namespace

LingeringWork::LingeringWork() {
  g_lingering.fetch_add(1);
}

LingeringWork::~LingeringWork() {
  g_lingering.fetch_sub(1);
}

std::size_t lingering_work() {
  return g_lingering.load();
}

}  // namespace hyperctl
