// What the core does while it holds passwords (not installed): the
// variables they come from stay out of every child's environment, and the
// process makes no core dump that could carry them.
#pragma once

#include <string>
#include <string_view>

namespace hyperctl::secrets {

/// `name` (a `credentials = env:NAME` variable) holds a password: from now
/// on no child process gets it. HYPERCTL_PASSWORD and HYPERCTL_PASSWORD_*
/// are always left out.
void hide_variable(const std::string& name);

/// Whether a child's environment must leave `name` out.
bool hidden_variable(std::string_view name);

/// A secret is about to be in memory: core dumps off for the rest of the
/// process's life. Two system calls, each time: whatever else turned dumps
/// back on (a library, a fork that reset it) is undone at each new secret.
void keep_out_of_core_dumps();

}  // namespace hyperctl::secrets
