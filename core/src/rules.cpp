#include "hyperctl/rules.hpp"

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/size.hpp"

namespace hyperctl {

namespace {
std::string q(const std::string& s) {
  return "'" + escape::terminal_text(s) + "'";
}
}  // namespace

void check_resize(const std::string& volume, std::uint64_t current_bytes, std::uint64_t new_bytes,
                  std::uint64_t data_bytes, const ResizeOptions& options,
                  std::string_view operation) {
  const std::string op(operation);
  if (new_bytes == 0)
    throw Error(ErrorCode::InvalidArgument, "a volume's capacity must be more than 0", op);
  if (new_bytes >= current_bytes) return;
  if (!options.shrink)
    throw Error(ErrorCode::Conflict,
                "resizing volume " + q(volume) + " from " + format_size(current_bytes) + " to " +
                    format_size(new_bytes) +
                    " would shrink it and lose the data past the new end; add --shrink to "
                    "mean it (nothing was changed)",
                op);
  if (data_bytes > new_bytes && !options.force)
    throw Error(ErrorCode::Conflict,
                "volume " + q(volume) + " holds data up to " + format_size(data_bytes) +
                    "; shrinking it to " + format_size(new_bytes) +
                    " would cut that off; add --force as well to mean it (nothing was changed)",
                op);
}

void validate_snapshot_name(const std::string& name, std::string_view operation) {
  const std::string op(operation);
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "a snapshot name cannot be empty", op);
  if (name.size() > 255)
    throw Error(ErrorCode::InvalidArgument,
                "a snapshot name is at most 255 bytes; this one has " + std::to_string(name.size()),
                op);
  if (!escape::valid_utf8(name))
    throw Error(ErrorCode::InvalidArgument, "snapshot name is not valid UTF-8", op);
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      throw Error(ErrorCode::InvalidArgument,
                  "snapshot name " + q(name) + " contains a control character (newline, tab...)",
                  op);
  if (name.find('/') != std::string::npos)
    throw Error(ErrorCode::InvalidArgument,
                "snapshot name " + q(name) + " contains '/', which other tools read as a path", op);
}

void check_delete_snapshots(const std::string& vm_label, std::size_t snapshot_count,
                            const DeleteOptions& options, std::string_view operation) {
  if (snapshot_count == 0 || options.snapshots) return;
  throw Error(ErrorCode::Conflict,
              vm_label + " has " + std::to_string(snapshot_count) +
                  (snapshot_count == 1 ? " snapshot" : " snapshots") +
                  "; add --snapshots to delete them with it (nothing was deleted)",
              std::string(operation));
}

}  // namespace hyperctl
