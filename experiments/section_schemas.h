// The declared keys of the config sections that are not owned by a registry entry
// (the method and experiment sections are declared by their registry entries).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "framework/config/config.h"

namespace qmoe {

std::vector<ParamSpec> RootSchema();     // top-level scalars: seed, device
std::vector<ParamSpec> ResultsSchema();  // results.db, results.dir
std::vector<ParamSpec> SweepSchema();    // sweep.grids
// "model", "data", "eval" sections, declared by the model, data and evaluation code.
std::map<std::string, std::vector<ParamSpec>> ModelSectionSchemas(const ComposedConfig& cfg);

}  // namespace qmoe
