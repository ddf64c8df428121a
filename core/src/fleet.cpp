// One job on many hosts at once (hyperctl/fleet.hpp).
//
// How a run goes: the caller looks every backend up (loading plugins is not
// safe from several threads), then posts one handler per host to a Boost.Asio
// thread pool of max_in_flight threads, and waits on a condition variable.
// Each handler marks its start (its deadline counts from there), connects,
// runs the job, closes its connection and hands its result back under the
// lock. The caller reports each host as it ends and, at the earliest deadline
// of the running jobs, gives up on those that passed theirs: the host becomes
// TimedOut, its job is marked abandoned (its result will be dropped when it
// comes), and a new thread joins the pool so that the queued hosts keep their
// concurrency. What the abandoned handlers need (the registry, the job, the
// target, the shared state) is owned by them through shared pointers; the
// pool itself is handed to a reaper thread that joins it once they end.
#include "hyperctl/fleet.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "hyperctl/credentials.hpp"
#include "hyperctl/lingering.hpp"
#include "hyperctl/uri.hpp"
#include "text.hpp"

namespace hyperctl::fleet {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<std::size_t> g_abandoned{0};

enum class JobState { Queued, Running, Done, Abandoned };

struct Slot {
  JobState state = JobState::Queued;
  Clock::time_point started{};
  std::chrono::nanoseconds prompts_at_start{};  ///< prompt_wait_total() then
  milliseconds extended{0};                     ///< extend_deadline() by the job
  std::unique_ptr<LingeringWork> lingering;     ///< while abandoned and running
  bool reported = false;
  HostResult result;
};

/// What the caller and the handlers share; handlers keep it alive.
struct Shared {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Slot> slots;
};

/// The pool and the threads added to it; joined by whoever holds it last
/// outside the pool (the caller, or the reaper thread).
struct Pool {
  explicit Pool(std::size_t threads) : pool(threads) {}
  ~Pool() {
    pool.stop();
    pool.join();
    for (auto& t : extra)
      if (t.joinable()) t.join();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  boost::asio::thread_pool pool;
  std::vector<std::thread> extra;
};

// Deadlines may be as large as a caller likes (milliseconds::max() for "no
// deadline", extensions summed over many VMs): the arithmetic saturates
// instead of overflowing, which would wrap to a deadline in the past.

/// a + b, at most milliseconds::max() (both are at least 0 in practice; a
/// negative sum saturates at min() the same way).
milliseconds saturating_sum(milliseconds a, milliseconds b) {
  constexpr auto kMax = milliseconds::max().count(), kMin = milliseconds::min().count();
  if (b.count() > 0 && a.count() > kMax - b.count()) return milliseconds::max();
  if (b.count() < 0 && a.count() < kMin - b.count()) return milliseconds::min();
  return a + b;
}

/// started + allowed + prompts, at most the clock's last time point.
Clock::time_point deadline_of(Clock::time_point started, milliseconds allowed,
                              std::chrono::nanoseconds prompts) {
  const Clock::duration room = Clock::time_point::max() - started;
  // Compared in milliseconds first: converting a huge `allowed` to the
  // clock's nanoseconds would itself overflow.
  if (allowed >= std::chrono::duration_cast<milliseconds>(room)) return Clock::time_point::max();
  const auto total = std::chrono::duration_cast<Clock::duration>(allowed);
  const auto extra = std::chrono::duration_cast<Clock::duration>(prompts);
  if (extra >= room - total) return Clock::time_point::max();
  return started + total + extra;
}

std::string seconds_text(milliseconds ms) {
  const auto n = ms.count();
  if (n % 1000 == 0) return std::to_string(n / 1000) + " s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(n) / 1000.0);
  return buf;
}

void fail_report(HostReport& r, const Error& e) {
  // A backend that gave up on its own (a connect timeout) timed out too.
  r.status = e.code() == ErrorCode::Timeout ? HostStatus::TimedOut : HostStatus::Failed;
  r.code = e.code();
  r.message = e.what();
  r.detail = e.detail();
}

/// The job running on this thread, for extend_deadline().
thread_local Shared* t_shared = nullptr;
thread_local std::size_t t_index = 0;

/// Runs on a pool thread: connect, job, close. Never throws.
void run_one(const std::shared_ptr<Shared>& shared, std::size_t index, Backend& backend,
             const Uri& uri, const Target& target, const Job& job) {
  Clock::time_point started;
  {
    std::lock_guard lock(shared->mutex);
    Slot& slot = shared->slots[index];
    slot.state = JobState::Running;
    slot.started = started = Clock::now();
    slot.prompts_at_start = prompt_wait_total();
  }
  shared->changed.notify_all();
  t_shared = shared.get();
  t_index = index;

  HostResult result;
  result.report.name = target.name;
  result.report.uri = target.uri;
  result.report.backend = backend.name();
  try {
    ConnectOptions options = target.options;
    options.timeout = std::min(options.timeout, target.deadline);
    std::unique_ptr<Connection> conn = backend.connect(uri, options);
    if (!conn)
      throw Error(ErrorCode::Internal, "the " + backend.name() + " backend returned no connection",
                  "connect");
    result.value = job(*conn, target);
    conn.reset();  // closed here, on this thread
    result.report.status = HostStatus::Ok;
  } catch (const Error& e) {
    fail_report(result.report, e);
  } catch (const std::exception& e) {
    result.report.status = HostStatus::Failed;
    result.report.code = ErrorCode::Internal;
    result.report.message = std::string("internal error: ") + e.what();
  } catch (...) {
    result.report.status = HostStatus::Failed;
    result.report.code = ErrorCode::Internal;
    result.report.message = "internal error: unknown exception";
  }
  result.report.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  t_shared = nullptr;

  bool abandoned = false;
  {
    std::lock_guard lock(shared->mutex);
    Slot& slot = shared->slots[index];
    if (slot.state == JobState::Abandoned) {
      abandoned = true;  // already reported as TimedOut: drop what came late
      slot.lingering.reset();
    } else {
      slot.result = std::move(result);
      slot.state = JobState::Done;
    }
  }
  if (abandoned)
    g_abandoned.fetch_sub(1);
  else
    shared->changed.notify_all();
}

}  // namespace

const char* to_string(HostStatus status) {
  switch (status) {
    case HostStatus::Ok:
      return "ok";
    case HostStatus::Failed:
      return "error";
    case HostStatus::TimedOut:
      return "timeout";
  }
  return "error";
}

void extend_deadline(milliseconds more) {
  if (!t_shared) return;
  {
    std::lock_guard lock(t_shared->mutex);
    Slot& slot = t_shared->slots[t_index];
    if (slot.state == JobState::Running) slot.extended = saturating_sum(slot.extended, more);
  }
  t_shared->changed.notify_all();
}

std::size_t abandoned_jobs() {
  return g_abandoned.load();
}

std::vector<HostResult> run_on_hosts(std::shared_ptr<Registry> registry,
                                     const std::vector<Target>& targets, const Job& job,
                                     const RunOptions& options, const OnHostDone& on_done) {
  if (!registry) throw Error(ErrorCode::Internal, "run_on_hosts needs a registry", "fleet.run");
  auto shared = std::make_shared<Shared>();
  shared->slots.resize(targets.size());
  auto job_copy = std::make_shared<const Job>(job);

  // Backends first, on this thread: a bad URI or an unknown scheme is a
  // Failed report without any job.
  struct Work {
    std::size_t index;
    Backend* backend;
    Uri uri;
  };
  std::vector<Work> work;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    HostResult& r = shared->slots[i].result;
    r.report.name = targets[i].name;
    r.report.uri = targets[i].uri;
    try {
      Uri uri = Uri::parse(targets[i].uri);
      r.report.backend = builtin_plugin_for_scheme(uri.scheme);
      Backend& backend = registry->backend_for(uri.scheme);
      r.report.backend = backend.name();
      work.push_back({i, &backend, std::move(uri)});
    } catch (const Error& e) {
      fail_report(r.report, e);
      shared->slots[i].state = JobState::Done;
    } catch (const std::exception& e) {
      r.report.status = HostStatus::Failed;
      r.report.code = ErrorCode::Internal;
      r.report.message = std::string("internal error: ") + e.what();
      shared->slots[i].state = JobState::Done;
    }
  }

