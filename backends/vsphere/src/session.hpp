// One logged-in vim25 session: HTTPS transport (http.hpp: Boost.Beast on
// OpenSSL, TLS policy below), the session cookie, SOAP calls with fault
// translation, transparent re-login, keep-alive, task waiting, the
// PropertyCollector, and datastore file transfer.
//
// TLS policy, in this order:
//   1. ?thumbprint=SHA256 in the URI: the leaf certificate must have exactly
//      that SHA-256 thumbprint (no CA or name check; the pin is the trust).
//   2. insecure=1: anything is accepted; one warning line on stderr.
//   3. the trust store (hyperctl/trust.hpp) pins host:port: Trusted is
//      accepted, Mismatch refused (Error(AuthFailed), both thumbprints named).
//   4. otherwise the system CAs and the host name (RFC 2818) decide; a refused
//      certificate is Error(AuthFailed) whose message shows its thumbprint and
//      how to pin it (`hyperctl trust add HOST:PORT`, or ?thumbprint=).
// Secrets (password, session cookie) never reach messages, details or the
// trace (HYPERCTL_TRACE=1 prints one stderr line per HTTP request: method,
// status, bytes, milliseconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hyperctl/backend.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/types.hpp"
#include "hyperctl/uri.hpp"
#include "xml.hpp"

namespace hyperctl::vsphere {

inline constexpr const char* kBackendName = "vsphere";

/// wait_task's overall deadline when neither its caller nor the URI sets one.
inline constexpr std::chrono::hours kTaskDeadline{1};
/// How long wait_task still waits for a task after asking CancelTask (or the
/// deadline, when that is shorter).
inline constexpr std::chrono::seconds kCancelGrace{30};

/// What the URI asks for, checked (vsphere.cpp parse_target).
struct Target {
  std::string scheme;  ///< "vsphere" or "esx"
  std::string host;
  unsigned port = 443;
  std::string user;
  std::string datacenter;  ///< the URI path without '/', may be empty
  std::string thumbprint;  ///< canonical, empty when not pinned in the URI
  bool insecure = false;
  std::chrono::milliseconds keepalive{std::chrono::minutes(10)};  ///< 0: none
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};    ///< per request
  /// How long wait_task waits for a task when its caller sets no timeout
  /// (?tasktimeout=SECONDS; default kTaskDeadline).
  std::chrono::milliseconds task_timeout{kTaskDeadline};
  /// Placement defaults (?host=, ?datastore=): where create puts a new VM and,
  /// on a migration's target connection, where vMotion moves it. Names.
  std::string placement_host;
  std::string placement_datastore;
};

/// Parses and checks a vsphere:// or esx:// URI (options.user wins over the
/// URI's user). Error(InvalidArgument) naming the problem: other scheme,
/// transport, unknown parameter (known: thumbprint, insecure, keepalive
/// (seconds), timeout (seconds), tasktimeout (seconds), host, datastore),
/// thumbprint and insecure=1 together, bad thumbprint/port/keepalive, no user.
Target parse_target(const Uri& uri, const ConnectOptions& options);

/// The parts of RetrieveServiceContent the backend uses.
struct ServiceContent {
  MoRef root_folder, property_collector, view_manager, session_manager, search_index, file_manager,
      virtual_disk_manager;  ///< virtual_disk_manager may be empty
  std::string api_type;      ///< "VirtualCenter" or "HostAgent"
  std::string api_version, name, full_name, version, build, instance_uuid;
};

/// One object of a PropertyCollector answer: path -> <val> element.
struct ObjectContent {
  MoRef obj;
  std::shared_ptr<pugi::xml_document> doc;
  std::map<std::string, pugi::xml_node> props;
  /// The <val> node of `path`; an empty node when the property was not set.
  pugi::xml_node prop(const std::string& path) const;
};

/// A type and the property paths wanted for it.
struct PropertyRequest {
  std::string type;  ///< "VirtualMachine", "HostSystem", "Datastore", "Network"...
  std::vector<std::string> paths;
};

