// Offline (cold) migration between two libvirt hosts; see migration_offline.hpp.
//
// Steps, each recorded in the journal before and after it runs:
//   check              the VM is shut off (or shut down with --shutdown), no
//                      name/UUID clash on the target, the target pool exists,
//                      is active and has room, every disk is a pool volume
//   shutdown source    only with shutdown_first and a running VM
//   copy disk DEV      one per disk: a target volume of the source's byte
//                      length is created, the bytes streamed source ->
//                      target chunk by chunk and hashed (SHA-256) on the way
//   define on target   the source's inactive XML, disks re-pointed, UUID kept
//   verify disk DEV    capacity equal, SHA-256 read back from the target equal
//   remove source      only with remove_source, only after every verify
// The volumes are streamed byte for byte (a qcow2 file stays the same qcow2
// file), so the target's copy is identical to the source's.
#include "migration_offline.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "domain_xml.hpp"
#include "errors.hpp"
#include "hyperctl/digest.hpp"
#include "hyperctl/journal.hpp"
#include "hyperctl/offline.hpp"
#include "ops.hpp"
#include "storage_common.hpp"
#include "stream.hpp"

namespace hyperctl::lv {
namespace {

using namespace storage;

constexpr std::size_t kChunk = 1024 * 1024;
const std::string kOp = "migrate";

const char* const kCheck = "check";
const char* const kShutdown = "shutdown source";
const char* const kDefine = "define on target";
const char* const kRemove = "remove source";
const std::string kCopyPrefix = "copy disk ";
const std::string kVerifyPrefix = "verify disk ";

// ------------------------------------------------------------- helpers

std::string canonical_uri(const Session& s) {
  CString uri(virConnectGetURI(s.get()));
  if (!uri) {
    take_last_error(s.get());
    return s.uri.raw;
  }
  return uri.get();
}

/// The bytes a volume download yields: the file's size.
std::uint64_t byte_length(const Session& s, virStorageVolPtr vol, const std::string& label) {
  virStorageVolInfo info;
  if (virStorageVolGetInfoFlags(vol, &info, VIR_STORAGE_VOL_GET_PHYSICAL) == 0)
    return info.allocation;
  take_last_error(s.get());
  if (virStorageVolGetInfo(vol, &info) < 0) fail(s.get(), "cannot read volume " + label, kOp);
  return info.capacity;
}

std::uint64_t capacity_of(const Session& s, virStorageVolPtr vol, const std::string& label) {
  virStorageVolInfo info;
  if (virStorageVolGetInfo(vol, &info) < 0) fail(s.get(), "cannot read volume " + label, kOp);
  return info.capacity;
}

std::string pool_name_of(const Session& s, virStorageVolPtr vol) {
  PoolPtr pool(virStoragePoolLookupByVolume(vol));
  if (!pool) fail(s.get(), "cannot find the pool of a volume", kOp);
  const char* name = virStoragePoolGetName(pool.get());
  return name ? name : "";
}

/// Looks a volume up; null when it does not exist (the pool must exist).
VolPtr volume_in(const Session& s, const std::string& pool_name, const std::string& name) {
  auto pool = find_active_pool(s, pool_name, kOp);
  return volume_if_exists(s, pool.get(), pool_name, name, kOp);
}

DomPtr domain_if_exists(const Session& s, const std::string& uuid) {
  DomPtr dom(virDomainLookupByUUIDString(s.get(), uuid.c_str()));
  if (!dom) take_last_error(s.get());
  return dom;
}

bool domain_active(const Session& s, virDomainPtr dom) {
  const int a = virDomainIsActive(dom);
  if (a < 0) fail(s.get(), "cannot read the state of a VM", kOp);
  return a == 1;
}

std::string data_of(const JournalStep& step, const char* key) {
  return step_data(step, key);
}

// ------------------------------------------------------------- XML rewrite

struct NewSource {
  std::string path;
  bool block = false;
};

using XmlDocPtr = std::unique_ptr<xmlDoc, Deleter<xmlFreeDoc>>;

void drop_children(xmlNodePtr node, const char* name) {
  for (xmlNodePtr c = node->children; c;) {
    xmlNodePtr next = c->next;
    if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
}

xmlNodePtr child_named(xmlNodePtr node, const char* name) {
  for (xmlNodePtr c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0) return c;
  return nullptr;
}

std::string attr_of(xmlNodePtr node, const char* name) {
  if (!node) return {};
  xmlChar* v = xmlGetProp(node, BAD_CAST name);
  if (!v) return {};
  std::string out(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return out;
}

/// The domain XML with each disk of `moved` (by target dev) pointing at its
/// new volume, and the media of `ejected` removed.
std::string repoint_disks(const std::string& xml, const std::map<std::string, NewSource>& moved,
                          const std::set<std::string>& ejected) {
  XmlDocPtr doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) throw Error(ErrorCode::BackendFailure, "the source's domain XML cannot be parsed", kOp);
  xmlNodePtr root = xmlDocGetRootElement(doc.get());
  xmlNodePtr devices = root ? child_named(root, "devices") : nullptr;
  std::set<std::string> seen;
  for (xmlNodePtr d = devices ? devices->children : nullptr; d; d = d->next) {
    if (d->type != XML_ELEMENT_NODE || xmlStrcmp(d->name, BAD_CAST "disk") != 0) continue;
    const std::string dev = attr_of(child_named(d, "target"), "dev");
    auto it = moved.find(dev);
    if (it != moved.end()) {
      drop_children(d, "source");
      drop_children(d, "backingStore");
      xmlSetProp(d, BAD_CAST "type", BAD_CAST(it->second.block ? "block" : "file"));
      // New children go first so that <source> sits where libvirt puts it.
      xmlNodePtr src = xmlNewNode(nullptr, BAD_CAST "source");
      xmlSetProp(src, BAD_CAST(it->second.block ? "dev" : "file"),
                 BAD_CAST it->second.path.c_str());
      if (d->children)
        xmlAddPrevSibling(d->children, src);
      else
        xmlAddChild(d, src);
      seen.insert(dev);
    } else if (ejected.count(dev)) {
      drop_children(d, "source");
      drop_children(d, "backingStore");
      xmlSetProp(d, BAD_CAST "type", BAD_CAST "file");
    }
  }
  if (seen.size() != moved.size())
    throw Error(ErrorCode::Conflict,
                "the source VM's disks changed during the migration; roll it back and start again",
                kOp);
  xmlChar* out = nullptr;
  int size = 0;
  xmlDocDumpMemory(doc.get(), &out, &size);
  if (!out) throw Error(ErrorCode::Internal, "cannot write the domain XML", kOp);
  std::string text(reinterpret_cast<const char*>(out), static_cast<std::size_t>(size));
  xmlFree(out);
  return text;
}

std::string inactive_xml(const Session& s, virDomainPtr dom, const std::string& who) {
  // SECURE keeps passwords (VNC/SPICE) the target needs; refused on a
  // read-only connection, then without.
  CString xml(virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
  if (!xml) {
    take_last_error(s.get());
    xml.reset(virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE));
  }
  if (!xml) fail(s.get(), "cannot read the configuration of " + who, kOp);
  return xml.get();
}

// ------------------------------------------------------------- the steps

class Migration final : public OfflineSteps {
 public:
  Migration(Session& source, Session& target) : src_(source), dst_(target) {}

  std::string journal_kind() const override { return kOfflineJournalKind; }
  std::string journal_what() const override { return "an offline migration"; }
  void check(OfflineRun& run, const VmRef& vm) override;
  void run_step(OfflineRun& run, std::size_t index) override;
  bool still_done(OfflineRun& run, std::size_t index) override;
  void undo_step(OfflineRun& run, std::size_t index) override;
  VmInfo result(OfflineRun& run) override;

 private:
  Session& src_;
  Session& dst_;

  void refuse_lossy_removal(virDomainPtr dom, const std::string& who, const std::string& uuid,
                            const std::vector<std::pair<std::string, std::string>>& disks);
  std::vector<std::size_t> copy_steps(const Journal& j) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < j.steps().size(); ++i)
      if (j.steps()[i].name.rfind(kCopyPrefix, 0) == 0) out.push_back(i);
    return out;
  }
  DomPtr source_domain(const OfflineRun& run) const {
    DomPtr dom = domain_if_exists(src_, run.checked("vm_uuid"));
    if (!dom)
      throw Error(ErrorCode::NotFound,
                  "VM " + quoted(run.checked("vm_name")) + " (" + run.checked("vm_uuid") +
                      ") is no longer on " + src_.uri.raw,
                  kOp);
    return dom;
  }
  void shutdown(OfflineRun& run);
  void copy(OfflineRun& run, std::size_t step);
  void define(OfflineRun& run);
  void verify(OfflineRun& run, std::size_t verify_step);
  void remove_source(OfflineRun& run);
  void undefine_on_target(const JournalStep& define_step);
  void delete_copy(OfflineRun& run, const JournalStep& copy_step);
};

// --remove-source deletes the source VM with its snapshots' metadata and its
// disk volumes. What that would lose beyond the VM itself is refused at the
// check, before anything moves: snapshots (offline migration does not carry
// them) and a disk another VM on the source also uses.
void Migration::refuse_lossy_removal(
    virDomainPtr dom, const std::string& who, const std::string& uuid,
    const std::vector<std::pair<std::string, std::string>>& disks) {
  const int snapshots = virDomainSnapshotNum(dom, 0);
  if (snapshots < 0) fail(src_.get(), "cannot count the snapshots of " + who, kOp);
  if (snapshots > 0)
    throw Error(ErrorCode::Conflict,
                who + " has " + std::to_string(snapshots) +
                    (snapshots == 1 ? " snapshot" : " snapshots") +
                    ", which offline migration does not carry; --remove-source would lose "
                    "them (delete them first, or migrate without --remove-source)",
                kOp);
  const auto users = storage::DiskUsers::scan(src_, false, uuid, kOp);
  for (const auto& [label, path] : disks) {
    const auto others = users.of(path);
    if (!others.empty())
      throw Error(ErrorCode::Conflict,
                  "disk " + label + " of " + who + " is also " + storage::used_by_text(others) +
                      " on " + src_.uri.raw +
                      "; --remove-source would delete it (migrate without --remove-source)",
                  kOp);
  }
}

void Migration::check(OfflineRun& run, const VmRef& ref) {
  Journal& j = run.journal();
  const bool shutdown_first = j.param("shutdown_first") == "yes";
  if (canonical_uri(src_) == canonical_uri(dst_))
    throw Error(ErrorCode::InvalidArgument,
                "source and target are the same host (" + src_.uri.raw +
                    "); offline migration moves a VM to another host (to move disks between "
                    "pools of one host, use volume clone)",
                kOp);
  auto dom = src_.find_domain(ref, kOp);
  const char* n = virDomainGetName(dom.get());
  const std::string vm_name = n ? n : ref.value;
  const std::string who = "VM " + quoted(vm_name);
  char uuid_buf[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom.get(), uuid_buf) < 0) fail(src_.get(), "cannot read " + who, kOp);
  if (virDomainIsPersistent(dom.get()) != 1)
    throw Error(ErrorCode::Conflict,
                who + " is transient (not defined) on " + src_.uri.raw +
                    "; offline migration moves a defined VM (use --live)",
                kOp);
  if (domain_active(src_, dom.get()) && !shutdown_first)
    throw Error(ErrorCode::Conflict,
                who +
                    " is running; offline migration needs it shut off (add --shutdown to shut "
                    "it down gracefully first, or use --live)",
                kOp);

