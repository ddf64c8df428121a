// The skeleton backend: a complete hyperctl plugin in one file, meant to be
// copied. Its "hypervisor" is a folder: the URI skeleton:///ABSOLUTE/DIR
// names it, and each VM is one JSON file DIR/NAME.json holding its id, name,
// state, vCPUs and memory. Nothing runs; a VM's state is what its file says,
// so every process that opens the same URI sees the same VMs (two hyperctl
// invocations see each other's changes).
//
// What every backend has to write, in the order it appears below:
//   1. the operations it offers, declared once (capabilities);
//   2. the translation of every native failure into hyperctl::Error;
//   3. checks on every name that becomes part of a native request (here: a
//      file name), so hostile input cannot escape the folder;
//   4. one OperationGroup subclass per group it implements (here only VmOps);
//   5. a Connection that hands those groups out;
//   6. a Backend that names itself, its schemes and opens Connections;
//   7. the entry point: HYPERCTL_PLUGIN(factory), at global scope.
// Read docs/plugins.md (the ABI contract) next to it.
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

// The SDK headers: plugin.hpp brings backend.hpp, connection.hpp, types.hpp,
// capabilities.hpp and uri.hpp; error.hpp and escape.hpp are the other two a
// backend usually needs.
#include <hyperctl/error.hpp>
#include <hyperctl/escape.hpp>
#include <hyperctl/plugin.hpp>

// Everything lives in a namespace of its own. The plugin is built with
// hidden visibility (hyperctl_add_backend does it), so none of these names is
// visible outside the library; only the two HYPERCTL_PLUGIN entry points are.
namespace skeleton {

namespace fs = std::filesystem;
using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::Operation;
using hyperctl::VmInfo;
using hyperctl::VmRef;
using hyperctl::VmState;

// The backend's name: the plugin file must be libhyperctl-skeleton.so, and
// every Error and VmInfo says "skeleton".
constexpr const char* kName = "skeleton";

// ---------------------------------------------------------------------------
// 1. Capabilities. One flag per operation this backend implements, and not
// one more: `hyperctl backends` prints this set, and the conformance suite
// calls every operation, expecting a declared one to work and an undeclared
// one to throw ErrorCode::Unsupported. Keep this list and the overrides in
// SkeletonVms below in step.
hyperctl::Capabilities declared_capabilities() {
  return {Operation::VmList,         Operation::VmGet,         Operation::VmCreate,
          Operation::VmStart,        Operation::VmShutdown,    Operation::VmPowerOff,
          Operation::VmSuspend,      Operation::VmResume,      Operation::VmDelete,
          Operation::VmSetResources, Operation::VmExportConfig};
}

// ---------------------------------------------------------------------------
// 2. Errors. Only hyperctl::Error may leave the plugin. Each failure gets the
// ErrorCode that tells the user what to do (NotFound, Conflict, ...), a
// one-line message for the user, the operation ("vm.start") and, in detail,
// the native message (shown with --debug).

// A user-supplied string inside a message: quoted, with control characters
// made visible so a hostile name cannot rewrite the user's terminal.
std::string in_quotes(const std::string& text) {
  return "'" + hyperctl::escape::terminal_text(text) + "'";
}

// A failed system call: the errno text goes into the detail.
[[noreturn]] void fail_errno(const std::string& message, const std::string& op, int err) {
  throw Error(ErrorCode::BackendFailure, message, op, std::strerror(err));
}

// The safety net around every operation: whatever slipped through the
// precise translations below becomes an Error here. (The registry and the
// CLI have their own nets, but a backend must not rely on them: a foreign
// exception reaches the user as "internal error", without a code.)
template <typename Fn>
auto guarded(const char* op, Fn&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error&) {
    throw;  // already translated
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BackendFailure, "the skeleton backend met a malformed VM file", op,
                e.what());
  } catch (const fs::filesystem_error& e) {
    throw Error(ErrorCode::BackendFailure, "the skeleton backend could not use its folder", op,
                e.what());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::BackendFailure, "the skeleton backend ran out of memory", op);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Internal, "the skeleton backend failed unexpectedly", op, e.what());
  }
}

