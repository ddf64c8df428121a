// run_on_hosts, inventory and InventoryFilter with an in-process backend
// (fake_backend.hpp): order, bounded concurrency (measured), deadlines that
// hold whatever a host is stuck in, replacement threads, error reports and
// the abandoned-jobs counter.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../common/expect_error.hpp"
#include "fake_backend.hpp"
#include "hyperctl/credentials.hpp"
#include "hyperctl/fleet.hpp"
#include "hyperctl/lingering.hpp"

namespace hyperctl::fleet_test {
namespace {

using namespace std::chrono_literals;
using fleet::HostResult;
using fleet::HostStatus;
using fleet::Target;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

class FleetCore : public ::testing::Test {
 protected:
  void SetUp() override {
    baseline_ = fleet::abandoned_jobs();
    state_ = std::make_shared<FakeState>();
    auto backend = std::make_unique<FakeBackend>(state_);
    backend_ = backend.get();
    registry_ = std::make_shared<Registry>();
    registry_->add(std::move(backend), "(fleet test)");
  }
  void TearDown() override {
    // Let blocked jobs end, then check that every abandoned job was counted
    // down again: nothing stays behind a test.
    state_->release();
    const auto t0 = Clock::now();
    while (fleet::abandoned_jobs() != baseline_ && since(t0) < 10s)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(fleet::abandoned_jobs(), baseline_) << "abandoned jobs did not end once released";
  }

  Target host(const std::string& name, Behaviour b,
              std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    {
      std::lock_guard lock(state_->mutex);
      state_->hosts[name] = std::move(b);
    }
    Target t;
    t.name = name;
    t.uri = "fake://" + name + "/";
    t.deadline = deadline;
    return t;
  }

  /// Lists nothing; returns the host's name (so results can be matched).
  static fleet::Job name_job() {
    return [](Connection& c, const Target& t) -> std::any {
      c.vms().list({});
      return t.name;
    };
  }

  std::size_t baseline_ = 0;
  std::shared_ptr<FakeState> state_;
  FakeBackend* backend_ = nullptr;
  std::shared_ptr<Registry> registry_;
};

Behaviour sleeps(std::chrono::milliseconds connect, std::chrono::milliseconds list) {
  Behaviour b;
  b.connect_delay = connect;
  b.list_delay = list;
  return b;
}

Behaviour blocks_in_list() {
  Behaviour b;
  b.block_list = true;
  b.counted = false;
  return b;
}

Behaviour blocks_in_connect() {
  Behaviour b;
  b.block_connect = true;
  b.counted = false;
  return b;
}

TEST_F(FleetCore, ResultsComeInTargetOrderAndEachHostIsReportedOnceOnTheCallersThread) {
  std::vector<Target> targets;
  for (int i = 0; i < 6; ++i)  // the first ones are the slowest
    targets.push_back(
        host("h" + std::to_string(i), sleeps(std::chrono::milliseconds(60 - i * 10), 0ms)));
  std::vector<std::string> done;
  const auto caller = std::this_thread::get_id();
  bool other_thread = false;
  fleet::RunOptions opt;
  opt.max_in_flight = 6;
  const auto results =
      fleet::run_on_hosts(registry_, targets, name_job(), opt, [&](const HostResult& r) {
        if (std::this_thread::get_id() != caller) other_thread = true;
        done.push_back(r.report.name);
      });
  ASSERT_EQ(results.size(), targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ(results[i].report.name, targets[i].name);
    EXPECT_EQ(results[i].report.uri, targets[i].uri);
    EXPECT_EQ(results[i].report.backend, "fake");
    EXPECT_EQ(results[i].report.status, HostStatus::Ok) << results[i].report.message;
    EXPECT_EQ(std::any_cast<std::string>(results[i].value), targets[i].name);
  }
  EXPECT_FALSE(other_thread) << "on_done must run on the caller's thread";
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done, (std::vector<std::string>{"h0", "h1", "h2", "h3", "h4", "h5"}));
  // The fastest host (started at the same time) ended first.
  EXPECT_EQ(state_->finished.load(), 6);
}

TEST_F(FleetCore, ConcurrencyNeverExceedsMaxInFlight) {
  std::vector<Target> targets;
  for (int i = 0; i < 12; ++i) targets.push_back(host("c" + std::to_string(i), sleeps(40ms, 40ms)));
  fleet::RunOptions opt;
  opt.max_in_flight = 3;
  const auto t0 = Clock::now();
  const auto results = fleet::run_on_hosts(registry_, targets, name_job(), opt);
  const auto took = since(t0);
  for (const auto& r : results) EXPECT_EQ(r.report.status, HostStatus::Ok) << r.report.message;
  EXPECT_LE(state_->max_active.load(), 3);
  EXPECT_EQ(state_->max_active.load(), 3) << "the pool did not use its three threads";
  // 12 hosts of ~80 ms, 3 at a time: ~320 ms; one at a time would be ~960 ms.
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 800ms);
}

