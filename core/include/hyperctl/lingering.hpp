// Work left running on a thread after its caller stopped waiting for it: a
// libvirt connect to a daemon that never answers (it cannot be interrupted),
// a fleet job abandoned at its deadline. Such a thread may still be inside a
// backend library when the program ends, so a program must not run static
// destructors under it: when lingering_work() is above zero at exit, flush
// the output and leave with _exit() (the CLI does).
#pragma once

#include <cstddef>

namespace hyperctl {

/// Counts one piece of lingering work for its lifetime: create it when the
/// caller gives up on the work, destroy it on the thread that does the work,
/// when the work ends.
class LingeringWork {
 public:
  LingeringWork();
  ~LingeringWork();
  LingeringWork(const LingeringWork&) = delete;
  LingeringWork& operator=(const LingeringWork&) = delete;
};

/// Lingering work not ended yet, in the whole process.
std::size_t lingering_work();

}  // namespace hyperctl