// ---------------------------------------------------------------------------
// 3. Names. A VM name becomes the file name DIR/NAME.json, so a name must
// never be able to reach outside DIR or clash with the backend's own files.
// Refused, with InvalidArgument: empty names, '/', a leading '.' (which
// covers "." and "..", and keeps the lock and temporary files, which start
// with '.', out of the VM namespace), control characters, invalid UTF-8, and
// names too long for a file name. Everything else is kept byte for byte.
void check_name(const std::string& name, const std::string& op) {
  auto refuse = [&](const std::string& why) {
    throw Error(ErrorCode::InvalidArgument, "invalid VM name " + in_quotes(name) + ": " + why, op);
  };
  if (name.empty()) refuse("it is empty");
  if (name.size() > 200) refuse("it is longer than 200 bytes");
  if (name.front() == '.') refuse("it starts with '.'");
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/') refuse("it contains '/'");
    if (byte < 0x20 || byte == 0x7f) refuse("it contains a control character");
  }
  if (!hyperctl::escape::valid_utf8(name)) refuse("it is not valid UTF-8");
}

// vCPUs and memory: what a real hypervisor would refuse, this one refuses
// too, before anything is written.
void check_resources(unsigned vcpus, std::uint64_t memory_bytes, const std::string& op) {
  if (vcpus < 1 || vcpus > 1024)
    throw Error(ErrorCode::InvalidArgument,
                "vCPUs must be between 1 and 1024, not " + std::to_string(vcpus), op);
  if (memory_bytes < (1ull << 20))
    throw Error(ErrorCode::InvalidArgument, "memory must be at least 1 MiB", op);
}

// A new stable id: a random (version 4) UUID, as libvirt and Hyper-V use.
std::string new_id() {
  std::random_device device;
  std::mt19937_64 gen((static_cast<std::uint64_t>(device()) << 32) ^ device());
  std::uniform_int_distribution<int> nibble(0, 15);
  const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) {
    int v = nibble(gen);
    if (i == 12) v = 4;            // version 4
    if (i == 16) v = 8 | (v & 3);  // variant 10xx
    if (i == 8 || i == 12 || i == 16 || i == 20) id += '-';
    id += hex[v];
  }
  return id;
}

// ---------------------------------------------------------------------------
// The "hypervisor": a folder of JSON files. This part is what a real backend
// replaces with calls to its platform's API.