struct HttpReply;

/// One SOAP exchange as read from the server's HTTP answer: the method's
/// answer element, or the fault (type and server message, not yet scrubbed
/// of secrets).
struct SoapOutcome {
  Reply reply;
  bool faulted = false;
  std::string fault_type;
  std::string fault_message;
};

/// Reads the HTTP answer to `method`: Error(AuthFailed) for 401/403,
/// Error(BackendFailure) for an empty, HTML, malformed or non-SOAP body or
/// a non-200 answer without a fault. `where` names the endpoint in messages.
SoapOutcome read_soap_answer(const HttpReply& r, const std::string& method, const std::string& op,
                             const std::string& where);

/// The objects of one RetrieveResult page (objects the server reports gone
/// left out); returns its token ("" on the last page).
std::string read_retrieve_result(const Reply& reply, std::vector<ObjectContent>& out);

class Session {
 public:
  /// Connects (TLS per the policy above), reads the service content, logs in
  /// with options.secret("password for USER@HOST:PORT"). Errors: Unreachable
  /// (refused, DNS, no TLS, timeout while connecting), AuthFailed (TLS
  /// refused, no secret, InvalidLogin), InvalidArgument (URI),
  /// BackendFailure (not a vSphere endpoint, malformed answer).
  Session(const Uri& uri, const ConnectOptions& options);
  /// Logs out (errors ignored) and stops the keep-alive.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Target& target() const;
  const ServiceContent& content() const;
  bool is_vcenter() const { return content().api_type == "VirtualCenter"; }
  /// "host:port" for messages.
  std::string endpoint() const;

  /// One vim25 call: `args` are the parameters after _this, built with soap::.
  /// A SOAP fault becomes an Error (fault_error in faults.cpp); NotAuthenticated
  /// logs in again once and repeats the call. `operation` ("vm.start") goes
  /// into errors.
  Reply call(const std::string& method, const MoRef& self, const std::string& args,
             const std::string& operation);

