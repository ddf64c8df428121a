// One libvirt stream of one connection, for volume transfers and the disk
// copies of offline migration.
#pragma once

#include <memory>
#include <string>

#include "errors.hpp"
#include "handles.hpp"
#include "session.hpp"

namespace hyperctl::lv {

using StreamPtr = std::unique_ptr<virStream, Deleter<virStreamFree>>;

/// A blocking stream, aborted unless finished (libvirt requires one or the
/// other before it is freed).
class ActiveStream {
 public:
  /// Opens the stream; Error naming the connection when libvirt refuses.
  ActiveStream(const Session& s, const std::string& operation)
      : s_(s), st_(virStreamNew(s.get(), 0)) {
    if (!st_) fail(s_.get(), "cannot open a stream to " + s_.uri.raw, operation);
  }
  ~ActiveStream() {
    if (open_ && virStreamAbort(st_.get()) < 0) take_last_error(s_.get());
  }
  ActiveStream(const ActiveStream&) = delete;
  ActiveStream& operator=(const ActiveStream&) = delete;

  virStreamPtr get() const { return st_.get(); }
  /// Ends the stream: libvirt's answer for the whole transfer (false leaves
  /// libvirt's error pending for the caller).
  bool finish() {
    open_ = false;
    return virStreamFinish(st_.get()) == 0;
  }
  void abort() {
    open_ = false;
    if (virStreamAbort(st_.get()) < 0) take_last_error(s_.get());
  }

 private:
  const Session& s_;
  StreamPtr st_;
  bool open_ = true;
};

}  // namespace hyperctl::lv
