// What the fleet CLI suites share: test-driver node files, other programs'
// output (virsh, the independent listing), a small CSV reader, and config
// files for a temporary XDG_CONFIG_HOME.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hyperctl::fleet_test {

/// A test-driver host with `n` domains PREFIX-NN: running, off, paused, off...
inline std::string write_test_node(const std::filesystem::path& dir, const std::string& prefix,
                                   int n) {
  const auto file = dir / (prefix + ".xml");
  std::ofstream out(file);
  out << "<node>\n";
  const int states[] = {1, 5, 3, 5};
  for (int i = 0; i < n; ++i) {
    char name[96];
    std::snprintf(name, sizeof name, "%s-%02d", prefix.c_str(), i);
    out << "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        << "<name>" << name << "</name><memory unit='MiB'>" << 128 * (i + 1) << "</memory>"
        << "<vcpu>" << 1 + i % 3 << "</vcpu><os><type arch='x86_64'>hvm</type></os>"
        << "<test:runstate>" << states[i % 4] << "</test:runstate></domain>\n";
  }
  out << "</node>\n";
  return file.string();
}

/// Runs a fixed command line through the shell (test-made arguments only)
/// and returns its standard output; `status` gets the exit status.
inline std::string shell_output(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  const int st = pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

/// `virsh -c URI list --all --name`: the host's own listing.
inline std::set<std::string> virsh_names(const std::string& uri) {
  std::set<std::string> names;
  std::istringstream in(shell_output("virsh -q -c '" + uri + "' list --all --name 2>/dev/null"));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) names.insert(line);
  return names;
}

/// RFC 4180 records (quoted fields with "" and embedded commas/newlines).
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        field += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        field += c;
      continue;
    }
    if (c == '"') {
      quoted = true, any = true;
    } else if (c == ',') {
      row.push_back(field), field.clear(), any = true;
    } else if (c == '\n') {
      row.push_back(field), field.clear();
      rows.push_back(row), row.clear(), any = false;
    } else if (c != '\r') {
      field += c, any = true;
    }
  }
  if (any) row.push_back(field), rows.push_back(row);
  return rows;
}

struct ConfigHost {
  std::string name, uri, tags, timeout;
};

/// A config file at DIR/hyperctl/config (DIR is then XDG_CONFIG_HOME).
inline void write_config(const std::filesystem::path& xdg, const std::vector<ConfigHost>& hosts,
                         const std::vector<std::pair<std::string, std::string>>& groups) {
  std::filesystem::create_directories(xdg / "hyperctl");
  std::ofstream out(xdg / "hyperctl" / "config");
  out << "# written by the fleet suite\n";
  for (const auto& h : hosts) {
    out << "[connection " << h.name << "]\nuri = " << h.uri << "\n";
    if (!h.tags.empty()) out << "tags = " << h.tags << "\n";
    if (!h.timeout.empty()) out << "timeout = " << h.timeout << "\n";
    out << "\n";
  }
  for (const auto& [name, members] : groups)
    out << "[group " << name << "]\nmembers = " << members << "\n\n";
}

}  // namespace hyperctl::fleet_test