TEST_F(FleetCore, ABlockedHostTimesOutAtItsDeadlineWhileTheOthersFinish) {
  std::vector<Target> targets;
  targets.push_back(host("fast1", sleeps(20ms, 20ms)));
  targets.push_back(host("stuck", blocks_in_list(), 400ms));
  targets.push_back(host("fast2", sleeps(50ms, 50ms)));
  fleet::RunOptions opt;
  opt.max_in_flight = 4;
  const auto t0 = Clock::now();
  const auto results = fleet::run_on_hosts(registry_, targets, name_job(), opt);
  const auto took = since(t0);
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 400ms + 250ms) << "run_on_hosts waited beyond the stuck host's deadline";
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].report.status, HostStatus::Ok);
  EXPECT_EQ(results[2].report.status, HostStatus::Ok);
  const auto& stuck = results[1].report;
  EXPECT_EQ(stuck.status, HostStatus::TimedOut);
  EXPECT_EQ(stuck.code, ErrorCode::Timeout);
  EXPECT_EQ(stuck.elapsed, 400ms);
  EXPECT_EQ(stuck.name, "stuck");
  EXPECT_EQ(stuck.backend, "fake");
  EXPECT_NE(stuck.message.find("stuck"), std::string::npos) << stuck.message;
  EXPECT_NE(stuck.message.find("0.4 s"), std::string::npos) << stuck.message;
  EXPECT_FALSE(results[1].value.has_value());
  EXPECT_STREQ(fleet::to_string(stuck.status), "timeout");
  EXPECT_EQ(fleet::abandoned_jobs(), baseline_ + 1);
  // Released, the late job ends: its result is dropped, the count goes down
  // (TearDown waits for it).
}

TEST_F(FleetCore, AfterBlockedHostsTheRestRunWithFullConcurrency) {
  std::vector<Target> targets;
  targets.push_back(host("b1", blocks_in_connect(), 300ms));
  targets.push_back(host("b2", blocks_in_connect(), 300ms));
  for (int i = 0; i < 6; ++i) targets.push_back(host("r" + std::to_string(i), sleeps(75ms, 75ms)));
  fleet::RunOptions opt;
  opt.max_in_flight = 2;
  const auto t0 = Clock::now();
  const auto results = fleet::run_on_hosts(registry_, targets, name_job(), opt);
  const auto took = since(t0);
  EXPECT_EQ(results[0].report.status, HostStatus::TimedOut);
  EXPECT_EQ(results[1].report.status, HostStatus::TimedOut);
  for (std::size_t i = 2; i < results.size(); ++i)
    EXPECT_EQ(results[i].report.status, HostStatus::Ok) << results[i].report.name;
  // Both threads were stuck for 300 ms; two replacements then ran the six
  // 150 ms hosts two at a time: ~750 ms. Without replacements it would hang.
  EXPECT_EQ(state_->max_active.load(), 2);
  EXPECT_GE(took, 700ms);
  EXPECT_LT(took, 1200ms);
  EXPECT_EQ(fleet::abandoned_jobs(), baseline_ + 2);
}