  // Clashes on the target.
  if (DomPtr clash{virDomainLookupByName(dst_.get(), vm_name.c_str())})
    throw Error(ErrorCode::Conflict,
                "a VM named " + quoted(vm_name) + " already exists on " + dst_.uri.raw +
                    " (remove or rename it there first)",
                kOp);
  take_last_error(dst_.get());
  if (DomPtr clash = domain_if_exists(dst_, uuid_buf)) {
    const char* other = virDomainGetName(clash.get());
    throw Error(ErrorCode::Conflict,
                "a VM with the UUID " + std::string(uuid_buf) + " (" + quoted(other ? other : "?") +
                    ") already exists on " + dst_.uri.raw + " (remove it there first)",
                kOp);
  }
  const std::string tpool_name = j.param("target_pool");
  auto tpool = find_active_pool(dst_, tpool_name, kOp);

  // Every disk must be a pool volume; media are kept only if the target
  // has the same file.
  const std::string xml = inactive_xml(src_, dom.get(), who);
  const DomainDetails details = parse_domain_xml(xml);
  struct Plan {
    std::string dev, src_pool, src_volume, src_path, format;
    std::uint64_t length = 0;
  };
  std::vector<Plan> plans;
  std::vector<std::string> ejects;
  std::set<std::string> names;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < details.sources.size(); ++i) {
    const auto& s = details.sources[i];
    const std::string fmt = i < details.disks.size() ? details.disks[i].format : "";
    if (s.device == "cdrom" || s.device == "floppy") {
      if (s.path.empty() && s.volume.empty()) continue;  // empty tray
      bool on_target = false;
      if (!s.path.empty()) {
        VolPtr v(virStorageVolLookupByPath(dst_.get(), s.path.c_str()));
        on_target = v != nullptr;
        if (!v) take_last_error(dst_.get());
      }
      if (!on_target) ejects.push_back(s.target);
      continue;
    }
    if (s.device != "disk")
      throw Error(ErrorCode::Unsupported,
                  "disk " + s.target + " of " + who + " is a '" + s.device +
                      "' device; offline migration copies disks and media only",
                  kOp);
    VolPtr vol;
    if (!s.volume.empty()) {
      auto p = find_active_pool(src_, s.pool, kOp);
      vol = find_volume(src_, p.get(), s.pool, s.volume, kOp);
    } else if (!s.path.empty()) {
      vol.reset(virStorageVolLookupByPath(src_.get(), s.path.c_str()));
      if (!vol) {
        take_last_error(src_.get());
        throw Error(ErrorCode::Unsupported,
                    "disk " + s.target + " of " + who + " (" + quoted(s.path) +
                        ") is not a volume of a storage pool on " + src_.uri.raw +
                        "; offline migration streams pool volumes (define a pool for its folder)",
                    kOp);
      }
    } else {
      throw Error(ErrorCode::Unsupported,
                  "disk " + s.target + " of " + who + " has no source to copy", kOp);
    }
    Plan p;
    p.dev = s.target;
    p.src_pool = pool_name_of(src_, vol.get());
    const char* vname = virStorageVolGetName(vol.get());
    p.src_volume = vname ? vname : "";
    CString path(virStorageVolGetPath(vol.get()));
    p.src_path = path ? path.get() : "";
    p.format = fmt;
    p.length = byte_length(src_, vol.get(), volume_label(p.src_pool, p.src_volume));
    if (!names.insert(p.src_volume).second)
      throw Error(ErrorCode::Conflict,
                  "two disks of " + who + " are volumes named " + quoted(p.src_volume) +
                      " (in different pools); they cannot share pool " + quoted(tpool_name) +
                      " on the target",
                  kOp);
    if (volume_if_exists(dst_, tpool.get(), tpool_name, p.src_volume, kOp))
      throw Error(ErrorCode::Conflict,
                  "volume " + volume_label(tpool_name, p.src_volume) + " already exists on " +
                      dst_.uri.raw + " (remove it there, or choose another --target-pool)",
                  kOp);
    total += p.length;
    plans.push_back(std::move(p));
  }
  if (j.param("remove_source") == "yes") {
    std::vector<std::pair<std::string, std::string>> disks;  // label, path
    for (const auto& p : plans)
      disks.emplace_back(p.dev + " (" + volume_label(p.src_pool, p.src_volume) + ")", p.src_path);
    refuse_lossy_removal(dom.get(), who, uuid_buf, disks);
  }
  const Pool pinfo = describe_pool(dst_, tpool.get(), kOp);
  if (pinfo.available_bytes && pinfo.available_bytes < total)
    throw Error(ErrorCode::Conflict,
                "pool " + quoted(tpool_name) + " on " + dst_.uri.raw + " has " +
                    std::to_string(pinfo.available_bytes) + " bytes free; the disks need " +
                    std::to_string(total),
                kOp);

  // The plan, in the journal, in the order the steps run.
  if (domain_active(src_, dom.get())) j.add_step(kShutdown);
  for (const auto& p : plans)
    j.add_step(kCopyPrefix + p.dev, {{"dev", p.dev},
                                     {"source_pool", p.src_pool},
                                     {"source_volume", p.src_volume},
                                     {"source_path", p.src_path},
                                     {"format", p.format},
                                     {"length", std::to_string(p.length)},
                                     {"target_volume", p.src_volume}});
  j.add_step(kDefine, {{"uuid", uuid_buf}, {"name", vm_name}});
  for (const auto& p : plans) j.add_step(kVerifyPrefix + p.dev, {{"dev", p.dev}});
  if (j.param("remove_source") == "yes") j.add_step(kRemove);
  std::string eject_list;
  for (const auto& e : ejects) eject_list += (eject_list.empty() ? "" : ",") + e;
  const auto c = *j.find_step(kCheck);
  j.set_step(c, StepState::Done,
             {{"vm_uuid", uuid_buf}, {"vm_name", vm_name}, {"eject", eject_list}});
}