  /// Waits until the task ends, polling its info (100 ms, doubling to 1 s).
  /// progress: phase `phase`, done = percent, total = 100.
  /// Deadline: `timeout` when > 0, else the URI's tasktimeout (default
  /// kTaskDeadline, 1 h), so no wait is endless. Past it, CancelTask is asked.
  /// Cancelled token: CancelTask is asked too.
  /// After either request: a task that still succeeds is returned; one that
  /// ends with RequestCanceled is Error(Timeout) resp. Error(Cancelled); one
  /// that fails otherwise keeps its own fault's code; one that has not ended
  /// after kCancelGrace (30 s, or the deadline when shorter) is
  /// Error(Timeout) resp. Error(Cancelled) saying the task may still finish
  /// on the server. A failed task: Error from its fault, with VMware's
  /// localized message. A task info without a known state in 5 polls in a
  /// row: Error(BackendFailure). Returns info.result in Reply::node (may be
  /// empty).
  Reply wait_task(const MoRef& task, const std::string& operation, const std::string& phase = {},
                  const ProgressFn& progress = {}, const CancelToken* cancel = nullptr,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  /// Calls the *_Task method `method` on `self` with `args` and waits for the
  /// task it answers with (wait_task, same phase/progress/cancel/timeout).
  /// An answer that names no task is Error(BackendFailure) naming `method`;
  /// a fault of the call itself is thrown as call() does.
  Reply run_task(const std::string& method, const MoRef& self, const std::string& args,
                 const std::string& operation, const std::string& phase = {},
                 const ProgressFn& progress = {}, const CancelToken* cancel = nullptr,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  /// The most objects one page of a container retrieve asks for
  /// (RetrievePropertiesEx's maxObjects; the server may send fewer).
  static constexpr int kPageObjects = 1000;

  /// All objects of the requested types under `container` (the root folder
  /// when empty), each with its paths, handed to `each` one by one as the
  /// pages come: one CreateContainerView (all types), one
  /// RetrievePropertiesEx (one PropertySpec per type, at most kPageObjects
  /// objects a page), as many ContinueRetrievePropertiesEx as the server
  /// pages, DestroyView. Only one page's document is held at a time (plus the
  /// last object of the page before, copied out, in case the next page goes
  /// on with its properties: `each` sees every object once, whole). Objects
  /// the server reports gone are left out. A page that fails ends the paging
  /// with CancelRetrievePropertiesEx.
  void retrieve_each(const std::vector<PropertyRequest>& what, const std::string& operation,
                     const MoRef& container, const std::function<void(ObjectContent&&)>& each);
  /// retrieve_each, collected. So a VM list and the names of the hosts,
  /// datastores and networks it refers to cost one round trip per page.
  std::vector<ObjectContent> retrieve_all(const std::vector<PropertyRequest>& what,
                                          const std::string& operation,
                                          const MoRef& container = {});
  /// `paths` of the given objects, in one RetrievePropertiesEx (paged). An
  /// object that no longer exists is left out of the result.
  std::vector<ObjectContent> retrieve(const std::vector<MoRef>& objects,
                                      const std::vector<std::string>& paths,
                                      const std::string& operation);
  /// One object; Error(NotFound) naming `what` when it no longer exists.
  ObjectContent retrieve_one(const MoRef& object, const std::vector<std::string>& paths,
                             const std::string& operation, const std::string& what);

  /// Datastore files over HTTPS: /folder/PATH?dcPath=DC&dsName=DS (ESXi:
  /// dcPath=ha-datacenter). `datacenter`: its inventory path under the root
  /// folder, names as stored and '/'-separated ("F0/DC0"), as vCenter wants
  /// it; empty on ESXi. The local file appears only when complete: it is
  /// written to a temporary file made exclusively (O_EXCL, random name, mode
  /// 0600) in the same folder, then renamed. An existing local file is
  /// AlreadyExists unless overwrite (check_download_target); without
  /// overwrite, a file that appears there during the download is not
  /// replaced (AlreadyExists).
  /// HTTP 401: the session is logged out and in again, once; 403 (not
  /// allowed): AuthFailed, no new login.
  void download(const std::string& datacenter, const std::string& datastore,
                const std::string& path, const std::string& local_path, bool overwrite,
                const ProgressFn& progress, const CancelToken& cancel,
                const std::string& operation);
  /// PUT of a local file to the datastore path (parents must exist).
  void upload(const std::string& datacenter, const std::string& datastore, const std::string& path,
              const std::string& local_path, const ProgressFn& progress, const CancelToken& cancel,
              const std::string& operation);

  /// HTTP requests sent by this session so far (the bench prints it).
  std::uint64_t requests() const;

 private:
  [[noreturn]] void transfer_failed(int status, const std::string& what,
                                    const std::string& datastore, const std::string& path,
                                    const std::string& operation) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Before a download to `local_path`: Error(AlreadyExists) when something is there
/// and !overwrite ("ask to overwrite it"), Error(InvalidArgument) when it is
/// a folder. Session::download checks it itself; callers may check earlier.
void check_download_target(const std::string& local_path, bool overwrite,
                           const std::string& operation);

/// A SOAP fault or a task's LocalizedMethodFault as an Error: the fault type
/// (xsi:type or the detail element's name, "InvalidLogin", "InvalidPowerState",
/// "ManagedObjectNotFound", "DuplicateName", "FileNotFound", ...) picks the
/// code; the message is "OPERATION: <VMware's message>" made safe for a
/// terminal. `fault` is the <detail> child / <fault> element; may be empty.
Error fault_error(const std::string& fault_type, const std::string& message,
                  const std::string& operation);
/// The fault type named by a <faultDetail>/<fault> element (xsi:type, else its
/// local name without a trailing "Fault").
std::string fault_type_of(pugi::xml_node fault);

}  // namespace hyperctl::vsphere