TEST_F(FleetCore, OneThreadAndABlockedHostStillRunsTheRest) {
  std::vector<Target> targets;
  targets.push_back(host("b", blocks_in_list(), 200ms));
  targets.push_back(host("x", sleeps(10ms, 10ms)));
  targets.push_back(host("y", sleeps(10ms, 10ms)));
  fleet::RunOptions opt;
  opt.max_in_flight = 1;
  const auto t0 = Clock::now();
  const auto results = fleet::run_on_hosts(registry_, targets, name_job(), opt);
  EXPECT_LT(since(t0), 700ms);
  EXPECT_EQ(results[0].report.status, HostStatus::TimedOut);
  EXPECT_EQ(results[1].report.status, HostStatus::Ok);
  EXPECT_EQ(results[2].report.status, HostStatus::Ok);
  EXPECT_EQ(state_->max_active.load(), 1);
}

TEST_F(FleetCore, FailedHostsKeepCodeMessageAndDetail) {
  Behaviour auth;
  auth.throw_error = true;
  auth.code = ErrorCode::AuthFailed;
  auth.message = "authentication failed for 'root' on h";
  auth.detail = "the backend's own words";
  Behaviour foreign;
  foreign.throw_runtime = true;
  foreign.message = "std::bad_thing";
  std::vector<Target> targets;
  targets.push_back(host("auth", auth));
  targets.push_back(host("foreign", foreign));
  targets.push_back(host("fine", sleeps(0ms, 0ms)));
  Target bad_uri;
  bad_uri.name = "bad";
  bad_uri.uri = "not a uri";
  targets.push_back(bad_uri);
  Target unknown;
  unknown.name = "unknown";
  unknown.uri = "nosuchscheme://h/";
  targets.push_back(unknown);
  std::size_t calls = 0;
  const auto results =
      fleet::run_on_hosts(registry_, targets, name_job(), {}, [&](const HostResult&) { ++calls; });
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(calls, 5u);
  EXPECT_EQ(results[0].report.status, HostStatus::Failed);
  EXPECT_EQ(results[0].report.code, ErrorCode::AuthFailed);
  EXPECT_EQ(results[0].report.message, auth.message);
  EXPECT_EQ(results[0].report.detail, auth.detail);
  EXPECT_STREQ(fleet::to_string(results[0].report.status), "error");
  EXPECT_EQ(results[1].report.status, HostStatus::Failed);
  EXPECT_EQ(results[1].report.code, ErrorCode::Internal);
  EXPECT_NE(results[1].report.message.find("std::bad_thing"), std::string::npos);
  EXPECT_EQ(results[2].report.status, HostStatus::Ok);
  EXPECT_STREQ(fleet::to_string(results[2].report.status), "ok");
  EXPECT_EQ(results[3].report.status, HostStatus::Failed);
  EXPECT_EQ(results[3].report.code, ErrorCode::InvalidArgument);
  EXPECT_EQ(results[3].report.name, "bad");
  EXPECT_EQ(results[4].report.status, HostStatus::Failed);
  EXPECT_EQ(results[4].report.code, ErrorCode::Unsupported);
  EXPECT_NE(results[4].report.message.find("nosuchscheme"), std::string::npos);
  // A job that throws is a Failed host too.
  const auto thrown = fleet::run_on_hosts(
      registry_, {host("j", sleeps(0ms, 0ms))},
      [](Connection&, const Target&) -> std::any { throw Error(ErrorCode::NotFound, "no VM"); });
  EXPECT_EQ(thrown[0].report.code, ErrorCode::NotFound);
  EXPECT_EQ(thrown[0].report.message, "no VM");
}