// Holds a flock() on DIR/.lock for one operation: shared for reads,
// exclusive for changes. It serialises processes (two CLI invocations) and
// connections within one process alike, because each DirLock opens the file
// anew. Closing the descriptor releases the lock.
class DirLock {
 public:
  DirLock(const fs::path& dir, bool exclusive, const std::string& op) {
    const fs::path file = dir / ".lock";
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail_errno("cannot open " + in_quotes(file.string()), op, errno);
    while (::flock(fd_, exclusive ? LOCK_EX : LOCK_SH) != 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ::close(fd_);
      fail_errno("cannot lock " + in_quotes(file.string()), op, err);
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// Reads, writes and removes VM files. Every method expects its caller to
// hold the DirLock.
class Store {
 public:
  Store(fs::path dir, bool read_only) : dir_(std::move(dir)), read_only_(read_only) {}

  const fs::path& dir() const { return dir_; }

  // Refuses changes on a read-only connection (ConnectOptions::read_only),
  // with the code libvirt's "operation denied" maps to.
  void check_writable(const std::string& op) const {
    if (read_only_)
      throw Error(ErrorCode::AuthFailed,
                  "the connection to " + in_quotes(dir_.string()) + " is read-only", op);
  }

  fs::path file_of(const std::string& name) const { return dir_ / (name + ".json"); }

  // Every VM, sorted by name. A file that is not a valid VM is an error
  // naming the file, not something to skip silently.
  std::vector<VmInfo> all(const std::string& op) const {
    std::vector<VmInfo> vms;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string file = entry.path().filename().string();
      if (file.front() == '.' || entry.path().extension() != ".json") continue;
      if (!entry.is_regular_file()) continue;
      vms.push_back(read(entry.path(), op));
    }
    std::sort(vms.begin(), vms.end(),
              [](const VmInfo& a, const VmInfo& b) { return a.name < b.name; });
    return vms;
  }

  // The VM a reference names: an exact id match wins over a name (the rule
  // VmRef documents), then the name, if it is a valid one.
  std::optional<VmInfo> find(const VmRef& ref, const std::string& op) const {
    if (ref.value.empty()) throw Error(ErrorCode::InvalidArgument, "no VM named (empty name)", op);
    for (auto& vm : all(op))
      if (vm.id == ref.value) return vm;
    try {
      check_name(ref.value, op);
    } catch (const Error&) {
      return std::nullopt;  // not a valid name, so no file can have it
    }
    const fs::path file = file_of(ref.value);
    if (!fs::is_regular_file(file)) return std::nullopt;
    return read(file, op);
  }

  // find(), or Error(NotFound) naming the VM and the folder.
  VmInfo require(const VmRef& ref, const std::string& op) const {
    if (auto vm = find(ref, op)) return *vm;
    throw Error(ErrorCode::NotFound,
                "VM " + in_quotes(ref.value) + " not found in " + in_quotes(dir_.string()), op);
  }

  // Writes the VM's file atomically: into a temporary file first, then
  // renamed over the old one, so a crash never leaves half a file.
  void write(const VmInfo& vm, const std::string& op) const {
    const nlohmann::json doc = {
        {"id", vm.id},
        {"name", vm.name},
        {"state", std::string(hyperctl::to_string(vm.state))},
        {"vcpus", vm.vcpus},
        {"memory", vm.memory_bytes},
    };
    const fs::path final_file = file_of(vm.name);
    const fs::path temp = dir_ / ("." + vm.name + ".json.tmp" + std::to_string(::getpid()));
    {
      std::ofstream out(temp, std::ios::trunc);
      out << doc.dump(2) << '\n';
      out.close();
      if (!out) {
        const int err = errno;
        std::error_code ignored;
        fs::remove(temp, ignored);
        fail_errno("cannot write " + in_quotes(temp.string()), op, err);
      }
    }
    if (::rename(temp.c_str(), final_file.c_str()) != 0) {
      const int err = errno;
      std::error_code ignored;
      fs::remove(temp, ignored);
      fail_errno("cannot write " + in_quotes(final_file.string()), op, err);
    }
  }

  void erase(const VmInfo& vm, const std::string& op) const {
    const fs::path file = file_of(vm.name);
    if (::unlink(file.c_str()) != 0)
      fail_errno("cannot delete " + in_quotes(file.string()), op, errno);
  }

 private:
  // Parses one VM file, translating every way it can be wrong into an Error
  // that names the file (the precise translation; guarded() is the net).
  VmInfo read(const fs::path& file, const std::string& op) const {
    auto broken = [&](const std::string& why) -> Error {
      return Error(ErrorCode::BackendFailure, "VM file " + in_quotes(file.string()) + " is broken",
                   op, why);
    };
    std::ifstream in(file);
    if (!in) fail_errno("cannot read " + in_quotes(file.string()), op, errno);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw broken(e.what());
    }
    VmInfo vm;
    try {
      vm.id = doc.at("id").get<std::string>();
      vm.name = doc.at("name").get<std::string>();
      vm.vcpus = doc.at("vcpus").get<unsigned>();
      vm.memory_bytes = doc.at("memory").get<std::uint64_t>();
      const auto state = hyperctl::parse_vm_state(doc.at("state").get<std::string>());
      if (!state) throw broken("unknown state " + doc.at("state").dump());
      vm.state = *state;
    } catch (const nlohmann::json::exception& e) {
      throw broken(e.what());
    }
    if (vm.name + ".json" != file.filename().string())
      throw broken("it names the VM " + in_quotes(vm.name));
    vm.state_reason = std::string(hyperctl::to_string(vm.state));
    vm.max_memory_bytes = vm.memory_bytes;
    vm.backend = kName;
    vm.persistent = true;
    vm.extras["file"] = file.string();
    return vm;
  }

  fs::path dir_;
  bool read_only_;
};

// ---------------------------------------------------------------------------
// 4. The operation groups. connection.hpp has one class per concern (VmOps,
// SnapshotOps, StorageOps, NetworkOps, MigrationOps, HostOps); every method
// there throws Unsupported by default. A backend overrides the methods it
// declared in step 1, and nothing else.
class SkeletonVms final : public hyperctl::VmOps {
 public:
  // The base class wants the backend name, for its Unsupported messages.
  explicit SkeletonVms(const Store& store) : VmOps(kName), store_(store) {}

