// The QMoE paper's published numbers (Frantar & Alistarh, MLSys 2024, Tables 1-7) as reference rows,
// so reproduced results and the paper's cells can be read side by side in one database.
#pragma once
#include <vector>

#include "framework/results/results_db.h"

namespace qmoe {

const std::vector<ReferenceResult>& PaperReferenceResults();
// Upserts every paper row into `db` (idempotent). Returns how many rows were written.
int LoadPaperReference(ResultsDb& db);

}  // namespace qmoe
