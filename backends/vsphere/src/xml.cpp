// Placeholder: its owner replaces it.
#include "ops.hpp"