void Migration::shutdown(OfflineRun& run) {
  run.report("shutdown");
  LibvirtVmOps vms(src_);
  ShutdownOptions options;
  options.timeout = std::chrono::seconds(120);
  options.force = false;
  vms.shutdown(VmRef(run.checked("vm_uuid")), options, run.progress(), run.cancel());
}

void Migration::copy(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const JournalStep step = j.steps()[i];
  const std::string dev = data_of(step, "dev");
  const std::string tvol_name = data_of(step, "target_volume");
  const std::string& tpool_name = j.param("target_pool");
  const std::string tlabel = volume_label(tpool_name, tvol_name);
  const std::string phase = kCopyPrefix + dev;
  {
    auto dom = source_domain(run);
    if (domain_active(src_, dom.get()))
      throw Error(ErrorCode::Conflict,
                  "VM " + quoted(run.checked("vm_name")) + " is running on " + src_.uri.raw +
                      "; its disks cannot be copied while it runs (shut it down)",
                  kOp);
  }
  auto tpool = find_active_pool(dst_, tpool_name, kOp);

  // From scratch: a volume this migration created earlier is replaced.
  if (VolPtr old = volume_if_exists(dst_, tpool.get(), tpool_name, tvol_name, kOp)) {
    if (data_of(step, "created") != "yes")
      throw Error(ErrorCode::Conflict,
                  "volume " + tlabel + " appeared on " + dst_.uri.raw +
                      " and was not created by this migration; remove it there first",
                  kOp);
    if (virStorageVolDelete(old.get(), 0) < 0)
      fail(dst_.get(), "cannot delete the incomplete copy " + tlabel, kOp);
  }
  const std::string spool = data_of(step, "source_pool");
  const std::string svol_name = data_of(step, "source_volume");
  const std::string slabel = volume_label(spool, svol_name);
  auto sp = find_active_pool(src_, spool, kOp);
  auto svol = find_volume(src_, sp.get(), spool, svol_name, kOp);
  const std::uint64_t length = byte_length(src_, svol.get(), slabel);
  const std::uint64_t capacity = capacity_of(src_, svol.get(), slabel);

  // Recorded before it exists: a process killed right after the creation
  // still has the rollback delete it.
  j.set_step(i, StepState::Running, {{"created", "yes"}, {"sha256", ""}});
  // A raw volume of exactly the source's byte length: the streamed bytes land
  // verbatim (a qcow2 file stays the same qcow2 file, its format probed by
  // the target pool; the domain XML keeps the source's driver type).
  VolPtr tvol(virStorageVolCreateXML(tpool.get(), volume_xml(tvol_name, length, "raw").c_str(), 0));
  if (!tvol) {
    auto e = take_last_error(dst_.get());
    j.set_step(i, StepState::Failed, {{"created", "no"}});
    fail(e, "cannot create volume " + tlabel + " on " + dst_.uri.raw, kOp);
  }

  ActiveStream down(src_, kOp);
  if (virStorageVolDownload(svol.get(), down.get(), 0, 0, 0) < 0)
    fail(src_.get(), "cannot read volume " + slabel + " on " + src_.uri.raw, kOp);
  ActiveStream up(dst_, kOp);
  if (virStorageVolUpload(tvol.get(), up.get(), 0, 0, 0) < 0)
    fail(dst_.get(), "cannot write volume " + tlabel + " on " + dst_.uri.raw, kOp);
  Sha256 sha;
  std::vector<char> buf(kChunk);
  std::uint64_t done = 0;
  run.report(phase, 0, length);
  for (;;) {
    run.check_cancel("copy of disk " + dev);
    const int n = virStreamRecv(down.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) fail(src_.get(), "cannot read volume " + slabel + " on " + src_.uri.raw, kOp);
    sha.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    std::size_t sent = 0;
    while (sent < static_cast<std::size_t>(n)) {
      const int m = virStreamSend(up.get(), buf.data() + sent, static_cast<std::size_t>(n) - sent);
      if (m < 0) fail(dst_.get(), "cannot write volume " + tlabel + " on " + dst_.uri.raw, kOp);
      sent += static_cast<std::size_t>(m);
    }
    done += static_cast<std::uint64_t>(n);
    run.report(phase, done, std::max(length, done));
  }
  if (!down.finish()) fail(src_.get(), "cannot read volume " + slabel + " on " + src_.uri.raw, kOp);
  if (!up.finish()) fail(dst_.get(), "cannot write volume " + tlabel + " on " + dst_.uri.raw, kOp);
  if (virStoragePoolRefresh(tpool.get(), 0) < 0) take_last_error(dst_.get());
  CString tpath(virStorageVolGetPath(tvol.get()));
  virStorageVolInfo tinfo;
  const bool block =
      virStorageVolGetInfo(tvol.get(), &tinfo) == 0 && tinfo.type == VIR_STORAGE_VOL_BLOCK;
  take_last_error(dst_.get());
  j.set_step(i, StepState::Done,
             {{"sha256", sha.hex()},
              {"bytes", std::to_string(done)},
              {"capacity", std::to_string(capacity)},
              {"target_path", tpath ? tpath.get() : ""},
              {"target_block", block ? "yes" : "no"}});
  // The copy is new: whatever verified an earlier copy no longer holds.
  if (const auto v = j.find_step(kVerifyPrefix + dev)) j.set_step(*v, StepState::Pending);
}

