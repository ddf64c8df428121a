// Hosts that misbehave at the network level, for the fleet and connect
// suites: a loopback port that accepts connections and never answers, and one
// that refuses them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace hyperctl::test_net {

/// A listening TCP socket on 127.0.0.1, any free port (stored in `port`).
/// Throws std::runtime_error naming `what` when it cannot be set up.
inline int listen_loopback(unsigned& port, const char* what) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(std::string("cannot set up ") + what);
  }
  port = ntohs(a.sin_port);
  return fd;
}

/// The next connection on `listener`, or -1 when none came within 50 ms (a
/// serving loop polls its stop flag between calls).
inline int accept_briefly(int listener) {
  pollfd p{listener, POLLIN, 0};
  if (poll(&p, 1, 50) <= 0) return -1;
  return accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
}

/// A TCP port on 127.0.0.1 that accepts connections and never says a word.
class SilentListener {
 public:
  SilentListener() {
    fd_ = listen_loopback(port_, "the silent listener");
    thread_ = std::thread([this] {
      while (!stop_) {
        const int c = accept_briefly(fd_);
        if (c < 0) continue;
        std::lock_guard lock(mutex_);
        accepted_.push_back(c);
      }
    });
  }
  ~SilentListener() { close_all(); }
  /// Closes the listener and every accepted connection (the stuck client
  /// then sees the end of its stream).
  void close_all() {
    if (stop_.exchange(true)) return;
    thread_.join();
    std::lock_guard lock(mutex_);
    for (int c : accepted_) ::close(c);
    ::close(fd_);
  }
  unsigned port() const { return port_; }
  std::size_t accepted() {
    std::lock_guard lock(mutex_);
    return accepted_.size();
  }

 private:
  int fd_ = -1;
  unsigned port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<int> accepted_;
};

/// A loopback port nothing listens on (bound, then closed).
inline unsigned refusing_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace hyperctl::test_net
