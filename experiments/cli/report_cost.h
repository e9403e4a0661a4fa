// `qmoe report cost [--where KEY=VALUE ...] [--gpu NAME --gpu-tflops X --gpu-gbps X --pcie-gbps X
// --efficiency X] [--samples N]`: projects the wall time, peak RAM and disk of compressing every
// configs/model entry with the sequential pipeline, from the rates of the newest finished `cost` run
// (matching every --where on its run_params), on this CPU and on a GPU of the stated peak; then
// compares the projection with every finished compress run in the database (docs/cost-model.md).
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace qmoe {

int RunCostReport(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out);

}  // namespace qmoe