  std::vector<VmInfo> list(const hyperctl::VmFilter& filter) override {
    return guarded("vm.list", [&] {
      DirLock lock(store_.dir(), false, "vm.list");
      std::vector<VmInfo> out;
      for (auto& vm : store_.all("vm.list")) {
        const bool state_ok =
            filter.states.empty() ||
            std::find(filter.states.begin(), filter.states.end(), vm.state) != filter.states.end();
        const bool name_ok = filter.name_glob.empty() ||
                             ::fnmatch(filter.name_glob.c_str(), vm.name.c_str(), 0) == 0;
        if (state_ok && name_ok) out.push_back(std::move(vm));
      }
      return out;
    });
  }

  VmInfo get(const VmRef& ref) override {
    return guarded("vm.get", [&] {
      DirLock lock(store_.dir(), false, "vm.get");
      return store_.require(ref, "vm.get");
    });
  }

  // A spec asks for things this hypervisor does not have (disks, networks,
  // firmware): refused with InvalidArgument rather than silently dropped.
  VmInfo create(const hyperctl::VmSpec& spec) override {
    const std::string op = "vm.create";
    return guarded("vm.create", [&] {
      check_name(spec.name, op);
      check_resources(spec.vcpus, spec.memory_bytes, op);
      if (!spec.disks.empty() || !spec.networks.empty() || !spec.firmware.empty() ||
          !spec.extras.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "the skeleton backend has no disks, networks, firmware or create options", op);
      store_.check_writable(op);
      DirLock lock(store_.dir(), true, op);
      if (fs::exists(store_.file_of(spec.name)))
        throw Error(ErrorCode::AlreadyExists, "a VM named " + in_quotes(spec.name) + " exists", op);
      VmInfo vm;
      vm.id = new_id();
      vm.name = spec.name;
      vm.state = VmState::Off;
      vm.vcpus = spec.vcpus;
      vm.memory_bytes = spec.memory_bytes;
      store_.write(vm, op);
      return store_.require(vm.id, op);
    });
  }

  // The state machine, one transition per call: from the states listed to
  // `to`; any other state is Error(Conflict) saying what the state is.
  void start(const VmRef& ref) override {
    transition(ref, "vm.start", {VmState::Off}, VmState::Running, "start");
  }
  void power_off(const VmRef& ref) override {
    transition(ref, "vm.poweroff", {VmState::Running, VmState::Paused}, VmState::Off, "power off");
  }
  void suspend(const VmRef& ref) override {
    transition(ref, "vm.suspend", {VmState::Running}, VmState::Paused, "suspend");
  }
  void resume(const VmRef& ref) override {
    transition(ref, "vm.resume", {VmState::Paused}, VmState::Running, "resume");
  }

