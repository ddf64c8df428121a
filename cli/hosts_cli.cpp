// hosts list|add|remove|test: the named connections of the config file
// (hyperctl/config.hpp) and their passwords in the credentials file
// (hyperctl/credentials.hpp). A password is only ever read from standard
// input (--password-stdin) or a terminal, never from argv.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>

#include "app.hpp"
#include "hyperctl/error.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

struct AddArgs {
  std::string name, uri, user, timeout, credentials;
  std::vector<std::string> tags;
  bool password_stdin = false;
};

struct TestArgs {
  std::vector<std::string> names;
  std::string group;
  bool all = false;
};

std::string timeout_text(const std::optional<std::chrono::milliseconds>& t) {
  return t ? format_timeout(*t) : std::string();
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

/// The result of hosts add / remove: hyperctl.result/1 with `connection`.
int report_hosts(const GlobalOptions& g, const std::string& operation, const std::string& name,
                 const std::string& message) {
  JsonValue doc = {{"schema", "hyperctl.result/1"},
                   {"operation", operation},
                   {"connection", name},
                   {"result", "ok"},
                   {"message", message}};
  write_stdout(render(parse_format(g.output), doc, printable(message) + "\n"));
  return 0;
}

// ----------------------------------------------------------------- list --

int run_hosts_list(const GlobalOptions& g) {
  const Format format = parse_format(g.output);
  const FleetConfig& cfg = fleet_config(g);
  if (format == Format::Json || format == Format::Yaml) {
    JsonValue conns = JsonValue::array();
    for (const auto& c : cfg.connections()) {
      JsonValue o = JsonValue::object();
      o["name"] = c.name;
      o["uri"] = c.uri;
      o["user"] = c.user.empty() ? JsonValue(nullptr) : JsonValue(c.user);
      o["credentials"] = c.credentials.empty() ? std::string("default") : c.credentials;
      o["password_env"] = credential_env_name(c.name);
      o["tags"] = c.tags;
      o["timeout_ms"] = c.timeout ? JsonValue(c.timeout->count()) : JsonValue(nullptr);
      o["line"] = c.line;
      conns.push_back(o);
    }
    JsonValue groups = JsonValue::array();
    for (const auto& gr : cfg.groups()) {
      JsonValue members = JsonValue::array();
      for (const auto& c : cfg.group(gr.name)) members.push_back(c.name);
      groups.push_back({{"name", gr.name},
                        {"members", gr.members},
                        {"connections", members},
                        {"line", gr.line}});
    }
    const JsonValue doc = {{"schema", "hyperctl.hosts/1"},
                           {"config", cfg.origin()},
                           {"connections", conns},
                           {"groups", groups}};
    write_stdout(format == Format::Json ? to_json_text(doc) : to_yaml(doc));
    return 0;
  }
  if (format == Format::Csv) {
    std::string out = csv_row({"name", "uri", "user", "credentials", "tags", "timeout"});
    for (const auto& c : cfg.connections())
      out += csv_row({c.name, c.uri, c.user, c.credentials.empty() ? "default" : c.credentials,
                      join(c.tags, " "), timeout_text(c.timeout)});
    write_stdout(out);
    return 0;
  }
  if (cfg.connections().empty() && cfg.groups().empty()) {
    write_stdout("no connections in " + printable(cfg.origin()) +
                 " (add one with: hyperctl hosts add NAME URI)\n");
    return 0;
  }
  Table t({"NAME", "URI", "USER", "CREDENTIALS", "TAGS", "TIMEOUT"});
  for (const auto& c : cfg.connections())
    t.add_row({c.name, c.uri, c.user.empty() ? "-" : c.user,
               c.credentials.empty() ? "default" : c.credentials,
               c.tags.empty() ? "-" : join(c.tags, ","),
               c.timeout ? timeout_text(c.timeout) : "-"});
  std::string out = t.render();
  if (!cfg.groups().empty()) {
    Table gt({"GROUP", "MEMBERS", "CONNECTIONS"});
    for (const auto& gr : cfg.groups()) {
      std::vector<std::string> names;
      for (const auto& c : cfg.group(gr.name)) names.push_back(c.name);
      gt.add_row({gr.name, join(gr.members, ","), names.empty() ? "-" : join(names, ",")});
    }
    out += "\n" + gt.render();
  }
  write_stdout(out);
  return 0;
}

// ------------------------------------------------------------------ add --

/// The password for --password-stdin. On a terminal it is asked for with the
/// echo off (prompt_secret); otherwise it is standard input up to the first
/// line end (a trailing newline is not part of it).
std::string password_from_stdin(const std::string& name) {
  if (::isatty(STDIN_FILENO)) {
    std::optional<std::string> typed = prompt_secret("Password for " + squote(name));
    if (!typed)
      throw Error(ErrorCode::InvalidArgument,
                  "--password-stdin: cannot read the password from the terminal");
    if (typed->empty()) throw Error(ErrorCode::InvalidArgument, "--password-stdin: empty password");
    return std::move(*typed);
  }
  std::string text = read_input("-");  // refuses an empty input
  const auto nl = text.find_first_of("\r\n");
  const bool one_line =
      nl == std::string::npos || text.find_first_not_of("\r\n", nl) == std::string::npos;
  if (!one_line)
    throw Error(ErrorCode::InvalidArgument,
                "--password-stdin: standard input holds more than one line; give the password "
                "alone");
  if (nl != std::string::npos) text.erase(nl);
  return text;
}

/// The first connection of `cfg` other than `except` that reads its
/// password under `key` in the credentials file; nullptr when none does.
const ConnectionEntry* key_user(const FleetConfig& cfg, const std::string& key,
                                const std::string& except) {
  for (const auto& c : cfg.connections())
    if (c.name != except && credentials_file_key(c) == key) return &c;
  return nullptr;
}

int run_hosts_add(const GlobalOptions& g, const AddArgs& a) {
  ConnectionEntry e;
  e.name = a.name;
  e.uri = a.uri;
  e.user = a.user;
  e.credentials = a.credentials;
  e.tags = a.tags;
  if (!a.timeout.empty()) e.timeout = duration_arg("--timeout", a.timeout);

  // Everything is checked before anything is written: the entry against the
  // file (name taken, bad URI...), then the password.
  const std::string path = config_path(g);
  FleetConfig cfg = FleetConfig::load(path);
  const FleetConfig before = cfg;
  struct stat st {};
  const bool existed = ::lstat(path.c_str(), &st) == 0;
  cfg.add(e);
  std::string message = "connection " + squote(e.name) + " added to " + printable(cfg.origin());
  if (!a.password_stdin) {
    cfg.save();
    return report_hosts(g, "hosts.add", e.name, message);
  }

  const std::string key = credentials_file_key(e);  // where the password goes
  if (key.empty())
    return usage_error(
        "--password-stdin stores the password in the credentials file; it does not go with "
        "--credentials env:VAR, prompt or none");
  if (const ConnectionEntry* other = key_user(cfg, key, e.name))
    throw Error(ErrorCode::Conflict,
                "connection " + squote(other->name) + " reads its password under " + squote(key) +
                    " in the credentials file; --password-stdin would replace it (give this "
                    "one --credentials file:KEY with a key of its own)");
  std::string secret = password_from_stdin(e.name);
  const CredentialStore& store = credential_store();
  // The connection first, then its password: if the password cannot be
  // stored, the connection goes again, so that a failed add leaves neither.
  cfg.save();
  try {
    store.store(key, secret);
  } catch (...) {
    std::fill(secret.begin(), secret.end(), '\0');
    try {
      if (existed)
        before.save();
      else
        ::unlink(path.c_str());
    } catch (...) {
      // The store's error is the one to report.
    }
    throw;
  }
  std::fill(secret.begin(), secret.end(), '\0');
  message += "; password stored in " + printable(store.path()) + " under " + squote(key);
  return report_hosts(g, "hosts.add", e.name, message);
}

// --------------------------------------------------------------- remove --

int run_hosts_remove(const GlobalOptions& g, const std::string& name, bool forget) {
  FleetConfig cfg = FleetConfig::load(config_path(g));
  const ConnectionEntry entry = cfg.get(name);  // NotFound naming the file
  cfg.remove(name);
  std::string message = "connection " + squote(name) + " removed from " + printable(cfg.origin());
  if (!forget) {
    cfg.save();
    return report_hosts(g, "hosts.remove", name, message);
  }
  // Only the key the connection read its password under, and only when no
  // remaining connection reads it too.
  const std::string key = credentials_file_key(entry);
  if (key.empty()) {
    cfg.save();
    message += "; no password to forget: it does not read the credentials file";
    return report_hosts(g, "hosts.remove", name, message);
  }
  const CredentialStore& store = credential_store();
  if (const ConnectionEntry* other = key_user(cfg, key, name)) {
    cfg.save();
    message += "; password " + squote(key) + " kept in " + printable(store.path()) +
               ": connection " + squote(other->name) + " uses it too";
    return report_hosts(g, "hosts.remove", name, message);
  }
  const bool erased = store.erase(key);
  cfg.save();
  message += erased ? "; password " + squote(key) + " removed from " + printable(store.path())
                    : "; no password " + squote(key) + " in " + printable(store.path());
  return report_hosts(g, "hosts.remove", name, message);
}

// ----------------------------------------------------------------- test --

struct TestValue {
  std::string hypervisor;
};

int run_hosts_test(const GlobalOptions& g, const TestArgs& a) {
  const Format format = parse_format(g.output);
  // Nothing named and no -c: every connection of the config file.
  // Only --group here: main.cpp refuses -g for the hosts commands.
  const std::string group = a.group.empty() ? g.group : a.group;
  const bool nothing = a.names.empty() && group.empty() && !a.all;
  const bool have_c = !g.uri.empty() || std::getenv("HYPERCTL_URI") != nullptr;
  auto targets = fleet_targets(g, a.names, group, a.all || (nothing && !have_c), std::nullopt);
  for (auto& t : targets) t.options.read_only = true;

  auto registry = std::make_shared<Registry>(g.plugin_dirs);
  const auto results =
      fleet::run_on_hosts(registry, targets, [](Connection& c, const fleet::Target&) -> std::any {
        const HostInfo info = c.host().info();
        return TestValue{info.hypervisor};
      });

  std::vector<fleet::HostReport> reports;
  for (const auto& r : results) reports.push_back(r.report);
  auto hypervisor = [](const fleet::HostResult& r) {
    if (r.report.status != fleet::HostStatus::Ok) return std::string();
    const auto* v = std::any_cast<TestValue>(&r.value);
    return v ? v->hypervisor : std::string();
  };

  std::size_t ok = 0;
  for (const auto& r : reports) ok += r.status == fleet::HostStatus::Ok ? 1 : 0;
  if (format == Format::Json || format == Format::Yaml) {
    JsonValue hosts = JsonValue::array();
    for (const auto& r : results) {
      JsonValue o = host_report_json(r.report);
      o["hypervisor"] = hypervisor(r);
      hosts.push_back(o);
    }
    const JsonValue doc = {{"schema", "hyperctl.hosts-test/1"},
                           {"hosts", hosts},
                           {"ok", ok},
                           {"failed", reports.size() - ok}};
    write_stdout(format == Format::Json ? to_json_text(doc) : to_yaml(doc));
  } else if (format == Format::Csv) {
    std::string out = csv_row(
        {"name", "uri", "backend", "status", "code", "elapsed_ms", "hypervisor", "message"});
    for (const auto& r : results) {
      const auto& rep = r.report;
      const bool good = rep.status == fleet::HostStatus::Ok;
      out += csv_row({rep.name, rep.uri, rep.backend, fleet::to_string(rep.status),
                      good ? "" : std::string(to_string(rep.code)),
                      std::to_string(rep.elapsed.count()), hypervisor(r), good ? "" : rep.message});
    }
    write_stdout(out);
  } else {
    Table t({"NAME", "URI", "STATUS", "ELAPSED", "MESSAGE"},
            {Align::Left, Align::Left, Align::Left, Align::Right, Align::Left});
    for (const auto& r : results) {
      const auto& rep = r.report;
      const bool good = rep.status == fleet::HostStatus::Ok;
      t.add_row(
          {rep.name, rep.uri, fleet::to_string(rep.status),
           std::to_string(rep.elapsed.count()) + " ms",
           good ? rep.backend + (hypervisor(r).empty() ? "" : ", " + hypervisor(r)) : rep.message});
    }
    write_stdout(t.render());
  }
  report_failed_hosts_line(reports, false);
  return first_failure_status(reports);
}

}  // namespace

