// Fleet operations: one job on many hosts at once, and the inventory built
// on it. Each host gets its own connection, opened and used on a thread of a
// Boost.Asio thread pool (a Connection is used from one thread at a time);
// at most `max_in_flight` hosts are worked on at once; each host has its own
// deadline, counted from the moment its job starts (connecting included),
// leaving out the time the user spends at a password prompt meanwhile.
//
// A host whose job fails becomes a Failed report with the error (TimedOut
// when the error is ErrorCode::Timeout: a backend that gave up by itself);
// one that passes its deadline becomes a TimedOut report at the deadline, whatever it
// is blocked in (a libvirt call to a daemon that never answers cannot be
// interrupted): its job is abandoned, its thread replaced so that the other
// hosts keep their concurrency, and whatever it returns later is dropped.
// run_on_hosts() therefore never waits for a stalled host beyond its
// deadline, and never loses the result of a host that answered.
//
// An abandoned job keeps the Registry (shared_ptr) and its plugin alive
// until it ends, and counts as lingering work (hyperctl/lingering.hpp): a
// program that must exit meanwhile leaves with _exit() after flushing its
// output, since running static destructors under a thread still inside a
// backend library is not safe.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hyperctl/backend.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::fleet {

/// One host to work on.
struct Target {
  std::string name;  ///< connection name; the URI for an unnamed one
  std::string uri;
  std::vector<std::string> tags;
  ConnectOptions options;  ///< user, secret; timeout is set to min(timeout, deadline)
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};
};

struct RunOptions {
  std::size_t max_in_flight = 8;
};

enum class HostStatus { Ok, Failed, TimedOut };
/// "ok", "error", "timeout".
const char* to_string(HostStatus status);

struct HostReport {
  std::string name;
  std::string uri;
  std::string backend;  ///< plugin name; "" when the scheme has none
  HostStatus status = HostStatus::Ok;
  ErrorCode code = ErrorCode::Internal;  ///< meaningful unless Ok
  std::string message;                   ///< Error::what() unless Ok
  std::string detail;                    ///< Error::detail() (for --debug)
  std::chrono::milliseconds elapsed{0};
};

/// A host's report and, when Ok, what its job returned.
struct HostResult {
  HostReport report;
  std::any value;
};

/// What runs on one host: the connection is open; the return value is kept.
using Job = std::function<std::any(Connection& connection, const Target& target)>;
/// Called on the caller's thread as each host ends (any order).
using OnHostDone = std::function<void(const HostResult& result)>;

/// Runs `job` on every target; returns one result per target, in the order
/// of `targets`. Backends are looked up (plugins loaded) on the calling
/// thread first; an unknown scheme is a Failed report. Exceptions other than
/// Error become Failed with ErrorCode::Internal.
std::vector<HostResult> run_on_hosts(std::shared_ptr<Registry> registry,
                                     const std::vector<Target>& targets, const Job& job,
                                     const RunOptions& options = {},
                                     const OnHostDone& on_done = {});

/// From inside a job, on its own thread: moves this host's deadline `more`
/// later, for a job that learns how much work it has only once it runs (a
/// shutdown of each VM found may take its whole timeout). Outside a job, or
/// once the job has been abandoned, it does nothing.
void extend_deadline(std::chrono::milliseconds more);

/// Jobs abandoned at their deadline that have not ended yet (process-wide).
std::size_t abandoned_jobs();

/// One VM in the inventory.
struct InventoryRow {
  std::string host;  ///< Target::name
  std::string uri;
  std::string backend;
  VmInfo vm;
  std::uint64_t disk_bytes = 0;  ///< disk_bytes_of(vm): its disks, or what the backend counts
};

/// Per-host totals (`inventory --summary`), and the report of every host.
struct HostSummary {
  HostReport report;
  std::size_t vms = 0, running = 0;
  std::uint64_t vcpus = 0, memory_bytes = 0, disk_bytes = 0;
};

/// --filter FIELD=VALUE,...: the same field given twice means either value;
/// different fields must all match. Values are shell-style globs compared
/// case-insensitively for state and backend, case-sensitively otherwise.
class InventoryFilter {
 public:
  /// The fields a filter may name: host, backend, id, name, state, os, tag.
  static const std::vector<std::string>& fields();
  /// Parses "state=running,backend=vsphere,name=web*". Throws
  /// Error(InvalidArgument) for an unknown field (listing the known ones), a
  /// term without '=', an empty value, or a state no VM can be in.
  static InventoryFilter parse(const std::string& text);

  bool empty() const { return terms_.empty(); }
  /// Whether `row` (from a host with `tags`) matches.
  bool matches(const InventoryRow& row, const std::vector<std::string>& tags) const;
  /// A VmFilter a backend can apply itself (the name glob, when exactly one
  /// was given, and the states), so that less crosses the network.
  VmFilter pushdown() const;

 private:
  std::vector<std::pair<std::string, std::string>> terms_;
};

struct Inventory {
  std::vector<InventoryRow> rows;  ///< hosts in target order, VMs by name
  std::vector<HostSummary> hosts;  ///< one per target, in target order
  bool complete() const;           ///< every host Ok
};

/// Lists the VMs of every target concurrently (VmOps::list with the
/// filter's pushdown, then the filter).
Inventory inventory(std::shared_ptr<Registry> registry, const std::vector<Target>& targets,
                    const InventoryFilter& filter = {}, const RunOptions& options = {},
                    const OnHostDone& on_done = {});

}  // namespace hyperctl::fleet
