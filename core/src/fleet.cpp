// Implementation of hyperctl/fleet.hpp (being written).
#include "hyperctl/fleet.hpp"
