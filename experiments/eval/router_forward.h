// The training/analysis forward: the same block composition as SwitchModel::Forward (so the logits are
// identical; train_test checks it) plus the router's auxiliary losses of each MoE block, computed
// on the non-padding tokens: Switch load balancing E * sum_e f_e * P_e (f_e = fraction of tokens
// routed to e, P_e = mean router probability of e; 1.0 when perfectly balanced) and the router
// z-loss mean(logsumexp(logits)^2). Also counts tokens per expert for routing entropy.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/model/switch_model.h"

namespace qmoe {

struct RouterAux {
  at::Tensor balance;  // sum over MoE blocks of E * sum_e f_e P_e (scalar, differentiable)
  at::Tensor z;        // sum over MoE blocks of mean logsumexp^2 (scalar, differentiable)
  int64_t num_layers = 0;
  std::vector<std::string> layers;          // "encoder.block.1", ... in forward order
  std::vector<std::vector<int64_t>> counts; // tokens routed to each expert, per layer
};

struct BatchTensors {
  at::Tensor enc_ids, enc_mask, dec_in, dec_mask, targets;  // targets: -100 where padding
  int64_t num_targets = 0;
};
// Right-padded tensors of a batch: dec_in = decoder[:-1], targets = decoder[1:] (teacher forcing).
BatchTensors MakeBatchTensors(const std::vector<std::vector<int64_t>>& enc,
                              const std::vector<std::vector<int64_t>>& dec, int64_t pad_id);

// logits [B, Td, V]; fills `aux` when given (with_grad: the losses keep their graph).
at::Tensor TrainForward(SwitchModel& m, const at::Tensor& enc_ids, const at::Tensor& enc_mask,
                        const at::Tensor& dec_ids, const at::Tensor& dec_mask, RouterAux* aux);

// Entropy (nats) of the token distribution over experts for counts of one layer.
double RoutingEntropy(const std::vector<int64_t>& counts);

}  // namespace qmoe
