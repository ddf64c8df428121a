// pool list|info|create|start|stop|refresh|delete and
// volume list|info|create|delete|resize|clone|upload|download.
// A volume is named POOL/NAME, split at the first '/': a pool name has none,
// a volume name may (vSphere: a path in the datastore).
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "app.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/size.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

struct VolumeName {
  std::string pool;
  std::string name;
};

/// POOL/NAME, split at the first '/'.
VolumeName parse_volume(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size())
    throw Error(ErrorCode::InvalidArgument, "expected POOL/NAME for a volume, not " + squote(text));
  return {text.substr(0, slash), text.substr(slash + 1)};
}

std::uint64_t parse_volume_size(const std::string& text) {
  std::uint64_t bytes = 0;
  try {
    bytes = parse_size(text);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, std::string("bad --size: ") + e.what());
  }
  if (bytes == 0)
    throw Error(ErrorCode::InvalidArgument, "bad --size: must be more than 0: " + squote(text));
  return bytes;
}

/// --size of resize: SIZE, +SIZE or -SIZE, each with a unit.
SizeChange parse_size_change_arg(const std::string& text) {
  try {
    return parse_size_change(text);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, std::string("bad --size: ") + e.what());
  }
}

/// The operation ran to its end although it was asked to stop (a backend
/// that cannot interrupt it): say so rather than let the user believe that
/// nothing happened.
void warn_if_cancel_ignored(const CancelToken& cancel, const std::string& what) {
  if (cancel.cancelled())
    write_stderr("hyperctl: warning: " + printable(what) +
                 " could not be stopped and completed; undo it yourself if needed\n");
}

/// hyperctl.result/1 for a storage action: `pool` or `volume` instead of `vm`.
int report_storage(Session& s, const std::string& operation, const char* kind,
                   const std::string& object, const std::string& message) {
  JsonValue doc = {{"schema", "hyperctl.result/1"},
                   {"operation", operation},
                   {kind, object},
                   {"result", "ok"},
                   {"message", message}};
  write_stdout(render(s.format(), doc, printable(message) + "\n"));
  return 0;
}

