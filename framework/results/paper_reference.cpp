#include "framework/results/paper_reference.h"

namespace qmoe {

const std::vector<ReferenceResult>& PaperReferenceResults() {
  static const std::vector<ReferenceResult> rows = [] {
    std::vector<ReferenceResult> r;
    const std::string src = "QMoE MLSys 2024", note = "published; not reproduced here";
    auto add = [&](const char* table, const char* model, const char* method, double bits, const char* setting,
                   const char* metric, double value) {
      r.push_back(ReferenceResult{src, table, model, method, bits, setting, metric, value, note});
    };
    // Table 4: C4 validation loss (nats); columns 2-bit and ternary (1.5 bits).
    struct T4 { const char* model; double bf16, rtn2, rtn3, q05_2, q05_3, q1_2, q1_3, q2_2, q2_3; };
    for (const T4& t : {T4{"switch-base-128", 1.73, 2.27, 4.54, 1.78, 2.11, 1.76, 1.99, 1.76, 1.93},
                        T4{"switch-large-128", 1.55, 1.96, 2.79, 1.54, 1.70, 1.56, 1.69, 1.57, 1.64},
                        T4{"switch-c-2048", 1.18, 1.33, 2.15, 1.22, 1.27, 1.20, 1.26, 1.21, 1.26}}) {
      add("Table 4", t.model, "bf16", 16, "", "c4_val_loss", t.bf16);
      add("Table 4", t.model, "rtn", 2, "", "c4_val_loss", t.rtn2);
      add("Table 4", t.model, "rtn", 1.5, "", "c4_val_loss", t.rtn3);
      add("Table 4", t.model, "qmoe-0.5x", 2, "", "c4_val_loss", t.q05_2);
      add("Table 4", t.model, "qmoe-0.5x", 1.5, "", "c4_val_loss", t.q05_3);
      add("Table 4", t.model, "qmoe-1x", 2, "", "c4_val_loss", t.q1_2);
      add("Table 4", t.model, "qmoe-1x", 1.5, "", "c4_val_loss", t.q1_3);
      add("Table 4", t.model, "qmoe-2x", 2, "", "c4_val_loss", t.q2_2);
      add("Table 4", t.model, "qmoe-2x", 1.5, "", "c4_val_loss", t.q2_3);
    }
    // Table 2: special-token masking, switch-base-128.
    add("Table 2", "switch-base-128", "bf16", 16, "no mask", "c4_val_loss", 1.73);
    add("Table 2", "switch-base-128", "qmoe-1x", 2, "no mask", "c4_val_loss", 1.86);
    add("Table 2", "switch-base-128", "qmoe-1x", 1.5, "no mask", "c4_val_loss", 2.16);
    add("Table 2", "switch-base-128", "bf16", 16, "mask", "c4_val_loss", 1.73);
    add("Table 2", "switch-base-128", "qmoe-1x", 2, "mask", "c4_val_loss", 1.76);
    add("Table 2", "switch-base-128", "qmoe-1x", 1.5, "mask", "c4_val_loss", 1.99);
    // Table 1: one sparse encoder layer of switch-base-128, 10K samples, A6000.
    add("Table 1", "switch-base-128", "qmoe-1x", 1.5, "|E|=1", "layer_seconds", 174.1);
    add("Table 1", "switch-base-128", "qmoe-1x", 1.5, "|E|=4", "layer_seconds", 54.4);
    add("Table 1", "switch-base-128", "qmoe-1x", 1.5, "|E|=16", "layer_seconds", 28.8);
    // Table 3: natural sparsity (%).
    add("Table 3", "switch-base-128", "qmoe-1x", 2, "", "natural_sparsity_pct", 72.2);
    add("Table 3", "switch-base-128", "qmoe-1x", 1.5, "", "natural_sparsity_pct", 85.7);
    add("Table 3", "switch-large-128", "qmoe-1x", 2, "", "natural_sparsity_pct", 73.1);
    add("Table 3", "switch-large-128", "qmoe-1x", 1.5, "", "natural_sparsity_pct", 86.4);
    add("Table 3", "switch-c-2048", "qmoe-1x", 2, "", "natural_sparsity_pct", 76.5);
    add("Table 3", "switch-c-2048", "qmoe-1x", 1.5, "", "natural_sparsity_pct", 88.6);
    // Table 5: c2048 on RedPajama domains.
    struct T5 { const char* domain; double bf16, b2, tern; };
    for (const T5& t : {T5{"arxiv", 1.31, 1.34, 1.42}, T5{"github", 0.99, 1.05, 1.13},
                        T5{"stackexchange", 1.15, 1.17, 1.22}, T5{"wiki", 1.20, 1.24, 1.32}}) {
      add("Table 5", "switch-c-2048", "bf16", 16, t.domain, "val_loss", t.bf16);
      add("Table 5", "switch-c-2048", "qmoe-1x", 2, t.domain, "val_loss", t.b2);
      add("Table 5", "switch-c-2048", "qmoe-1x", 1.5, t.domain, "val_loss", t.tern);
    }
    // Table 6: ternary + dictionary compression rates and sizes.
    struct T6 { const char* model; double moe_rate, full_rate, bf16_gb, qmoe_gb; };
    for (const T6& t : {T6{"switch-base-128", 17.06, 11.76, 14.9, 1.27}, T6{"switch-large-128", 18.34, 13.32, 52.7, 3.96},
                        T6{"switch-c-2048", 20.07, 19.81, 3142, 158.6}}) {
      add("Table 6", t.model, "qmoe-dict", 1.5, "", "moe_only_rate", t.moe_rate);
      add("Table 6", t.model, "qmoe-dict", 1.5, "", "full_rate", t.full_rate);
      add("Table 6", t.model, "bf16", 16, "", "size_gb", t.bf16_gb);
      add("Table 6", t.model, "qmoe-dict", 1.5, "", "size_gb", t.qmoe_gb);
    }
    // Table 7: compression runtime (minutes) for 0.5x / 1x / 2x samples, single A6000.
    struct T7 { const char* model; double m05, m1, m2; };
    for (const T7& t : {T7{"switch-base-128", 8.4, 14.0, 21.6}, T7{"switch-large-128", 22.0, 30.2, 45.2},
                        T7{"switch-c-2048", 13.3 * 60, 16.0 * 60, 20.8 * 60}}) {
      add("Table 7", t.model, "qmoe-0.5x", 1.5, "", "compress_minutes", t.m05);
      add("Table 7", t.model, "qmoe-1x", 1.5, "", "compress_minutes", t.m1);
      add("Table 7", t.model, "qmoe-2x", 1.5, "", "compress_minutes", t.m2);
    }
    return r;
  }();
  return rows;
}

int LoadPaperReference(ResultsDb& db) {
  db.Begin();
  for (const auto& r : PaperReferenceResults()) db.AddReferenceResult(r);
  db.Commit();
  return static_cast<int>(PaperReferenceResults().size());
}

}  // namespace qmoe