void Migration::define(OfflineRun& run) {
  Journal& j = run.journal();
  const std::string uuid = run.checked("vm_uuid");
  const std::string name = run.checked("vm_name");
  run.report(kDefine);
  if (DomPtr existing = domain_if_exists(dst_, uuid)) {
    // Ours from an interrupted attempt (the step was running): defined again.
    if (run.prior_state() != StepState::Running && run.prior_state() != StepState::Done)
      throw Error(ErrorCode::Conflict,
                  "a VM with the UUID " + uuid + " appeared on " + dst_.uri.raw +
                      "; it was not defined by this migration",
                  kOp);
  }
  std::map<std::string, NewSource> moved;
  for (auto c : copy_steps(j)) {
    const auto& s = j.steps()[c];
    moved[data_of(s, "dev")] =
        NewSource{data_of(s, "target_path"), data_of(s, "target_block") == "yes"};
  }
  std::set<std::string> ejected;
  {
    const std::string list = run.checked_or_empty("eject");
    std::size_t pos = 0;
    while (pos < list.size()) {
      auto comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      ejected.insert(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  auto dom = source_domain(run);
  const std::string xml =
      repoint_disks(inactive_xml(src_, dom.get(), "VM " + quoted(name)), moved, ejected);
  DomPtr defined(virDomainDefineXML(dst_.get(), xml.c_str()));
  if (!defined) fail(dst_.get(), "cannot define VM " + quoted(name) + " on " + dst_.uri.raw, kOp);
  for (const auto& e : ejected)
    run.report("warning: the media in " + e + " is not on the target; its tray is empty");
}

bool Migration::still_done(OfflineRun& run, std::size_t index) {
  // A VM defined on the target and removed there by hand since is defined
  // again.
  if (run.journal().steps()[index].name != kDefine) return true;
  return domain_if_exists(dst_, run.checked("vm_uuid")) != nullptr;
}

/// A mismatch marks the copy and its verification failed (a resume copies
/// it again) and throws.
void Migration::verify(OfflineRun& run, std::size_t v) {
  Journal& j = run.journal();
  const std::string dev = data_of(j.steps()[v], "dev");
  const auto c = *j.find_step(kCopyPrefix + dev);
  const JournalStep copy_step = j.steps()[c];
  const std::string& tpool_name = j.param("target_pool");
  const std::string tvol_name = data_of(copy_step, "target_volume");
  const std::string tlabel = volume_label(tpool_name, tvol_name);
  VolPtr tvol = volume_in(dst_, tpool_name, tvol_name);
  if (!tvol)
    throw Error(ErrorCode::NotFound, "volume " + tlabel + " vanished from " + dst_.uri.raw, kOp);
  const std::uint64_t want_cap = std::stoull(data_of(copy_step, "capacity"));
  const std::uint64_t got_cap = capacity_of(dst_, tvol.get(), tlabel);
  const std::uint64_t length = byte_length(dst_, tvol.get(), tlabel);
  const std::string phase = kVerifyPrefix + dev;
  ActiveStream down(dst_, kOp);
  if (virStorageVolDownload(tvol.get(), down.get(), 0, 0, 0) < 0)
    fail(dst_.get(), "cannot read volume " + tlabel + " on " + dst_.uri.raw, kOp);
  Sha256 sha;
  std::vector<char> buf(kChunk);
  std::uint64_t done = 0;
  run.report(phase, 0, length);
  for (;;) {
    run.check_cancel("verification of disk " + dev);
    const int n = virStreamRecv(down.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) fail(dst_.get(), "cannot read volume " + tlabel + " on " + dst_.uri.raw, kOp);
    sha.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
    run.report(phase, done, std::max(length, done));
  }
  if (!down.finish()) fail(dst_.get(), "cannot read volume " + tlabel + " on " + dst_.uri.raw, kOp);
  const std::string got = sha.hex();
  const std::string want = data_of(copy_step, "sha256");
  if (got != want || got_cap != want_cap) {
    j.set_step(v, StepState::Failed, {{"sha256", got}, {"capacity", std::to_string(got_cap)}});
    j.set_step(c, StepState::Failed);
    throw Error(ErrorCode::BackendFailure,
                "the copy of disk " + dev + " on " + dst_.uri.raw + " differs from the source (" +
                    (got != want ? "SHA-256 " + got + " instead of " + want
                                 : "capacity " + std::to_string(got_cap) + " instead of " +
                                       std::to_string(want_cap)) +
                    "); the source was left alone",
                kOp);
  }
  j.set_step(v, StepState::Done, {{"sha256", got}, {"capacity", std::to_string(got_cap)}});
}

void Migration::remove_source(OfflineRun& run) {
  const Journal& j = run.journal();
  const std::string uuid = run.checked("vm_uuid");
  const std::string name = run.checked("vm_name");
  run.report(kRemove);
  if (DomPtr dom = domain_if_exists(src_, uuid)) {
    if (domain_active(src_, dom.get()))
      throw Error(ErrorCode::Conflict,
                  "VM " + quoted(name) + " was started on " + src_.uri.raw +
                      " during the migration; it was not removed",
                  kOp);
    const unsigned all = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                         VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;
    if (virDomainUndefineFlags(dom.get(), all) < 0) {
      auto e = take_last_error(src_.get());
      if (!unsupported_flags(e))
        fail(e, "cannot remove VM " + quoted(name) + " from the source", kOp);
      if (virDomainUndefine(dom.get()) < 0)
        fail(src_.get(), "cannot remove VM " + quoted(name) + " from the source", kOp);
    }
  }
  // A disk that another VM started using since the check stays.
  const auto users = storage::DiskUsers::scan(src_, false, uuid, kOp);
  for (auto c : copy_steps(j)) {
    const auto& s = j.steps()[c];
    if (!users.of(data_of(s, "source_path")).empty()) continue;
    if (VolPtr v = volume_in(src_, data_of(s, "source_pool"), data_of(s, "source_volume"))) {
      if (virStorageVolDelete(v.get(), 0) < 0)
        fail(src_.get(),
             "cannot delete volume " +
                 volume_label(data_of(s, "source_pool"), data_of(s, "source_volume")) +
                 " on the source",
             kOp);
    }
  }
}

void Migration::run_step(OfflineRun& run, std::size_t i) {
  const std::string name = run.journal().steps()[i].name;
  if (name == kShutdown)
    shutdown(run);
  else if (name.rfind(kCopyPrefix, 0) == 0)
    copy(run, i);
  else if (name == kDefine)
    define(run);
  else if (name.rfind(kVerifyPrefix, 0) == 0)
    verify(run, i);
  else if (name == kRemove)
    remove_source(run);
  else
    throw Error(ErrorCode::InvalidArgument,
                "journal " + run.journal().id() + " is damaged: unknown step '" + name + "'", kOp);
}

void Migration::undefine_on_target(const JournalStep& step) {
  const std::string uuid = data_of(step, "uuid");
  DomPtr dom = domain_if_exists(dst_, uuid);
  if (!dom) return;
  if (domain_active(dst_, dom.get()))
    throw Error(ErrorCode::Conflict,
                "VM " + quoted(data_of(step, "name")) + " is running on " + dst_.uri.raw +
                    "; stop it there before rolling back",
                kOp);
  if (virDomainUndefineFlags(dom.get(), VIR_DOMAIN_UNDEFINE_NVRAM) < 0) {
    auto e = take_last_error(dst_.get());
    if (!unsupported_flags(e)) fail(e, "cannot undefine the VM on the target", kOp);
    if (virDomainUndefine(dom.get()) < 0)
      fail(dst_.get(), "cannot undefine the VM on the target", kOp);
  }
}

void Migration::delete_copy(OfflineRun& run, const JournalStep& s) {
  if (data_of(s, "created") != "yes") return;
  const std::string& pool = run.journal().param("target_pool");
  auto p = find_pool(dst_, pool, kOp);
  if (VolPtr v = volume_if_exists(dst_, p.get(), pool, data_of(s, "target_volume"), kOp))
    if (virStorageVolDelete(v.get(), 0) < 0)
      fail(dst_.get(),
           "cannot delete volume " + volume_label(pool, data_of(s, "target_volume")) + " on " +
               dst_.uri.raw,
           kOp);
}

void Migration::undo_step(OfflineRun& run, std::size_t i) {
  const JournalStep s = run.journal().steps()[i];
  if (s.name == kDefine)
    undefine_on_target(s);
  else if (s.name.rfind(kCopyPrefix, 0) == 0)
    delete_copy(run, s);
  // The shutdown and the verifications changed nothing to undo.
}

VmInfo Migration::result(OfflineRun& run) {
  LibvirtVmOps vms(dst_);
  return vms.get(VmRef(run.checked("vm_uuid")));
}

}  // namespace

VmInfo offline_migrate(Session& source, Session& target, const VmRef& vm,
                       const MigrationOptions& options, const ProgressFn& progress,
                       const CancelToken& cancel) {
  return guarded(kOp, [&] {
    Migration m(source, target);
    OfflineStart start;
    start.source_uri = source.uri.raw;
    start.target_uri = target.uri.raw;
    start.vm = vm;
    start.shutdown_first = options.shutdown_first;
    start.remove_source = options.remove_source;
    start.params["target_pool"] = options.target_pool.empty() ? "default" : options.target_pool;
    return run_offline_migration(m, start, progress, cancel, kOp);
  });
}

VmInfo offline_resume(Session& source, Session& target, const std::string& journal_id,
                      const ProgressFn& progress, const CancelToken& cancel) {
  return guarded(kOp, [&] {
    Migration m(source, target);
    return resume_offline_migration(m, journal_id, source.uri.raw, target.uri.raw, progress, cancel,
                                    kOp);
  });
}

void offline_rollback(Session& source, Session& target, const std::string& journal_id) {
  guarded(kOp, [&] {
    Migration m(source, target);
    rollback_offline_migration(m, journal_id, source.uri.raw, target.uri.raw, kOp);
  });
}

// LibvirtMigrationOps (migration_ops.cpp) answers resume and rollback here:
// only offline migrations keep a journal.

namespace {
Session& target_of(Connection& target) {
  Session* t = session_of(target);
  if (!t)
    throw Error(ErrorCode::InvalidArgument,
                "the target connection is not a libvirt connection (" + target.uri().raw +
                    "); this journal is a libvirt offline migration",
                kOp);
  return *t;
}
}  // namespace

VmInfo LibvirtMigrationOps::resume(const std::string& journal_id, Connection& target,
                                   const ProgressFn& progress, const CancelToken& cancel) {
  return guarded(
      kOp, [&] { return offline_resume(s_, target_of(target), journal_id, progress, cancel); });
}

void LibvirtMigrationOps::rollback(const std::string& journal_id, Connection& target) {
  guarded(kOp, [&] { offline_rollback(s_, target_of(target), journal_id); });
}

}  // namespace hyperctl::lv