void add_hosts_commands(CLI::App& app, const CommandContext& ctx) {
  // CLI11 keeps the callbacks; the arguments must outlive this function.
  static AddArgs add_args;
  static std::string remove_name;
  static bool forget = false;
  static TestArgs test_args;

  auto* hosts = app.add_subcommand("hosts", "Named connections of the config file");
  hosts->require_subcommand(1);

  hosts->add_subcommand("list", "List the named connections and groups")
      ->callback(ctx.run([&g = ctx.g] { return run_hosts_list(g); }));

  auto* add = hosts->add_subcommand("add", "Add a named connection");
  add->add_option("name", add_args.name, "Connection name: letters, digits, '.', '_', '-'")
      ->required();
  add->add_option("uri", add_args.uri, "Its URI")->required();
  add->add_option("--user", add_args.user, "User name (default: the URI's)");
  add->add_option("--tag", add_args.tags, "A tag (repeatable); groups may select tag:TAG")
      ->allow_extra_args(false)
      ->type_name("TAG");
  add->add_option("--timeout", add_args.timeout, "Per-host deadline: 500ms, 20s, 2m")
      ->type_name("DUR");
  add->add_option("--credentials", add_args.credentials,
                  "Where the password comes from: env:VAR, file, file:KEY, prompt, none "
                  "(default: HYPERCTL_PASSWORD_<NAME>, the credentials file, "
                  "HYPERCTL_PASSWORD, a prompt)")
      ->type_name("REF");
  add->add_flag("--password-stdin", add_args.password_stdin,
                "Read the password from standard input and store it in the credentials file");
  add->callback(ctx.run([&g = ctx.g] { return run_hosts_add(g, add_args); }));

  auto* remove = hosts->add_subcommand("remove", "Remove a named connection");
  remove->add_option("name", remove_name, "Connection name")->required();
  remove->add_flag("--forget-password", forget,
                   "Also remove its password from the credentials file");
  remove->callback(ctx.run([&g = ctx.g] { return run_hosts_remove(g, remove_name, forget); }));

  auto* test = hosts->add_subcommand(
      "test", "Connect to hosts and read their host info (default: every connection)");
  test->add_option("names", test_args.names, "Connection names or URIs");
  test->add_option("--group", test_args.group, "Every connection of this group")
      ->type_name("GROUP");
  test->add_flag("--all", test_args.all, "Every connection of the config file");
  test->callback(ctx.run([&g = ctx.g] { return run_hosts_test(g, test_args); }));
}

}  // namespace hyperctl::cli