TEST_F(FleetCore, AbandonedJobsAreCountedUntilTheyEnd) {
  std::vector<Target> targets;
  for (int i = 0; i < 3; ++i)
    targets.push_back(host("s" + std::to_string(i), blocks_in_list(), 100ms));
  const auto results = fleet::run_on_hosts(registry_, targets, name_job());
  for (const auto& r : results) EXPECT_EQ(r.report.status, HostStatus::TimedOut);
  EXPECT_EQ(fleet::abandoned_jobs(), baseline_ + 3);
  EXPECT_EQ(state_->blocked.load(), 3);
  state_->release();
  const auto t0 = Clock::now();
  while (fleet::abandoned_jobs() != baseline_ && since(t0) < 5s) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(fleet::abandoned_jobs(), baseline_);
  // Their connections were closed by their own threads once they returned.
  while (state_->finished.load() < 3 && since(t0) < 5s) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(state_->finished.load(), 3);
}

TEST_F(FleetCore, AbandonedJobsAreLingeringWorkUntilTheyEnd) {
  const std::size_t before = lingering_work();
  std::vector<Target> targets;
  targets.push_back(host("s", blocks_in_list(), 100ms));
  const auto results = fleet::run_on_hosts(registry_, targets, name_job());
  EXPECT_EQ(results[0].report.status, HostStatus::TimedOut);
  EXPECT_EQ(lingering_work(), before + 1) << "the CLI would exit normally under a stuck thread";
  state_->release();
  const auto t0 = Clock::now();
  while (lingering_work() != before && since(t0) < 5s) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(lingering_work(), before);
}

TEST_F(FleetCore, TimeAtAPasswordPromptDoesNotCountAgainstTheDeadline) {
  // A job whose connection waits 600 ms for the user (as prompt_secret()
  // marks it) on a 300 ms deadline still ends Ok; the same wait not marked
  // as the user's is a timeout.
  const fleet::Job user_waits = [](Connection& c, const Target& t) -> std::any {
    const UserWait typing;
    std::this_thread::sleep_for(600ms);
    c.vms().list({});
    return t.name;
  };
  const fleet::Job host_waits = [](Connection& c, const Target& t) -> std::any {
    std::this_thread::sleep_for(600ms);
    c.vms().list({});
    return t.name;
  };
  auto ok = fleet::run_on_hosts(registry_, {host("typing", sleeps(0ms, 0ms), 300ms)}, user_waits);
  EXPECT_EQ(ok[0].report.status, HostStatus::Ok) << ok[0].report.message;
  auto late = fleet::run_on_hosts(registry_, {host("slow", sleeps(0ms, 0ms), 300ms)}, host_waits);
  EXPECT_EQ(late[0].report.status, HostStatus::TimedOut);
  const auto t0 = Clock::now();
  while (fleet::abandoned_jobs() != baseline_ && since(t0) < 5s) std::this_thread::sleep_for(5ms);
}

TEST_F(FleetCore, AJobMayExtendItsOwnDeadline) {
  // 300 ms deadline; the job learns it needs 600 ms and says so: Ok. The
  // same job without the extension times out at 300 ms.
  const auto job = [](bool extend) -> fleet::Job {
    return [extend](Connection& c, const Target& t) -> std::any {
      if (extend) fleet::extend_deadline(500ms);
      std::this_thread::sleep_for(600ms);
      c.vms().list({});
      return t.name;
    };
  };
  auto ok = fleet::run_on_hosts(registry_, {host("long", sleeps(0ms, 0ms), 300ms)}, job(true));
  EXPECT_EQ(ok[0].report.status, HostStatus::Ok) << ok[0].report.message;
  auto late = fleet::run_on_hosts(registry_, {host("short", sleeps(0ms, 0ms), 300ms)}, job(false));
  EXPECT_EQ(late[0].report.status, HostStatus::TimedOut);
  fleet::extend_deadline(1s);  // outside a job: nothing to extend, no effect
}