  std::unique_ptr<Pool> pool;
  if (!work.empty()) {
    const std::size_t threads = std::clamp<std::size_t>(options.max_in_flight, 1, work.size());
    pool = std::make_unique<Pool>(threads);
    for (auto& w : work) {
      auto target = std::make_shared<const Target>(targets[w.index]);
      boost::asio::post(pool->pool, [shared, registry, job_copy, target, index = w.index,
                                     backend = w.backend, uri = std::move(w.uri)] {
        run_one(shared, index, *backend, uri, *target, *job_copy);
      });
    }
  }

  // Wait, report, and abandon at the deadlines.
  std::size_t reported = 0, abandoned_here = 0;
  std::exception_ptr callback_error;
  std::unique_lock lock(shared->mutex);
  while (reported < targets.size()) {
    std::vector<std::size_t> ended;
    std::optional<Clock::time_point> next;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < targets.size(); ++i) {
      Slot& slot = shared->slots[i];
      if (slot.reported) continue;
      if (slot.state == JobState::Running) {
        // The time someone spent at a password prompt meanwhile is the
        // user's, not the host's: the deadline moves by it.
        const auto deadline =
            deadline_of(slot.started, saturating_sum(targets[i].deadline, slot.extended),
                        prompt_wait_total() - slot.prompts_at_start);
        if (now >= deadline) {
          slot.state = JobState::Abandoned;
          slot.lingering = std::make_unique<LingeringWork>();
          HostReport& r = slot.result.report;
          r.name = targets[i].name;
          r.uri = targets[i].uri;
          r.status = HostStatus::TimedOut;
          r.code = ErrorCode::Timeout;
          const milliseconds allowed = saturating_sum(targets[i].deadline, slot.extended);
          r.message = "host " + targets[i].name + " did not finish within " + seconds_text(allowed);
          r.detail.clear();
          r.elapsed = allowed;
          slot.result.value.reset();
          g_abandoned.fetch_add(1);
          ++abandoned_here;
          // Its thread is stuck: another one takes its place in the pool.
          auto* p = &pool->pool;
          pool->extra.emplace_back([p] { p->attach(); });
        } else if (!next || deadline < *next) {
          next = deadline;
        }
      }
      if (slot.state == JobState::Done || slot.state == JobState::Abandoned) {
        slot.reported = true;
        ended.push_back(i);
      }
    }
    if (!ended.empty()) {
      reported += ended.size();
      if (on_done && !callback_error) {
        // Reported results no longer change: call back without the lock. A
        // callback that throws is not called again; its exception leaves
        // once the pool is dealt with (never while jobs still run here).
        lock.unlock();
        try {
          for (std::size_t i : ended) on_done(shared->slots[i].result);
        } catch (...) {
          callback_error = std::current_exception();
        }
        lock.lock();
      }
      continue;
    }
    if (next)
      shared->changed.wait_until(lock, *next);
    else
      shared->changed.wait(lock);
  }

  std::vector<HostResult> results;
  results.reserve(targets.size());
  for (auto& slot : shared->slots) {
    if (slot.state == JobState::Abandoned)
      results.push_back(slot.result);  // the late handler never touches it
    else
      results.push_back(std::move(slot.result));
  }
  lock.unlock();

  if (pool) {
    // Every job has started (a deadline only runs once a job does), so no
    // work is queued: stopping lets idle threads go. Abandoned handlers end
    // when their call returns; a reaper thread joins the pool after them.
    pool->pool.stop();
    if (abandoned_here > 0)
      std::thread([p = std::move(pool)]() mutable { p.reset(); }).detach();
    else
      pool.reset();
  }
  if (callback_error) std::rethrow_exception(callback_error);
  return results;
}