int show_pool(Session& s, const Pool& pool, const std::string& message) {
  switch (s.format()) {
    case Format::Table:
      write_stdout(message.empty() ? pool_info_text(pool) : printable(message) + "\n");
      break;
    case Format::Csv:
      write_stdout(pool_list_csv({pool}));
      break;
    case Format::Json:
      write_stdout(to_json_text(pool_doc_Json(s.uri(), pool)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(pool_doc_Json(s.uri(), pool)));
      break;
  }
  return 0;
}

int show_volume(Session& s, const Volume& v, bool with_users, const std::string& message) {
  switch (s.format()) {
    case Format::Table:
      write_stdout(message.empty() ? volume_info_text(v) : printable(message) + "\n");
      break;
    case Format::Csv:
      write_stdout(volume_list_csv({v}));
      break;
    case Format::Json:
      write_stdout(to_json_text(volume_doc_Json(s.uri(), v, with_users)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(volume_doc_Json(s.uri(), v, with_users)));
      break;
  }
  return 0;
}

// ------------------------------------------------------------------ pools

int run_pool_list(const GlobalOptions& g) {
  Session s(g);
  const auto pools = s.connect(true).storage().list_pools();
  switch (s.format()) {
    case Format::Table:
      write_stdout(pool_list_table(pools));
      break;
    case Format::Csv:
      write_stdout(pool_list_csv(pools));
      break;
    case Format::Json:
      write_stdout(to_json_text(pool_list_Json(s.uri(), pools)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(pool_list_Json(s.uri(), pools)));
      break;
  }
  return 0;
}

enum class PoolAction { Start, Stop, Refresh, Delete };

int run_pool_action(const GlobalOptions& g, PoolAction action, const std::string& name) {
  Session s(g);
  StorageOps& st = s.connect().storage();
  switch (action) {
    case PoolAction::Start:
      st.start_pool(name);
      return report_storage(s, "pool.start", "pool", name, "pool " + squote(name) + " started");
    case PoolAction::Stop:
      st.stop_pool(name);
      return report_storage(s, "pool.stop", "pool", name, "pool " + squote(name) + " stopped");
    case PoolAction::Refresh:
      st.refresh_pool(name);
      return report_storage(s, "pool.refresh", "pool", name, "pool " + squote(name) + " refreshed");
    case PoolAction::Delete:
      st.remove_pool(name);
      return report_storage(s, "pool.delete", "pool", name,
                            "pool " + squote(name) + " deleted (its folder and files stay)");
  }
  return 0;
}

// ---------------------------------------------------------------- volumes

int run_volume_list(const GlobalOptions& g, const std::string& pool) {
  Session s(g);
  const auto vols = s.connect(true).storage().list_volumes(pool);
  switch (s.format()) {
    case Format::Table:
      write_stdout(volume_list_table(vols));
      break;
    case Format::Csv:
      write_stdout(volume_list_csv(vols));
      break;
    case Format::Json:
      write_stdout(to_json_text(volume_list_Json(s.uri(), pool, vols)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(volume_list_Json(s.uri(), pool, vols)));
      break;
  }
  return 0;
}

struct TransferArgs {
  std::string volume;
  std::string file;
  bool overwrite = false;
};

int run_transfer(const GlobalOptions& g, const TransferArgs& a, bool upload) {
  const VolumeName v = parse_volume(a.volume);
  Session s(g);
  StorageOps& st = s.connect().storage();
  TransferOptions options;
  options.overwrite = a.overwrite;
  CancelToken cancel;
  SigintCancels on_ctrl_c(cancel);
  ProgressLine bar(upload ? "upload" : "download");
  auto progress = [&bar](const Progress& p) { bar.update(p); };
  if (upload) {
    st.upload_volume(v.pool, v.name, a.file, options, progress, cancel);
  } else {
    st.download_volume(v.pool, v.name, a.file, options, progress, cancel);
  }
  warn_if_cancel_ignored(cancel, upload ? "the upload" : "the download");
  const std::string message =
      upload ? squote(a.file) + " uploaded to volume " + squote(a.volume)
             : "volume " + squote(a.volume) + " downloaded to " + squote(a.file);
  return report_storage(s, upload ? "volume.upload" : "volume.download", "volume", a.volume,
                        message);
}

}  // namespace

void add_storage_commands(CLI::App& app, const CommandContext& ctx) {
  GlobalOptions& g = ctx.g;

  // ---- pool
  CLI::App* pool = app.add_subcommand("pool", "Storage pools (libvirt pools, datastores...)");
  pool->require_subcommand(1);

  pool->add_subcommand("list", "List storage pools")->callback(ctx.run([&g] {
    return run_pool_list(g);
  }));

  static std::string info_name;
  auto* p_info = pool->add_subcommand("info", "Show one storage pool");
  p_info->add_option("pool", info_name, "Pool name")->required();
  p_info->callback(ctx.run([&g] {
    Session s(g);
    return show_pool(s, s.connect(true).storage().get_pool(info_name), "");
  }));

  static std::string create_name, create_path;
  auto* p_create = pool->add_subcommand(
      "create", "Define, build and start a directory pool that starts with its host");
  p_create->add_option("pool", create_name, "Pool name")->required();
  p_create->add_option("--path", create_path, "Absolute folder of the pool (created if absent)")
      ->required()
      ->type_name("DIR");
  p_create->callback(ctx.run([&g] {
    Session s(g);
    const Pool p = s.connect().storage().create_pool(create_name, create_path);
    return show_pool(s, p, "pool " + squote(p.name) + " created at " + squote(p.path));
  }));

  struct ActionCommand {
    const char* name;
    const char* help;
    PoolAction action;
  };
  static const ActionCommand kPoolActions[] = {
      {"start", "Start (activate) a pool", PoolAction::Start},
      {"stop", "Stop (deactivate) a pool; its volumes stay", PoolAction::Stop},
      {"refresh", "Rescan a pool for volumes added or removed behind its back",
       PoolAction::Refresh},
      {"delete", "Stop and forget a pool; its folder and files stay on disk", PoolAction::Delete},
  };
  static std::string pool_action_name[std::size(kPoolActions)];
  for (std::size_t i = 0; i < std::size(kPoolActions); ++i) {
    const PoolAction action = kPoolActions[i].action;
    std::string& name = pool_action_name[i];
    auto* sub = pool->add_subcommand(kPoolActions[i].name, kPoolActions[i].help);
    sub->add_option("pool", name, "Pool name")->required();
    sub->callback(ctx.run([&g, action, &name] { return run_pool_action(g, action, name); }));
  }

  // ---- volume
  CLI::App* volume =
      app.add_subcommand("volume", "Volumes (virtual disks, ISOs) in storage pools: POOL/NAME");
  volume->require_subcommand(1);

  static std::string list_pool;
  auto* v_list = volume->add_subcommand("list", "List the volumes of a pool");
  v_list->add_option("pool", list_pool, "Pool name")->required();
  v_list->callback(ctx.run([&g] { return run_volume_list(g, list_pool); }));

  static std::string vinfo;
  auto* v_info = volume->add_subcommand("info", "Show one volume, with the VMs that use it");
  v_info->add_option("volume", vinfo, "POOL/NAME")->required();
  v_info->callback(ctx.run([&g] {
    const VolumeName v = parse_volume(vinfo);
    Session s(g);
    return show_volume(s, s.connect(true).storage().get_volume(v.pool, v.name), true, "");
  }));

  static std::string vcreate, vcreate_size, vcreate_format;
  auto* v_create = volume->add_subcommand("create", "Create a volume");
  v_create->add_option("volume", vcreate, "POOL/NAME")->required();
  v_create->add_option("--size", vcreate_size, "Capacity: 512M, 10G...")
      ->required()
      ->type_name("SIZE");
  v_create->add_option("--format", vcreate_format, "qcow2 (default), raw...")->type_name("FORMAT");
  v_create->callback(ctx.run([&g] {
    const VolumeName v = parse_volume(vcreate);
    VolumeSpec spec;
    spec.pool = v.pool;
    spec.name = v.name;
    spec.capacity_bytes = parse_volume_size(vcreate_size);
    spec.format = vcreate_format;
    Session s(g);
    const Volume made = s.connect().storage().create_volume(spec);
    return show_volume(s, made, false,
                       "volume " + squote(vcreate) + " created (" + made.format + ", " +
                           format_size(made.capacity_bytes) + ")");
  }));

  static std::string vdelete;
  auto* v_delete = volume->add_subcommand("delete", "Delete a volume no VM uses");
  v_delete->add_option("volume", vdelete, "POOL/NAME")->required();
  v_delete->callback(ctx.run([&g] {
    const VolumeName v = parse_volume(vdelete);
    Session s(g);
    s.connect().storage().remove_volume(v.pool, v.name);
    return report_storage(s, "volume.delete", "volume", vdelete,
                          "volume " + squote(vdelete) + " deleted");
  }));

  static std::string vresize, vresize_size;
  static bool vresize_shrink = false, vresize_force = false;
  auto* v_resize = volume->add_subcommand(
      "resize",
      "Change a volume's capacity. SIZE sets it, +SIZE grows it, -SIZE shrinks it (a unit is "
      "required). A smaller capacity is refused unless --shrink; below the data the volume "
      "holds, also unless --force");
  v_resize->add_option("volume", vresize, "POOL/NAME")->required();
  v_resize
      ->add_option("--size", vresize_size,
                   "New capacity: 20G sets it, +5G grows it by 5 GiB, -1G shrinks it by 1 GiB")
      ->required()
      ->type_name("[+|-]SIZE");
  auto* f_shrink = v_resize->add_flag(
      "--shrink", vresize_shrink, "Allow a smaller capacity (the data past the new end is lost)");
  v_resize
      ->add_flag("--force", vresize_force,
                 "With --shrink: also below the data the volume holds (it is cut off)")
      ->needs(f_shrink);
  v_resize->callback(ctx.run([&g] {
    const VolumeName v = parse_volume(vresize);
    const SizeChange change = parse_size_change_arg(vresize_size);
    Session s(g);
    StorageOps& st = s.connect().storage();
    // A delta is counted from the capacity the backend reports now.
    const Volume before = st.get_volume(v.pool, v.name);
    std::uint64_t target = 0;
    try {
      target = apply_size_change(change, before.capacity_bytes);
    } catch (const Error& e) {
      throw Error(ErrorCode::InvalidArgument, std::string("bad --size: ") + e.what());
    }
    ResizeOptions options;
    options.shrink = vresize_shrink;
    options.force = vresize_force;
    const Volume after = st.resize_volume(v.pool, v.name, target, options);
    const std::string message = after.capacity_bytes == before.capacity_bytes
                                    ? "volume " + squote(vresize) + " stays at " +
                                          format_size(after.capacity_bytes) + " (unchanged)"
                                    : "volume " + squote(vresize) + " resized from " +
                                          format_size(before.capacity_bytes) + " to " +
                                          format_size(after.capacity_bytes);
    return show_volume(s, after, false, message);
  }));

  static std::string vclone, vclone_name, vclone_pool, vclone_format;
  auto* v_clone = volume->add_subcommand("clone", "Copy a volume (within a pool or to another)");
  v_clone->add_option("volume", vclone, "POOL/NAME of the source")->required();
  v_clone->add_option("name", vclone_name, "Name of the copy")->required();
  v_clone->add_option("--to-pool", vclone_pool, "Pool of the copy (default: the source's)")
      ->type_name("POOL");
  v_clone->add_option("--format", vclone_format, "Format of the copy (default: the source's)")
      ->type_name("FORMAT");
  v_clone->callback(ctx.run([&g] {
    const VolumeName v = parse_volume(vclone);
    VolumeSpec target;
    target.name = vclone_name;
    target.pool = vclone_pool.empty() ? v.pool : vclone_pool;
    target.format = vclone_format;
    Session s(g);
    StorageOps& st = s.connect().storage();
    CancelToken cancel;
    SigintCancels on_signal(cancel);
    ProgressLine bar("clone");
    const Volume copy = st.clone_volume(
        v.pool, v.name, target, [&bar](const Progress& p) { bar.update(p); }, cancel);
    warn_if_cancel_ignored(cancel, "the clone");
    return show_volume(
        s, copy, false,
        "volume " + squote(vclone) + " cloned to " + squote(copy.pool + "/" + copy.name));
  }));

  static TransferArgs up, down;
  auto* v_upload = volume->add_subcommand(
      "upload",
      "Stream a local file into a volume (created if absent; replaced only when complete)");
  v_upload->add_option("volume", up.volume, "POOL/NAME")->required();
  v_upload->add_option("file", up.file, "Local file")->required();
  v_upload->add_flag("--overwrite,--force", up.overwrite,
                     "Replace the content of an existing volume");
  v_upload->callback(ctx.run([&g] { return run_transfer(g, up, true); }));

  auto* v_download = volume->add_subcommand(
      "download", "Stream a volume into a local file (appears only when complete)");
  v_download->add_option("volume", down.volume, "POOL/NAME")->required();
  v_download->add_option("file", down.file, "Local file")->required();
  v_download->add_flag("--overwrite,--force", down.overwrite, "Replace an existing local file");
  v_download->callback(ctx.run([&g] { return run_transfer(g, down, false); }));
}

}  // namespace hyperctl::cli
