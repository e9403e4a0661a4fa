// The few lines `qmoe run` ends with after a compress run, so a newcomer reads the result at a
// glance: baseline and compressed loss, bits per parameter, compression ratio, time.
#pragma once
#include <ostream>

#include "experiments/runner.h"

namespace qmoe {

// Prints nothing for runs other than a finished compress run.
void PrintRunSummary(const PointPlan& plan, std::ostream& out);

}  // namespace qmoe