TEST_F(FleetCore, HugeDeadlinesAndExtensionsSaturateInsteadOfWrapping) {
  // started + deadline + extended in the clock's nanoseconds would wrap to
  // a time in the past and abandon the host at once.
  const auto job = [](std::vector<std::chrono::milliseconds> extensions) -> fleet::Job {
    return [extensions](Connection& c, const Target& t) -> std::any {
      for (const auto more : extensions) fleet::extend_deadline(more);
      std::this_thread::sleep_for(400ms);
      c.vms().list({});
      return t.name;
    };
  };
  constexpr auto kMax = std::chrono::milliseconds::max();
  auto r = fleet::run_on_hosts(registry_, {host("forever", sleeps(0ms, 0ms), kMax)}, job({}));
  EXPECT_EQ(r[0].report.status, HostStatus::Ok) << r[0].report.message;
  r = fleet::run_on_hosts(registry_, {host("near-max", sleeps(0ms, 0ms), kMax - 1ms)},
                          job({kMax, kMax}));
  EXPECT_EQ(r[0].report.status, HostStatus::Ok) << r[0].report.message;
  // Extended past the end of time from a short deadline: still Ok.
  r = fleet::run_on_hosts(registry_, {host("extended", sleeps(0ms, 0ms), 100ms)},
                          job({kMax / 2, kMax / 2, kMax / 2}));
  EXPECT_EQ(r[0].report.status, HostStatus::Ok) << r[0].report.message;
  // 300 years (more than the nanosecond clock holds from now): Ok.
  r = fleet::run_on_hosts(registry_,
                          {host("centuries", sleeps(0ms, 0ms),
                                std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::hours(24 * 365 * 300)))},
                          job({}));
  EXPECT_EQ(r[0].report.status, HostStatus::Ok) << r[0].report.message;
}

TEST_F(FleetCore, ACallbackThatThrowsIsRethrownAfterEveryHostEnded) {
  std::vector<Target> targets;
  for (int i = 0; i < 4; ++i) targets.push_back(host("t" + std::to_string(i), sleeps(20ms, 0ms)));
  targets.push_back(host("stuck", blocks_in_list(), 150ms));
  int calls = 0;
  const auto t0 = Clock::now();
  EXPECT_THROW(fleet::run_on_hosts(registry_, targets, name_job(), {},
                                   [&](const HostResult&) {
                                     ++calls;
                                     throw std::runtime_error("callback failed");
                                   }),
               std::runtime_error);
  EXPECT_EQ(calls, 1) << "a callback that threw must not be called again";
  EXPECT_LT(since(t0), 1s) << "the stuck host must not hold the exception back";
  EXPECT_EQ(state_->finished.load(), 4) << "the other hosts ran to their end";
}

TEST_F(FleetCore, ConnectTimeoutIsTheSmallerOfTimeoutAndDeadline) {
  Target t = host("t", sleeps(0ms, 0ms), 2s);
  t.options.timeout = 30s;
  fleet::run_on_hosts(registry_, {t}, name_job());
  EXPECT_EQ(backend_->last_timeout, 2s);
  t.deadline = 60s;
  t.options.timeout = 5s;
  fleet::run_on_hosts(registry_, {t}, name_job());
  EXPECT_EQ(backend_->last_timeout, 5s);
}

