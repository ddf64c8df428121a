// Implementation of hyperctl/config.hpp (being written).
#include "hyperctl/config.hpp"
