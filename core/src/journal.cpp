// The journal of multi-step operations: one JSON document per operation,
// rewritten atomically (temporary file, fsync, rename, fsync of the folder)
// on every change, so that a reader never sees a half-written journal.
#include "hyperctl/journal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "posix.hpp"

namespace hyperctl {
namespace {

using nlohmann::json;

constexpr const char* kSchema = "hyperctl.journal/1";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

/// An id is a file name made by create(): refuse anything else before it
/// becomes a path.
bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 100) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
  });
}

std::string path_of(const std::string& id) {
  return Journal::folder() + "/" + id + ".json";
}

std::string random_suffix() {
  std::random_device rd;
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) out += digits[rd() % 16];
  return out;
}

StepState state_from(const std::string& text, const std::string& file) {
  for (auto s : {StepState::Pending, StepState::Running, StepState::Done, StepState::Failed,
                 StepState::Undone})
    if (to_string(s) == text) return s;
  throw Error(ErrorCode::InvalidArgument,
              "journal file '" + file + "' is damaged: unknown step state '" + text + "'",
              "journal");
}

}  // namespace

std::string_view to_string(StepState state) {
  switch (state) {
    case StepState::Pending:
      return "pending";
    case StepState::Running:
      return "running";
    case StepState::Done:
      return "done";
    case StepState::Failed:
      return "failed";
    case StepState::Undone:
      return "undone";
  }
  return "pending";
}

std::string Journal::folder() {
  std::string base = env("HYPERCTL_STATE_DIR");
  if (base.empty()) {
    const std::string xdg = env("XDG_STATE_HOME");
    if (!xdg.empty() && xdg.front() == '/') {
      base = xdg + "/hyperctl";
    } else {
      const std::string home = env("HOME");
      if (home.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "no folder for the journal: set HYPERCTL_STATE_DIR or HOME", "journal");
      base = home + "/.local/state/hyperctl";
    }
  }
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + "/journal";
}

Journal Journal::create(std::string kind, std::map<std::string, std::string> params) {
  Journal j;
  j.kind_ = std::move(kind);
  j.params_ = std::move(params);
  const auto now = std::chrono::system_clock::now();
  j.created_unix_ =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::time_t t = static_cast<std::time_t>(j.created_unix_);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string dir = folder();
  posix::make_dirs(dir, 0700, "journal");
  // Unique: claim the name with O_EXCL, then save() replaces it atomically.
  for (int attempt = 0;; ++attempt) {
    j.id_ = std::string(stamp) + "-" + random_suffix();
    const std::string path = path_of(j.id_);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::close(fd);
      break;
    }
    if (errno != EEXIST || attempt > 20)
      throw Error(ErrorCode::BackendFailure,
                  "cannot create journal '" + path + "': " + std::strerror(errno), "journal");
  }
  j.save();
  return j;
}

Journal Journal::load(const std::string& id) {
  if (!valid_id(id))
    throw Error(ErrorCode::InvalidArgument, "'" + id + "' is not a journal id", "journal");
  const std::string path = path_of(id);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorCode::NotFound, "journal '" + id + "' not found in " + folder(), "journal");
  std::stringstream buf;
  buf << in.rdbuf();
  const auto damaged = [&](const std::string& why) {
    return Error(ErrorCode::InvalidArgument, "journal file '" + path + "' is damaged: " + why,
                 "journal");
  };
  json doc;
  try {
    doc = json::parse(buf.str());
  } catch (const json::exception& e) {
    throw damaged(e.what());
  }
  Journal j;
  try {
    if (!doc.is_object() || doc.value("schema", "") != kSchema)
      throw damaged("not a hyperctl journal");
    j.id_ = doc.at("id").get<std::string>();
    if (j.id_ != id) throw damaged("it names another id");
    j.kind_ = doc.at("kind").get<std::string>();
    j.status_ = doc.at("status").get<std::string>();
    j.created_unix_ = doc.at("created").get<std::int64_t>();
    j.params_ = doc.at("params").get<std::map<std::string, std::string>>();
    for (const auto& s : doc.at("steps")) {
      JournalStep step;
      step.name = s.at("name").get<std::string>();
      step.state = state_from(s.at("state").get<std::string>(), path);
      step.data = s.at("data").get<std::map<std::string, std::string>>();
      j.steps_.push_back(std::move(step));
    }
  } catch (const json::exception& e) {
    throw damaged(e.what());
  }
  return j;
}

