// The fleet configuration file: named connections and groups (config.hpp).
//
// The text is kept line by line so that save() writes back what the user
// wrote, comments and order included; add() appends a section's lines and
// remove() takes a section's lines out, so that lines_ is always the file to
// be written.
#include "hyperctl/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "hyperctl/credentials.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/uri.hpp"
#include "posix.hpp"
#include "secrets.hpp"
#include "text.hpp"

namespace hyperctl {

namespace {

using text::quoted;
using text::trim;

bool is_comment_or_blank(const std::string& line) {
  const std::string t = trim(line);
  return t.empty() || t[0] == '#' || t[0] == ';';
}

bool is_section_header(const std::string& line) {
  const std::string t = trim(line);
  return !t.empty() && t[0] == '[';
}

/// "a, b,c" -> {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

bool valid_env_var(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool has_control(const std::string& text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// Why `spec` is not a valid `credentials =` value; empty when it is. The
/// value itself is never part of the answer: a user may have put the
/// password there.
std::string credentials_problem(const std::string& spec) {
  if (spec.empty() || spec == "file" || spec == "prompt" || spec == "none") return {};
  if (spec.rfind("env:", 0) == 0) {
    if (valid_env_var(spec.substr(4))) return {};
    return "bad credentials value: env: needs a variable name ([A-Za-z_][A-Za-z0-9_]*)";
  }
  if (spec.rfind("file:", 0) == 0) {
    const std::string key = spec.substr(5);
    if (!key.empty() && key.find('=') == std::string::npos && trim(key) == key && key[0] != '#' &&
        !has_control(key))
      return {};
    return "bad credentials value: file: needs a key (no '=', not starting with '#')";
  }
  return "bad credentials value (env:VAR, file, file:KEY, prompt or none)";
}

/// A connection reads its password from the variable `credentials = env:NAME`
/// names: from the moment the configuration is known, no child gets it.
void hide_credential_variable(const std::string& spec) {
  if (spec.rfind("env:", 0) == 0) secrets::hide_variable(spec.substr(4));
}

/// The sentence refusing connection `name` whose password variable is the
/// one of `other` (from line `other_line`).
std::string shared_variable(const std::string& name, const std::string& other, int other_line) {
  return "connection " + quoted(name) + " shares " + credential_env_name(name) + " with " +
         quoted(other) + " (line " + std::to_string(other_line) + "); rename one";
}

/// "20s", "500ms", "2m", "15" (seconds). nullopt when malformed or zero.
std::optional<std::chrono::milliseconds> parse_timeout(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const long long n = std::stoll(text.substr(0, digits));
  const std::string unit = trim(text.substr(digits));
  long long ms = 0;
  if (unit.empty() || unit == "s")
    ms = n * 1000;
  else if (unit == "ms")
    ms = n;
  else if (unit == "m")
    ms = n * 60 * 1000;
  else
    return std::nullopt;
  if (ms <= 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

/// Throws Error(InvalidArgument) when `value` (a connection field) cannot be
/// written on one line of the file.
void check_value(const std::string& key, const std::string& value) {
  if (has_control(value) || trim(value) != value) {
    throw Error(ErrorCode::InvalidArgument,
                "bad " + key + " " + quoted(value) +
                    ": no control characters or surrounding blanks allowed");
  }
}

[[noreturn]] void system_error(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorCode::InvalidArgument,
              "cannot " + what + " " + quoted(path) + ": " + std::strerror(err));
}

}  // namespace

bool valid_connection_name(const std::string& text) {
  if (text.empty()) return false;
  auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(text[0])) return false;
  return std::all_of(text.begin(), text.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string FleetConfig::default_path() {
  if (const std::string dir = posix::user_config_dir(); !dir.empty()) return dir + "/config";
  throw Error(ErrorCode::InvalidArgument,
              "cannot find the config folder: neither XDG_CONFIG_HOME nor HOME is set "
              "(give --config FILE)");
}

FleetConfig FleetConfig::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) {
      FleetConfig empty;
      empty.origin_ = path;
      return empty;
    }
    system_error("read", path, err);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) system_error("read", path, EISDIR);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

FleetConfig FleetConfig::parse(const std::string& text, const std::string& origin) {
  FleetConfig cfg;
  cfg.origin_ = origin;
  {
    std::string line;
    std::istringstream in(text);
    while (std::getline(in, line)) cfg.lines_.push_back(line);
  }

  auto fail = [&](std::size_t index, const std::string& why) -> void {
    throw Error(ErrorCode::InvalidArgument,
                escape::terminal_text(origin) + ":" + std::to_string(index + 1) + ": " + why);
  };

  struct Section {
    bool is_group = false;
    std::size_t header = 0;
    std::map<std::string, std::size_t> keys;  // key -> line index
    ConnectionEntry connection;
    GroupEntry group;
    std::size_t members_line = 0;
  };
  std::vector<Section> sections;
  std::map<std::string, std::size_t> names;  // name -> header line index
  // HYPERCTL_PASSWORD_<NAME> -> the connection that has it, its header line
  std::map<std::string, std::pair<std::string, std::size_t>> variables;

  auto close_section = [&](std::size_t end) {
    if (sections.empty()) return;
    Section& s = sections.back();
    if (!s.is_group && !s.keys.count("uri"))
      fail(s.header, "connection " + quoted(s.connection.name) + " has no uri");
    if (s.is_group && !s.keys.count("members"))
      fail(s.header, "group " + quoted(s.group.name) + " has no members");
    // The span ends after the section's last key line: comments and blanks
    // that follow it belong to what comes next.
    std::size_t last = s.header + 1;
    for (std::size_t i = s.header + 1; i < end; ++i)
      if (!is_comment_or_blank(cfg.lines_[i])) last = i + 1;
    cfg.spans_.push_back(
        Span{s.is_group ? s.group.name : s.connection.name, s.is_group, s.header, last});
  };

  for (std::size_t i = 0; i < cfg.lines_.size(); ++i) {
    const std::string line = trim(cfg.lines_[i]);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']') fail(i, "section header without closing ']'");
      const std::string inner = trim(line.substr(1, line.size() - 2));
      const auto blank = inner.find_first_of(" \t");
      const std::string kind = inner.substr(0, blank);
      const std::string name =
          blank == std::string::npos ? std::string() : trim(inner.substr(blank));
      if (kind != "connection" && kind != "group")
        fail(i, "unknown section " + quoted(kind) + " (connection NAME or group NAME)");
      if (name.empty()) fail(i, "[" + kind + "] needs a name: [" + kind + " NAME]");
      if (!valid_connection_name(name))
        fail(i, "bad name " + quoted(name) +
                    " (letters, digits, '.', '_' and '-', starting with a letter or digit)");
      if (auto it = names.find(name); it != names.end())
        fail(i, "duplicate name " + quoted(name) + " (already used at line " +
                    std::to_string(it->second + 1) + ")");
      if (kind == "connection") {
        const auto [it, fresh] = variables.emplace(credential_env_name(name), std::pair{name, i});
        if (!fresh)
          fail(i, shared_variable(name, it->second.first, static_cast<int>(it->second.second + 1)));
      }
      close_section(i);
      names[name] = i;
      Section s;
      s.is_group = kind == "group";
      s.header = i;
      if (s.is_group) {
        s.group.name = name;
        s.group.line = static_cast<int>(i + 1);
      } else {
        s.connection.name = name;
        s.connection.line = static_cast<int>(i + 1);
      }
      sections.push_back(std::move(s));
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) fail(i, "expected KEY = VALUE or a [section] header");
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (sections.empty()) fail(i, "KEY = VALUE before any [connection NAME] or [group NAME]");
    Section& s = sections.back();
    static const std::vector<std::string> kConnectionKeys = {"uri", "user", "credentials", "tags",
                                                             "timeout"};
    static const std::vector<std::string> kGroupKeys = {"members"};
    const auto& allowed = s.is_group ? kGroupKeys : kConnectionKeys;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      fail(i, "unknown key " + quoted(key) + " in a " + (s.is_group ? "group" : "connection") +
                  " (" + join(allowed) + ")");
    }
    if (auto it = s.keys.find(key); it != s.keys.end())
      fail(i, "repeated key " + quoted(key) + " (first at line " + std::to_string(it->second + 1) +
                  ")");
    s.keys[key] = i;
    if (has_control(value)) fail(i, "control character in the value of " + quoted(key));
    ConnectionEntry& c = s.connection;
    if (key == "uri") {
      if (value.empty()) fail(i, "empty uri");
      try {
        (void)Uri::parse(value);
      } catch (const Error& e) {
        fail(i, std::string("bad uri: ") + e.what());
      }
      c.uri = value;
    } else if (key == "user") {
      c.user = value;
    } else if (key == "credentials") {
      if (auto why = credentials_problem(value); !why.empty()) fail(i, why);
      c.credentials = value;
      hide_credential_variable(value);
    } else if (key == "tags") {
      c.tags = split_list(value);
      for (const auto& t : c.tags)
        if (!valid_connection_name(t))
          fail(i, "bad tag " + quoted(t) +
                      " (letters, digits, '.', '_' and '-', starting with a letter or digit)");
    } else if (key == "timeout") {
      auto t = parse_timeout(value);
      if (!t) fail(i, "bad timeout " + quoted(value) + " (a number above 0 with ms, s or m)");
      c.timeout = t;
    } else if (key == "members") {
      s.group.members = split_list(value);
      s.members_line = i;
      if (s.group.members.empty()) fail(i, "empty members list");
      for (const auto& m : s.group.members) {
        const bool tag = m.rfind("tag:", 0) == 0;
        if (!valid_connection_name(tag ? m.substr(4) : m))
          fail(i, "bad member " + quoted(m) + " (a connection name or tag:TAG)");
      }
    }
  }
  close_section(cfg.lines_.size());