  // A graceful shutdown that always succeeds at once: the "guest" obeys. It
  // still honours the contract: cancelled before it starts, the VM stays
  // running; an already stopped VM is reported as such.
  hyperctl::ShutdownOutcome shutdown(const VmRef& ref, const hyperctl::ShutdownOptions&,
                                     const hyperctl::ProgressFn& progress,
                                     const hyperctl::CancelToken& cancel) override {
    const std::string op = "vm.shutdown";
    return guarded("vm.shutdown", [&] {
      store_.check_writable(op);
      DirLock lock(store_.dir(), true, op);
      VmInfo vm = store_.require(ref, op);
      if (vm.state == VmState::Off) return hyperctl::ShutdownOutcome::AlreadyOff;
      if (cancel.cancelled())
        throw Error(ErrorCode::Cancelled, "shutdown of " + in_quotes(vm.name) + " cancelled", op);
      vm.state = VmState::Off;
      store_.write(vm, op);
      if (progress) {
        hyperctl::Progress step;
        step.phase = "shutdown";
        step.done = step.total = 1;
        progress(step);
      }
      return hyperctl::ShutdownOutcome::Stopped;
    });
  }

  // vm.delete is declared, vm.delete-storage is not: with_storage goes to the
  // base class's unsupported(), the one place that words that error.
  // The skeleton has no snapshots and no storage, so nothing is kept.
  hyperctl::DeleteReport remove(const VmRef& ref, const hyperctl::DeleteOptions& options) override {
    if (options.with_storage) unsupported(Operation::VmDeleteWithStorage);
    const std::string op = "vm.delete";
    guarded("vm.delete", [&] {
      store_.check_writable(op);
      DirLock lock(store_.dir(), true, op);
      const VmInfo vm = store_.require(ref, op);
      if (vm.state != VmState::Off && !options.force)
        throw Error(ErrorCode::Conflict,
                    "VM " + in_quotes(vm.name) + " is " +
                        std::string(hyperctl::to_string(vm.state)) +
                        "; power it off first or use --force",
                    op);
      store_.erase(vm, op);
    });
    return {};
  }

  // Unset fields are left alone. `live` needs no special case: a running
  // VM's "configuration" and "live state" are the same file here.
  VmInfo set_resources(const VmRef& ref, const hyperctl::ResourceSettings& settings) override {
    const std::string op = "vm.set";
    return guarded("vm.set", [&] {
      store_.check_writable(op);
      DirLock lock(store_.dir(), true, op);
      VmInfo vm = store_.require(ref, op);
      check_resources(settings.vcpus.value_or(vm.vcpus),
                      settings.memory_bytes.value_or(vm.memory_bytes), op);
      vm.vcpus = settings.vcpus.value_or(vm.vcpus);
      vm.memory_bytes = settings.memory_bytes.value_or(vm.memory_bytes);
      store_.write(vm, op);
      return store_.require(vm.id, op);
    });
  }

  // The native configuration is the VM's file itself.
  std::string export_config(const VmRef& ref) override {
    const std::string op = "vm.export-config";
    return guarded("vm.export-config", [&] {
      DirLock lock(store_.dir(), false, op);
      const VmInfo vm = store_.require(ref, op);
      std::ifstream in(store_.file_of(vm.name));
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in && !in.eof()) fail_errno("cannot read the file of " + in_quotes(vm.name), op, errno);
      return text;
    });
  }

 private:
  void transition(const VmRef& ref, const std::string& op, std::initializer_list<VmState> from,
                  VmState to, const std::string& verb) {
    guarded(op.c_str(), [&] {
      store_.check_writable(op);
      DirLock lock(store_.dir(), true, op);
      VmInfo vm = store_.require(ref, op);
      if (std::find(from.begin(), from.end(), vm.state) == from.end())
        throw Error(ErrorCode::Conflict,
                    "cannot " + verb + " VM " + in_quotes(vm.name) + ": it is " +
                        std::string(hyperctl::to_string(vm.state)),
                    op);
      vm.state = to;
      store_.write(vm, op);
    });
  }

  // A reference, not a copy: the Connection owns the Store and outlives
  // this group (it is a member declared after the Store).
  const Store& store_;
};