TEST_F(FleetCore, RegistryOutlivesTheCallerWhileAJobIsAbandoned) {
  const auto results =
      fleet::run_on_hosts(registry_, {host("x", blocks_in_list(), 50ms)}, name_job());
  EXPECT_EQ(results[0].report.status, HostStatus::TimedOut);
  std::weak_ptr<Registry> weak = registry_;
  registry_.reset();
  EXPECT_FALSE(weak.expired()) << "the abandoned job must keep the registry alive";
  state_->release();
  const auto t0 = Clock::now();
  while (!weak.expired() && since(t0) < 5s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(weak.expired()) << "the registry was not released once the job ended";
}

// ------------------------------------------------------------ inventory --

VmInfo vm(const std::string& name, VmState state, unsigned vcpus, std::uint64_t mem,
          std::vector<std::uint64_t> disks, const std::string& os = "linux") {
  VmInfo v;
  v.name = name;
  v.id = "id-" + name;
  v.state = state;
  v.vcpus = vcpus;
  v.memory_bytes = mem;
  v.guest_os = os;
  v.backend = "fake";
  for (auto size : disks) {
    DiskInfo d;
    d.device = "disk";
    d.capacity_bytes = size;
    v.disks.push_back(d);
  }
  return v;
}

TEST_F(FleetCore, InventoryRowsSummariesAndErrorRows) {
  Behaviour a;
  a.vms = {vm("web2", VmState::Running, 2, 1024, {100, 200}),
           vm("db", VmState::Off, 4, 4096, {1000}), vm("web1", VmState::Paused, 1, 512, {})};
  DiskInfo cd;
  cd.device = "cdrom";
  cd.capacity_bytes = 7777;
  a.vms[0].disks.push_back(cd);  // not counted
  Behaviour b;
  b.vms = {vm("win", VmState::Running, 8, 8192, {50}, "windows")};
  Behaviour down;
  down.throw_error = true;
  down.code = ErrorCode::Unreachable;
  std::vector<Target> targets{host("a", a), host("down", down), host("b", b)};
  targets[2].tags = {"prod", "win"};
  const auto inv = fleet::inventory(registry_, targets);
  ASSERT_EQ(inv.rows.size(), 4u);
  EXPECT_EQ(inv.rows[0].vm.name, "db");
  EXPECT_EQ(inv.rows[1].vm.name, "web1");
  EXPECT_EQ(inv.rows[2].vm.name, "web2");
  EXPECT_EQ(inv.rows[2].disk_bytes, 300u);
  EXPECT_EQ(inv.rows[2].host, "a");
  EXPECT_EQ(inv.rows[2].uri, "fake://a/");
  EXPECT_EQ(inv.rows[2].backend, "fake");
  EXPECT_EQ(inv.rows[3].vm.name, "win");
  EXPECT_EQ(inv.rows[3].host, "b");
  ASSERT_EQ(inv.hosts.size(), 3u);
  EXPECT_EQ(inv.hosts[0].vms, 3u);
  EXPECT_EQ(inv.hosts[0].running, 1u);
  EXPECT_EQ(inv.hosts[0].vcpus, 7u);
  EXPECT_EQ(inv.hosts[0].memory_bytes, 1024u + 4096u + 512u);
  EXPECT_EQ(inv.hosts[0].disk_bytes, 1300u);
  EXPECT_EQ(inv.hosts[1].report.status, HostStatus::Failed);
  EXPECT_EQ(inv.hosts[1].report.code, ErrorCode::Unreachable);
  EXPECT_EQ(inv.hosts[1].vms, 0u);
  EXPECT_EQ(inv.hosts[2].vms, 1u);
  EXPECT_FALSE(inv.complete());

  // Filtered: states pushed down, names and tags matched here.
  auto f = fleet::InventoryFilter::parse("state=RUNNING,state=paused,name=web*");
  const auto some = fleet::inventory(registry_, {targets[0], targets[2]}, f);
  ASSERT_EQ(some.rows.size(), 2u);
  EXPECT_EQ(some.rows[0].vm.name, "web1");
  EXPECT_EQ(some.rows[1].vm.name, "web2");
  EXPECT_TRUE(some.complete());
  EXPECT_EQ(some.hosts[0].vms, 2u);
  EXPECT_EQ(some.hosts[1].vms, 0u);
  const auto tagged = fleet::inventory(registry_, {targets[0], targets[2]},
                                       fleet::InventoryFilter::parse("tag=prod"));
  ASSERT_EQ(tagged.rows.size(), 1u);
  EXPECT_EQ(tagged.rows[0].vm.name, "win");
}

// --------------------------------------------------------------- filter --

TEST(InventoryFilter, ParsesTermsAndRejectsBadOnesInOneLine) {
  EXPECT_TRUE(fleet::InventoryFilter::parse("").empty());
  EXPECT_FALSE(fleet::InventoryFilter::parse("state=running,backend=vsphere,name=web*").empty());
  EXPECT_EQ(fleet::InventoryFilter::fields(),
            (std::vector<std::string>{"host", "backend", "id", "name", "state", "os", "tag"}));
  struct Bad {
    const char* text;
    const char* mention;
  } bad[] = {
      {"colour=red", "host, backend, id, name, state, os, tag"},
      {"colour=red", "'colour'"},
      {"state", "FIELD=VALUE"},
      {"name=", "empty value"},
      {"state=running,,name=x", "empty term"},
      {"state=sleeping", "running, paused, suspended, off, crashed, transitional, unknown"},
      {"state=sleeping", "'sleeping'"},
  };
  for (const auto& b : bad) {
    try {
      fleet::InventoryFilter::parse(b.text);
      ADD_FAILURE() << b.text << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << b.text;
      const std::string what = e.what();
      EXPECT_NE(what.find(b.mention), std::string::npos) << b.text << ": " << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(InventoryFilter, SameFieldMeansEitherDifferentFieldsMeanAll) {
  fleet::InventoryRow row;
  row.host = "kvm1";
  row.uri = "qemu+ssh://kvm1/system";
  row.backend = "libvirt";
  row.vm.name = "web-01";
  row.vm.id = "1234";
  row.vm.state = VmState::Running;
  row.vm.guest_os = "linux";
  const std::vector<std::string> tags{"prod", "kvm"};
  auto m = [&](const char* text) { return fleet::InventoryFilter::parse(text).matches(row, tags); };
  EXPECT_TRUE(m(""));
  EXPECT_TRUE(m("state=running"));
  EXPECT_TRUE(m("state=RUNNING"));  // states and backends ignore case
  EXPECT_TRUE(m("backend=LibVirt"));
  EXPECT_FALSE(m("name=WEB-*"));  // names do not
  EXPECT_TRUE(m("name=web-*"));
  EXPECT_TRUE(m("state=off,state=running"));
  EXPECT_FALSE(m("state=off,state=paused"));
  EXPECT_TRUE(m("state=running,name=web*,backend=libvirt"));
  EXPECT_FALSE(m("state=running,name=db*"));
  EXPECT_TRUE(m("host=kvm1"));
  EXPECT_TRUE(m("host=qemu+ssh://*"));
  EXPECT_FALSE(m("host=kvm2"));
  EXPECT_TRUE(m("tag=prod"));
  EXPECT_TRUE(m("tag=k*"));
  EXPECT_FALSE(m("tag=dev"));
  EXPECT_TRUE(m("id=12*"));
  EXPECT_TRUE(m("os=lin*"));
  EXPECT_FALSE(m("os=windows"));
}

TEST(InventoryFilter, PushdownCarriesOneNameGlobAndTheStates) {
  auto p = fleet::InventoryFilter::parse("name=web*,state=run*,backend=x").pushdown();
  EXPECT_EQ(p.name_glob, "web*");
  EXPECT_EQ(p.states, std::vector<VmState>{VmState::Running});
  p = fleet::InventoryFilter::parse("name=a*,name=b*,state=off,state=PAUSED").pushdown();
  EXPECT_TRUE(p.name_glob.empty()) << "two name globs cannot be pushed down as one";
  EXPECT_EQ(p.states, (std::vector<VmState>{VmState::Off, VmState::Paused}));
  p = fleet::InventoryFilter::parse("os=linux").pushdown();
  EXPECT_TRUE(p.name_glob.empty());
  EXPECT_TRUE(p.states.empty());
}

}  // namespace
}  // namespace hyperctl::fleet_test
