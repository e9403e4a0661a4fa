// Fixture for layering_check_catches_a_climb: a codec header that includes the serving floor.
#include "serving/dict_experts.h"
