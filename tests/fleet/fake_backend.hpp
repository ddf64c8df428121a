// An in-process backend for the fleet runner's tests, added to a Registry
// with Registry::add: scheme "fake", one behaviour per URI host
// (fake://HOST/): how long connect() and list() take, whether they block
// until released, or throw. It counts how many hosts are being worked on at
// once (connect to close), the figure run_on_hosts must keep within
// max_in_flight.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/backend.hpp"
#include "hyperctl/error.hpp"

namespace hyperctl::fleet_test {

struct Behaviour {
  std::chrono::milliseconds connect_delay{0};
  std::chrono::milliseconds list_delay{0};
  bool block_connect = false;  ///< until release()
  bool block_list = false;
  bool throw_error = false;  ///< Error(code, message, "", detail) from connect
  bool throw_runtime = false;
  ErrorCode code = ErrorCode::Unreachable;
  std::string message = "cannot reach it";
  std::string detail = "backend detail";
  std::vector<VmInfo> vms;
  bool counted = true;  ///< part of the concurrency figure
};

/// What the test and the backend (owned by the registry) share.
struct FakeState {
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  std::map<std::string, Behaviour> hosts;
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};
  std::atomic<int> blocked{0};   ///< threads waiting in a blocking call now
  std::atomic<int> finished{0};  ///< connections closed
  std::vector<std::string> connect_order;

  void release() {
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    released_cv.notify_all();
  }
  void wait_released() {
    ++blocked;
    std::unique_lock lock(mutex);
    released_cv.wait(lock, [this] { return released; });
    --blocked;
  }
  void enter() {
    const int now = ++active;
    int seen = max_active.load();
    while (now > seen && !max_active.compare_exchange_weak(seen, now)) {
    }
  }
};

class FakeVmOps : public VmOps {
 public:
  FakeVmOps(std::shared_ptr<FakeState> state, Behaviour b)
      : VmOps("fake"), state_(std::move(state)), b_(std::move(b)) {}
  std::vector<VmInfo> list(const VmFilter& filter) override {
    if (b_.block_list) state_->wait_released();
    std::this_thread::sleep_for(b_.list_delay);
    last_filter = filter;
    std::vector<VmInfo> out;
    for (const auto& vm : b_.vms) {
      if (!filter.states.empty() &&
          std::find(filter.states.begin(), filter.states.end(), vm.state) == filter.states.end())
        continue;
      out.push_back(vm);
    }
    return out;
  }
  VmFilter last_filter;

 private:
  std::shared_ptr<FakeState> state_;
  Behaviour b_;
};

class FakeConnection : public Connection {
 public:
  FakeConnection(std::shared_ptr<FakeState> state, Uri uri, const Behaviour& b)
      : Connection("fake"),
        state_(std::move(state)),
        uri_(std::move(uri)),
        ops_(state_, b),
        counted_(b.counted) {}
  ~FakeConnection() override {
    if (counted_) --state_->active;
    ++state_->finished;
  }
  const Uri& uri() const override { return uri_; }
  VmOps& vms() override { return ops_; }

 private:
  std::shared_ptr<FakeState> state_;
  Uri uri_;
  FakeVmOps ops_;
  bool counted_;
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  std::string name() const override { return "fake"; }
  std::string description() const override { return "in-process backend for fleet tests"; }
  std::vector<std::string> schemes() const override { return {"fake"}; }
  Capabilities capabilities() const override { return {Operation::VmList}; }
  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    Behaviour b;
    {
      std::lock_guard lock(state_->mutex);
      auto it = state_->hosts.find(uri.host);
      if (it != state_->hosts.end()) b = it->second;
      state_->connect_order.push_back(uri.host);
      last_timeout = options.timeout;
    }
    if (b.counted) state_->enter();
    struct Leave {  // a connect that fails still leaves the count
      FakeState& s;
      bool counted;
      bool armed = true;
      ~Leave() {
        if (armed) {
          if (counted) --s.active;
          ++s.finished;
        }
      }
    } leave{*state_, b.counted};
    if (b.block_connect) state_->wait_released();
    std::this_thread::sleep_for(b.connect_delay);
    if (b.throw_error) throw Error(b.code, b.message, "connect", b.detail);
    if (b.throw_runtime) throw std::runtime_error(b.message);
    leave.armed = false;
    return std::make_unique<FakeConnection>(state_, uri, b);
  }
  std::chrono::milliseconds last_timeout{0};

 private:
  std::shared_ptr<FakeState> state_;
};

}  // namespace hyperctl::fleet_test
