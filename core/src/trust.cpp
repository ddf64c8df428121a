// Implementation of hyperctl/trust.hpp (being written).
#include "hyperctl/trust.hpp"
