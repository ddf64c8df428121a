// network list|info|start|stop, host info
#include "app.hpp"
#include "hyperctl/error.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

/// hyperctl.result/1 for a network action: `network` instead of `vm`.
int report_network(Session& s, const std::string& operation, const std::string& network,
                   const std::string& message) {
  JsonValue doc = {{"schema", "hyperctl.result/1"},
                   {"operation", operation},
                   {"network", network},
                   {"result", "ok"},
                   {"message", message}};
  write_stdout(render(s.format(), doc, printable(message) + "\n"));
  return 0;
}

int run_network_list(const GlobalOptions& g) {
  Session s(g);
  const auto nets = s.connect(true).networks().list();
  switch (s.format()) {
    case Format::Table:
      write_stdout(network_list_table(nets));
      break;
    case Format::Csv:
      write_stdout(network_list_csv(nets));
      break;
    case Format::Json:
      write_stdout(to_json_text(network_list_Json(s.uri(), nets)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(network_list_Json(s.uri(), nets)));
      break;
  }
  return 0;
}

int run_network_info(const GlobalOptions& g, const std::string& name) {
  Session s(g);
  const Network net = s.connect(true).networks().get(name);
  switch (s.format()) {
    case Format::Table:
      write_stdout(network_info_text(net));
      break;
    case Format::Csv:
      write_stdout(network_list_csv({net}));
      break;
    case Format::Json:
      write_stdout(to_json_text(network_doc_Json(s.uri(), net)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(network_doc_Json(s.uri(), net)));
      break;
  }
  return 0;
}

int run_host_info(const GlobalOptions& g) {
  Session s(g);
  const HostInfo host = s.connect(true).host().info();
  const JsonValue doc = host_doc_Json(s.uri(), host);
  if (s.format() == Format::Csv) {
    // One flat row: lists joined with spaces, extras left out.
    JsonValue flat = JsonValue::object();
    for (const auto& [k, v] : doc.items()) {
      if (k == "extras") continue;
      if (v.is_array()) {
        std::string joined;
        for (const auto& item : v) joined += (joined.empty() ? "" : " ") + item.get<std::string>();
        flat[k] = joined;
      } else {
        flat[k] = v;
      }
    }
    write_stdout(render(Format::Csv, flat, ""));
    return 0;
  }
  write_stdout(render(s.format(), doc, host_info_text(host)));
  return 0;
}

}  // namespace

void add_network_host_commands(CLI::App& app, const CommandContext& ctx) {
  // CLI11 keeps the callbacks; the arguments must outlive this function.
  static std::string info_name, start_name, stop_name;

  auto* net = app.add_subcommand("network", "Virtual networks");
  net->require_subcommand(1);
  net->add_subcommand("list", "List networks")->callback(ctx.run([&g = ctx.g] {
    return run_network_list(g);
  }));
  auto* info = net->add_subcommand("info", "Show one network and the VMs attached to it");
  info->add_option("network", info_name, "Network name")->required();
  info->callback(ctx.run([&g = ctx.g] { return run_network_info(g, info_name); }));
  auto* start = net->add_subcommand("start", "Start (activate) a network");
  start->add_option("network", start_name, "Network name")->required();
  start->callback(ctx.run([&g = ctx.g] {
    Session s(g);
    s.connect().networks().start(start_name);
    return report_network(s, "network.start", start_name,
                          "network " + squote(start_name) + " started");
  }));
  auto* stop = net->add_subcommand("stop", "Stop (deactivate) a network");
  stop->add_option("network", stop_name, "Network name")->required();
  stop->callback(ctx.run([&g = ctx.g] {
    Session s(g);
    s.connect().networks().stop(stop_name);
    return report_network(s, "network.stop", stop_name,
                          "network " + squote(stop_name) + " stopped");
  }));

  auto* host = app.add_subcommand("host", "The hypervisor host");
  host->require_subcommand(1);
  host->add_subcommand("info", "Hypervisor, CPU, memory and guest types of the host")
      ->callback(ctx.run([&g = ctx.g] { return run_host_info(g); }));
  static bool shutdown_force = false;
  auto* shutdown = host->add_subcommand(
      "shutdown", "Stop the hypervisor and everything it runs (WSL: wsl --shutdown)");
  shutdown->add_flag("--force", shutdown_force, "Skip the graceful path where there is one");
  shutdown->callback(ctx.run([&g = ctx.g] {
    Session s(g);
    s.connect().host().shutdown(shutdown_force);
    return report_action(s, "host.shutdown", "", shutdown_force ? "forced" : "ok",
                         std::string("host shut down") + (shutdown_force ? " (forced)" : ""));
  }));
}

}  // namespace hyperctl::cli