  for (auto& s : sections)
    if (!s.is_group) cfg.connections_.push_back(std::move(s.connection));
  // Members are checked once every connection is known (a group may come
  // before the connections it names). A tag: member may match no connection
  // yet: tags select whatever carries them at the time of use.
  for (auto& s : sections) {
    if (!s.is_group) continue;
    for (const auto& m : s.group.members) {
      if (m.rfind("tag:", 0) == 0) continue;
      if (!cfg.find(m)) {
        const bool is_group = names.count(m) > 0;
        fail(s.members_line, "member " + quoted(m) + " of group " + quoted(s.group.name) +
                                 (is_group ? " is a group (groups hold connections and tags)"
                                           : " names no connection"));
      }
    }
    cfg.groups_.push_back(std::move(s.group));
  }
  return cfg;
}

std::string format_timeout(std::chrono::milliseconds t) {
  const long long ms = t.count();
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

const ConnectionEntry* FleetConfig::find(const std::string& name) const {
  for (const auto& c : connections_)
    if (c.name == name) return &c;
  return nullptr;
}

std::vector<ConnectionEntry> FleetConfig::group(const std::string& name) const {
  const GroupEntry* g = nullptr;
  for (const auto& candidate : groups_)
    if (candidate.name == name) g = &candidate;
  if (!g)
    throw Error(ErrorCode::NotFound,
                "no group named " + quoted(name) + " in " + escape::terminal_text(origin_));
  std::vector<ConnectionEntry> out;
  auto add_once = [&](const ConnectionEntry& c) {
    for (const auto& o : out)
      if (o.name == c.name) return;
    out.push_back(c);
  };
  for (const auto& m : g->members) {
    if (m.rfind("tag:", 0) == 0) {
      const std::string tag = m.substr(4);
      for (const auto& c : connections_)
        if (std::find(c.tags.begin(), c.tags.end(), tag) != c.tags.end()) add_once(c);
    } else if (const ConnectionEntry* c = find(m)) {
      add_once(*c);
    }
  }
  return out;
}

const ConnectionEntry& FleetConfig::get(const std::string& name) const {
  const ConnectionEntry* c = find(name);
  if (!c)
    throw Error(ErrorCode::NotFound,
                "no connection named " + quoted(name) + " in " + escape::terminal_text(origin_));
  return *c;
}

std::vector<ConnectionEntry> FleetConfig::select(const std::vector<std::string>& names) const {
  std::vector<ConnectionEntry> out;
  for (const auto& n : names) {
    const ConnectionEntry& c = get(n);
    if (std::none_of(out.begin(), out.end(), [&](const ConnectionEntry& o) { return o.name == n; }))
      out.push_back(c);
  }
  return out;
}

void FleetConfig::add(const ConnectionEntry& entry) {
  if (!valid_connection_name(entry.name))
    throw Error(ErrorCode::InvalidArgument,
                "bad name " + quoted(entry.name) +
                    " (letters, digits, '.', '_' and '-', starting with a letter or digit)");
  if (entry.uri.empty()) throw Error(ErrorCode::InvalidArgument, "empty uri");
  check_value("uri", entry.uri);
  (void)Uri::parse(entry.uri);
  check_value("user", entry.user);
  if (auto why = credentials_problem(entry.credentials); !why.empty())
    throw Error(ErrorCode::InvalidArgument, why);
  hide_credential_variable(entry.credentials);
  for (const auto& t : entry.tags)
    if (!valid_connection_name(t))
      throw Error(ErrorCode::InvalidArgument,
                  "bad tag " + quoted(t) +
                      " (letters, digits, '.', '_' and '-', starting with a letter or digit)");
  if (entry.timeout && entry.timeout->count() <= 0)
    throw Error(ErrorCode::InvalidArgument, "bad timeout: must be above 0");
  const bool taken =
      find(entry.name) || std::any_of(groups_.begin(), groups_.end(),
                                      [&](const GroupEntry& g) { return g.name == entry.name; });
  if (taken)
    throw Error(ErrorCode::AlreadyExists, "a connection or group named " + quoted(entry.name) +
                                              " is already in " + escape::terminal_text(origin_));
  const std::string variable = credential_env_name(entry.name);
  for (const auto& c : connections_)
    if (credential_env_name(c.name) == variable)
      throw Error(ErrorCode::AlreadyExists, shared_variable(entry.name, c.name, c.line));

  if (!lines_.empty() && !trim(lines_.back()).empty()) lines_.emplace_back();
  const std::size_t first = lines_.size();
  lines_.push_back("[connection " + entry.name + "]");
  lines_.push_back("uri = " + entry.uri);
  if (!entry.user.empty()) lines_.push_back("user = " + entry.user);
  if (!entry.credentials.empty()) lines_.push_back("credentials = " + entry.credentials);
  if (!entry.tags.empty()) lines_.push_back("tags = " + join(entry.tags));
  if (entry.timeout) lines_.push_back("timeout = " + format_timeout(*entry.timeout));
  spans_.push_back(Span{entry.name, false, first, lines_.size()});
  ConnectionEntry added = entry;
  added.line = static_cast<int>(first + 1);
  connections_.push_back(std::move(added));
}

void FleetConfig::remove(const std::string& name) {
  const auto it = std::find_if(connections_.begin(), connections_.end(),
                               [&](const ConnectionEntry& c) { return c.name == name; });
  if (it == connections_.end())
    throw Error(ErrorCode::NotFound,
                "no connection named " + quoted(name) + " in " + escape::terminal_text(origin_));
  for (const auto& g : groups_) {
    if (std::find(g.members.begin(), g.members.end(), name) != g.members.end()) {
      throw Error(ErrorCode::Conflict, "connection " + quoted(name) + " is a member of group " +
                                           quoted(g.name) + " (" + escape::terminal_text(origin_) +
                                           ":" + std::to_string(g.line) +
                                           "); remove it there first");
    }
  }
  connections_.erase(it);

  const auto span = std::find_if(spans_.begin(), spans_.end(),
                                 [&](const Span& s) { return !s.is_group && s.name == name; });
  if (span == spans_.end()) return;
  std::size_t first = span->first;
  const std::size_t last = span->last;
  // The comment block right above the header (no blank line between) is the
  // section's own description: it goes with it, unless it opens the file
  // (then it is more likely about the whole file).
  std::size_t above = first;
  while (above > 0 && !trim(lines_[above - 1]).empty() && is_comment_or_blank(lines_[above - 1]) &&
         !is_section_header(lines_[above - 1]))
    --above;
  if (above > 0) first = above;
  std::size_t end = last;
  // Leave no double blank line where the section was.
  if (end < lines_.size() && trim(lines_[end]).empty() &&
      (first == 0 || trim(lines_[first - 1]).empty()))
    ++end;
  else if (end == lines_.size() && first > 0 && trim(lines_[first - 1]).empty())
    --first;
  lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(first),
               lines_.begin() + static_cast<std::ptrdiff_t>(end));
  const std::size_t removed = end - first;
  spans_.erase(span);
  for (auto& s : spans_) {
    if (s.first >= end) {
      s.first -= removed;
      s.last -= removed;
    }
  }
  for (auto& c : connections_)
    if (c.line > static_cast<int>(end)) c.line -= static_cast<int>(removed);
  for (auto& g : groups_)
    if (g.line > static_cast<int>(end)) g.line -= static_cast<int>(removed);
}

void FleetConfig::save(const std::string& path) const {
  const std::string target = path.empty() ? origin_ : path;
  if (target.empty()) throw Error(ErrorCode::InvalidArgument, "no file to save the config to");
  const auto slash = target.find_last_of('/');
  if (slash != std::string::npos && slash > 0)
    posix::make_dirs(target.substr(0, slash), 0700, "config");

  std::string text;
  for (const auto& l : lines_) text += l + "\n";

  // The file holds no secrets: keep the mode of the one it replaces, else
  // the usual 0644 less the umask (which the kernel applies: reading the
  // umask means setting it, a race with every thread creating files).
  if (struct stat st{}; ::stat(target.c_str(), &st) == 0)
    posix::replace_file(target, text, st.st_mode & 07777, "config");
  else
    posix::replace_file(target, text, 0644, "config", posix::ModeRule::LessUmask);
}

}  // namespace hyperctl