// ------------------------------------------------------------ inventory --

namespace {

const std::vector<std::string> kFields = {"host", "backend", "id", "name", "state", "os", "tag"};

bool glob_match(const std::string& pattern, const std::string& text, bool fold) {
  return fnmatch(pattern.c_str(), text.c_str(), fold ? FNM_CASEFOLD : 0) == 0;
}

constexpr VmState kAllStates[] = {VmState::Running, VmState::Paused,  VmState::Suspended,
                                  VmState::Off,     VmState::Crashed, VmState::Transitional,
                                  VmState::Unknown};

std::string state_names() {
  std::string s;
  for (VmState st : kAllStates) {
    if (!s.empty()) s += ", ";
    s += std::string(to_string(st));
  }
  return s;
}

std::string field_names() {
  std::string s;
  for (const auto& f : kFields) {
    if (!s.empty()) s += ", ";
    s += f;
  }
  return s;
}

}  // namespace

const std::vector<std::string>& InventoryFilter::fields() {
  return kFields;
}

InventoryFilter InventoryFilter::parse(const std::string& text) {
  InventoryFilter f;
  if (text::trim(text).empty()) return f;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = text.find(',', pos);
    const std::string term =
        text::trim(text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (term.empty())
      throw Error(ErrorCode::InvalidArgument,
                  "filter: empty term in '" + text + "' (terms are FIELD=VALUE, comma-separated)",
                  "inventory.filter");
    const auto eq = term.find('=');
    if (eq == std::string::npos)
      throw Error(ErrorCode::InvalidArgument,
                  "filter: '" + term + "' is not FIELD=VALUE (fields: " + field_names() + ")",
                  "inventory.filter");
    const std::string field = text::trim(term.substr(0, eq));
    const std::string value = text::trim(term.substr(eq + 1));
    if (std::find(kFields.begin(), kFields.end(), field) == kFields.end())
      throw Error(ErrorCode::InvalidArgument,
                  "filter: unknown field '" + field + "' (fields: " + field_names() + ")",
                  "inventory.filter");
    if (value.empty())
      throw Error(ErrorCode::InvalidArgument, "filter: '" + field + "' has an empty value",
                  "inventory.filter");
    if (field == "state") {
      bool any = false;
      for (VmState st : kAllStates)
        any = any || glob_match(value, std::string(to_string(st)), true);
      if (!any)
        throw Error(
            ErrorCode::InvalidArgument,
            "filter: no VM can be in the state '" + value + "' (states: " + state_names() + ")",
            "inventory.filter");
    }
    f.terms_.emplace_back(field, value);
  }
  return f;
}