std::vector<std::string> Journal::list() {
  const std::string dir = folder();
  std::vector<std::pair<std::string, std::string>> found;  // (created-sortable, id)
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return {};
  while (auto* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    std::string id = name.substr(0, name.size() - 5);
    if (!valid_id(id)) continue;
    struct stat st {};
    if (::stat((dir + "/" + name).c_str(), &st) != 0 || st.st_size == 0) continue;
    found.emplace_back(id, id);
  }
  // Ids start with the UTC creation time: their order is the age order.
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::size_t Journal::add_step(const std::string& name, std::map<std::string, std::string> data) {
  if (auto i = find_step(name)) return *i;
  steps_.push_back(JournalStep{name, StepState::Pending, std::move(data)});
  save();
  return steps_.size() - 1;
}

std::optional<std::size_t> Journal::find_step(const std::string& name) const {
  for (std::size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].name == name) return i;
  return std::nullopt;
}

void Journal::set_step(std::size_t index, StepState state,
                       std::map<std::string, std::string> data) {
  if (index >= steps_.size())
    throw Error(ErrorCode::Internal, "journal step index out of range", "journal");
  steps_[index].state = state;
  for (auto& [k, v] : data) steps_[index].data[k] = std::move(v);
  save();
}

void Journal::set_status(const std::string& status) {
  status_ = status;
  save();
}

void Journal::save() const {
  json steps = json::array();
  for (const auto& s : steps_)
    steps.push_back(
        {{"name", s.name}, {"state", std::string(to_string(s.state))}, {"data", s.data}});
  const json doc = {
      {"schema", kSchema},        {"id", id_},         {"kind", kind_}, {"status", status_},
      {"created", created_unix_}, {"params", params_}, {"steps", steps}};
  const std::string text = doc.dump(2) + "\n";
  // Mode 0600 in folders of 0700: journals name hosts and VMs.
  posix::make_dirs(folder(), 0700, "journal");
  posix::replace_file(path_of(id_), text, 0600, "journal");
}

void Journal::remove() const {
  const std::string path = path_of(id_);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw Error(ErrorCode::BackendFailure,
                "cannot remove journal '" + path + "': " + std::strerror(errno), "journal");
}

const std::string& Journal::param(const std::string& key) const {
  auto it = params_.find(key);
  if (it == params_.end())
    throw Error(ErrorCode::InvalidArgument,
                "journal " + id_ + " is damaged: it has no '" + key + "'");
  return it->second;
}

std::string migration_interrupted(const Journal& j) {
  return "offline migration " + j.id() + " interrupted; resume with: hyperctl migrate --resume " +
         j.id() + ", or undo with --rollback " + j.id();
}

void rethrow_with_journal(const Error& e, const Journal& j, const std::string& operation) {
  std::string detail = "journal: " + j.id();
  if (!e.detail().empty()) detail += "\n" + e.detail();
  throw Error(e.code(), std::string(e.what()) + "; " + migration_interrupted(j),
              e.operation().empty() ? operation : e.operation(), detail);
}

Journal load_migration_journal(const std::string& id, const std::string& kind,
                               const std::string& what, const std::string& source_uri,
                               const std::string& target_uri, const std::string& operation) {
  Journal j = Journal::load(id);
  const auto shown = [](const std::string& t) { return escape::terminal_text(t); };
  if (j.kind() != kind)
    throw Error(ErrorCode::InvalidArgument,
                "journal " + shown(id) + " records a '" + shown(j.kind()) + "', not " + what,
                operation);
  const std::string& src = j.param("source_uri");
  const std::string& dst = j.param("target_uri");
  if (src != source_uri || dst != target_uri)
    throw Error(ErrorCode::InvalidArgument,
                "journal " + shown(id) + " is a migration from " + shown(src) + " to " +
                    shown(dst) + ", but the connections are to " + shown(source_uri) + " and " +
                    shown(target_uri),
                operation);
  return j;
}

void fail_journalled(Journal& j, const Error& e, const std::string& operation) {
  try {
    j.set_status(e.code() == ErrorCode::Cancelled ? "cancelled" : "failed");
  } catch (const Error&) {
  }
  rethrow_with_journal(e, j, operation);
}

}  // namespace hyperctl
