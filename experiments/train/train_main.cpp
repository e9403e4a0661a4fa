// Standalone `qmoe train` entry (same as the CLI command), so training does not depend on the
// whole CLI being buildable: qmoe_train_tool --recipe configs/train/<name>.yaml [--resume].
#include <iostream>

#include "experiments/train/trainer.h"
#include "framework/core/error.h"

int main(int argc, char** argv) {
  try {
    return qmoe::TrainCommand(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "qmoe train: " << e.what() << "\n";
    return 1;
  }
}