bool InventoryFilter::matches(const InventoryRow& row, const std::vector<std::string>& tags) const {
  // Fields named in the filter, each matched by any of its values.
  for (const auto& field : kFields) {
    bool named = false, matched = false;
    for (const auto& [f, value] : terms_) {
      if (f != field) continue;
      named = true;
      if (matched) continue;
      if (field == "host")
        matched = glob_match(value, row.host, false) || glob_match(value, row.uri, false);
      else if (field == "backend")
        matched = glob_match(value, row.backend.empty() ? row.vm.backend : row.backend, true);
      else if (field == "id")
        matched = glob_match(value, row.vm.id, false);
      else if (field == "name")
        matched = glob_match(value, row.vm.name, false);
      else if (field == "state")
        matched = glob_match(value, std::string(to_string(row.vm.state)), true);
      else if (field == "os")
        matched = glob_match(value, row.vm.guest_os, false);
      else if (field == "tag")
        // An init-capture: clang 14 cannot capture a structured binding.
        matched = std::any_of(tags.begin(), tags.end(), [&pattern = value](const std::string& t) {
          return glob_match(pattern, t, false);
        });
    }
    if (named && !matched) return false;
  }
  return true;
}

VmFilter InventoryFilter::pushdown() const {
  VmFilter vf;
  std::vector<std::string> names;
  bool any_state = false;
  for (const auto& [f, value] : terms_) {
    if (f == "name") names.push_back(value);
    if (f != "state") continue;
    any_state = true;
    for (VmState st : kAllStates) {
      if (glob_match(value, std::string(to_string(st)), true) &&
          std::find(vf.states.begin(), vf.states.end(), st) == vf.states.end())
        vf.states.push_back(st);
    }
  }
  if (!any_state) vf.states.clear();
  if (names.size() == 1) vf.name_glob = names.front();
  return vf;
}

bool Inventory::complete() const {
  return std::all_of(hosts.begin(), hosts.end(),
                     [](const HostSummary& h) { return h.report.status == HostStatus::Ok; });
}

Inventory inventory(std::shared_ptr<Registry> registry, const std::vector<Target>& targets,
                    const InventoryFilter& filter, const RunOptions& options,
                    const OnHostDone& on_done) {
  const VmFilter pushed = filter.pushdown();
  const Job job = [pushed](Connection& conn, const Target&) -> std::any {
    return conn.vms().list(pushed);
  };
  auto results = run_on_hosts(std::move(registry), targets, job, options, on_done);

  Inventory inv;
  inv.hosts.reserve(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    HostSummary summary;
    summary.report = results[i].report;
    if (summary.report.status == HostStatus::Ok) {
      auto* vms = std::any_cast<std::vector<VmInfo>>(&results[i].value);
      std::vector<InventoryRow> rows;
      if (vms) {
        for (auto& vm : *vms) {
          InventoryRow row;
          row.host = targets[i].name;
          row.uri = targets[i].uri;
          row.backend = summary.report.backend.empty() ? vm.backend : summary.report.backend;
          row.vm = std::move(vm);
          row.disk_bytes = disk_bytes_of(row.vm);
          if (!filter.matches(row, targets[i].tags)) continue;
          rows.push_back(std::move(row));
        }
      }
      std::stable_sort(rows.begin(), rows.end(), [](const InventoryRow& a, const InventoryRow& b) {
        return a.vm.name < b.vm.name;
      });
      for (auto& row : rows) {
        ++summary.vms;
        if (row.vm.state == VmState::Running) ++summary.running;
        summary.vcpus += row.vm.vcpus;
        summary.memory_bytes += row.vm.memory_bytes;
        summary.disk_bytes += row.disk_bytes;
        inv.rows.push_back(std::move(row));
      }
    }
    inv.hosts.push_back(std::move(summary));
  }
  return inv;
}

}  // namespace hyperctl::fleet
