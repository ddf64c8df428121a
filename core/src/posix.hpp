// Small POSIX helpers the core's own files share (not installed): the
// folders and files written for the user (config, credentials, trust store,
// journals), and SIGPIPE held off while writing to pipes and sockets.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <string_view>

namespace hyperctl::posix {

/// `dir` and its missing parents, each folder created with `mode` (0700 for
/// everything that names hosts, VMs or secrets). A component that exists but
/// is not a folder, or a mkdir that fails: Error(BackendFailure, "cannot
/// create folder 'x': reason", operation).
void make_dirs(const std::string& dir, mode_t mode, const std::string& operation);

/// How replace_file sets the new file's mode: exactly `mode`, or `mode` less
/// the process's umask (applied by the kernel as the file is created).
enum class ModeRule { Exact, LessUmask };

/// Replaces `path` by `content` so that a reader sees the old file or the new
/// one, never a mix, even across a crash: a temporary in the same folder
/// (close-on-exec, so that no concurrently spawned child inherits it) with
/// `mode`, written and synced, renamed over `path`, then the folder synced.
/// A `path` that is a symbolic link is followed: the file it points to is
/// replaced (so that a secret erased there is gone) and the link stays.
/// The folder must exist. On failure the temporary is removed, `path` is as it
/// was, and Error(BackendFailure, "cannot write 'path': reason", operation)
/// is thrown.
void replace_file(const std::string& path, std::string_view content, mode_t mode,
                  const std::string& operation, ModeRule rule = ModeRule::Exact);

/// The user's home: $HOME, else (with `passwd_fallback`) the passwd entry's
/// folder; "" when none is known.
std::string home_dir(bool passwd_fallback);

/// hyperctl's folder for the user's files (config, credentials, trust
/// store): $XDG_CONFIG_HOME/hyperctl when that is an absolute path (the XDG
/// spec ignores relative ones), else HOME/.config/hyperctl; "" when no home
/// is known.
std::string user_config_dir(bool passwd_fallback = false);

/// Blocks SIGPIPE in the calling thread for its life, so that writing to a
/// pipe or socket whose reader has gone returns EPIPE instead of killing the
/// process; a SIGPIPE raised meanwhile is consumed before the mask is restored.
class SigpipeBlock {
 public:
  SigpipeBlock();
  ~SigpipeBlock();
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
};

}  // namespace hyperctl::posix
