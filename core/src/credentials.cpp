// Implementation of hyperctl/credentials.hpp (being written).
#include "hyperctl/credentials.hpp"