// ---------------------------------------------------------------------------
// 5. The Connection: one session with one "host". It owns its state and
// hands out its groups by reference; they live exactly as long as it does.
// It overrides vms() only: snapshots(), storage(), networks(), migration()
// and host() stay the core's, whose every method throws Unsupported.
//
// Threading: hyperctl uses a Connection from one thread at a time, and a
// program that wants parallelism opens one Connection per thread. So a
// Connection needs no mutex of its own; state shared between Connections
// (here: the folder, shared even between processes) needs its own locking
// (DirLock). Lifetime: nothing here may outlive the Connection; no thread
// may be left running when it is destroyed.
class SkeletonConnection final : public hyperctl::Connection {
 public:
  SkeletonConnection(hyperctl::Uri uri, fs::path dir, bool read_only)
      : Connection(kName), uri_(std::move(uri)), store_(std::move(dir), read_only), vms_(store_) {}

  const hyperctl::Uri& uri() const override { return uri_; }
  hyperctl::VmOps& vms() override { return vms_; }

 private:
  hyperctl::Uri uri_;
  Store store_;  // constructed before vms_, destroyed after it
  SkeletonVms vms_;
};

// ---------------------------------------------------------------------------
// 6. The Backend: made once per process by the factory below, kept until
// the process exits (the registry never unloads a plugin). Its describing
// methods are called right after loading and must not fail or block: no
// network, no daemon contact there; that belongs in connect().
class SkeletonBackend final : public hyperctl::Backend {
 public:
  std::string name() const override { return kName; }
  std::string description() const override {
    return "example: a folder of JSON files as a hypervisor (examples/backend-skeleton)";
  }
  // The URI schemes it serves. A scheme another loaded plugin already
  // serves makes the registry refuse this plugin, naming both files.
  std::vector<std::string> schemes() const override { return {"skeleton"}; }
  hyperctl::Capabilities capabilities() const override { return declared_capabilities(); }

  // skeleton:///ABSOLUTE/DIR. The Uri arrives parsed (and percent-decoded)
  // by the core; check the parts this backend does not use are empty
  // instead of ignoring them, and refuse a folder that does not exist with
  // Unreachable, the code for "the host is not there".
  std::unique_ptr<hyperctl::Connection> connect(const hyperctl::Uri& uri,
                                                const hyperctl::ConnectOptions& options) override {
    const std::string op = "connect";
    return guarded("connect", [&]() -> std::unique_ptr<hyperctl::Connection> {
      const std::string usage = "; use skeleton:///ABSOLUTE/FOLDER";
      if (!uri.transport.empty() || !uri.host.empty() || !uri.user.empty() || uri.port)
        throw Error(ErrorCode::InvalidArgument,
                    "skeleton URIs have no transport, user, host or port" + usage, op);
      if (!uri.query.empty())
        throw Error(ErrorCode::InvalidArgument, "skeleton URIs take no options" + usage, op);
      const fs::path dir = fs::path(uri.path).lexically_normal();
      if (dir.empty() || dir == "/")
        throw Error(ErrorCode::InvalidArgument, "no folder in " + in_quotes(uri.raw) + usage, op);
      std::error_code ec;
      if (!fs::is_directory(dir, ec))
        throw Error(ErrorCode::Unreachable, "no folder " + in_quotes(dir.string()), op,
                    ec ? ec.message() : "not a directory");
      return std::make_unique<SkeletonConnection>(uri, dir, options.read_only);
    });
  }
};

// The factory: called once, by the registry, after it checked the plugin
// ABI. It may throw (the registry reports "failed to start") but should not
// do anything slow.
std::unique_ptr<hyperctl::Backend> make_backend() {
  return std::make_unique<SkeletonBackend>();
}

}  // namespace skeleton

// ---------------------------------------------------------------------------
// 7. The entry point, at global scope, once per plugin. It exports two
// Boost.DLL aliases: hyperctl_plugin_abi (the kPluginAbi this file was
// compiled against, read by the loader before anything else) and
// hyperctl_plugin_factory (calls make_backend).
HYPERCTL_PLUGIN(skeleton::make_backend)
