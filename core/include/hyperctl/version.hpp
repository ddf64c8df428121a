#pragma once

#include <string_view>

namespace hyperctl {

/// The library's version, "MAJOR.MINOR.PATCH".
std::string_view version();

}  // namespace hyperctl
