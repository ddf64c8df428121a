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
#include <thread>
#include <vector>

namespace hyperctl::test_net {

/// A TCP port on 127.0.0.1 that accepts connections and never says a word.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot set up the silent listener");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
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
