// The run's `device` (top-level config key, parsed by the runner, which also checked that the
// machine has it before the run started): what compress, eval and runtime compute on.
#pragma once
#include <iostream>
#include <string>

#include "experiments/experiment.h"
#include "framework/device/device.h"

namespace qmoe {

inline DeviceSpec RunDevice(const RunContext& ctx) {
  auto sec = ctx.sections.find("");
  if (sec == ctx.sections.end()) return {};
  auto it = sec->second.find("device");
  return it == sec->second.end() ? DeviceSpec{} : ParseDevice(std::get<std::string>(it->second));
}

// For experiments that run block by block on one device: several listed GPUs are reported, and
// the first one is used.
inline c10::Device SingleDevice(const DeviceSpec& d, const std::string& experiment) {
  if (d.ordinals.size() > 1)
    std::cerr << experiment << ": device=" << d.ToString() << ": this experiment computes on one GPU at a time; using "
              << d.Primary().str() << "\n";
  return d.Primary();
}

}  // namespace qmoe
