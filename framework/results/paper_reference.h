// The QMoE paper's published numbers (MLSys 2024; the tables are restated in docs/reproducing.md) as reference rows,
// so reproduced results and the paper's cells can be read side by side in one database.
#pragma once
#include <vector>

#include "framework/results/results_db.h"

namespace qmoe {

const std::vector<ReferenceResult>& PaperReferenceResults();
// Upserts every paper row into `db` (idempotent). Returns how many rows were written.
int LoadPaperReference(ResultsDb& db);

}  // namespace qmoe
