// SwitchConfig: the architecture of one Switch Transformer (docs/method.md, docs/switch-semantics.md), declared once as a
// Visit-able param struct. Its specs are the schema of the `model` config section; it also reads
// and writes Hugging Face `config.json`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

#include "framework/core/params.h"

namespace qmoe {

enum class Stack { kEncoder, kDecoder };
const char* StackName(Stack s);  // "encoder" / "decoder" (the HF name prefix)

struct SwitchConfig {
  std::string name = "switch-base-8";
  std::string path = "";  // HF model directory (config.json + weights); empty = not on disk
  std::string tokenizer = "";  // SentencePiece model of this checkpoint; empty = data.tokenizer
  int64_t d_model = 768;
  int64_t d_ff = 3072;
  int64_t num_heads = 12;
  int64_t d_kv = 64;
  int64_t num_layers = 12;          // encoder blocks
  int64_t num_decoder_layers = 12;  // decoder blocks
  int64_t num_experts = 8;
  int64_t encoder_sparse_step = 2;
  int64_t decoder_sparse_step = 2;
  int64_t vocab_size = 32128;
  bool tie_word_embeddings = true;
  std::string dtype = "float32";  // compute dtype; weights are cast to it on load
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  int64_t expert_capacity = 0;  // tokens per expert per sample; 0 = never drop
  bool is_full_sparse = false;  // every block of both stacks is MoE (c-2048)
  // Read from config.json's "qmoe_synthetic" (written by `qmoe synth`); not a config key: random
  // weights at a real model's shapes, whose token ids carry no meaning.
  bool synthetic = false;
  int64_t pad_token_id = 0;     // also the decoder start token
  int64_t eos_token_id = 1;

  template <class V>
  void Visit(V&& v) {
    v(name, "name", "model name (informational; the architecture comes from the keys below)");
    v(path, "path", "Hugging Face model directory with config.json and weights; '' = none");
    v(tokenizer, "tokenizer",
      "SentencePiece model the checkpoint was trained with (real models: ${model.path}/spiece.model); "
      "'' = data.tokenizer. Must fit the model's vocabulary and sentinel ids, else an error");
    v(d_model, "d_model", "hidden size", Range{1, 1e6});
    v(d_ff, "d_ff", "feed-forward (expert) inner size", Range{1, 1e7});
    v(num_heads, "num_heads", "attention heads", Range{1, 4096});
    v(d_kv, "d_kv", "per-head size; attention inner size = num_heads*d_kv (may differ from d_model)",
      Range{1, 1e5});
    v(num_layers, "num_layers", "encoder blocks", Range{0, 1e4});
    v(num_decoder_layers, "num_decoder_layers", "decoder blocks", Range{0, 1e4});
    v(num_experts, "num_experts", "experts per MoE block", Range{1, 1e6});
    v(encoder_sparse_step, "encoder_sparse_step",
      "block i is MoE iff i % step == 1 or step == 1; 0 = every block (qmoe's reading of c-2048's hub config)", Range{0, 1e4});
    v(decoder_sparse_step, "decoder_sparse_step", "as encoder_sparse_step, for the decoder", Range{0, 1e4});
    v(vocab_size, "vocab_size", "embedding rows", Range{1, 1e8});
    v(tie_word_embeddings, "tie_word_embeddings",
      "lm_head = shared embedding, with d_model^-0.5 scaling of the decoder output");
    v(dtype, "dtype", "compute dtype (weights are cast to it on load)", Choices{{"float32", "bfloat16"}});
    v(relative_attention_num_buckets, "relative_attention_num_buckets", "relative position buckets",
      Range{2, 1e4});
    v(relative_attention_max_distance, "relative_attention_max_distance",
      "distance mapped to the last bucket", Range{1, 1e6});
    v(layer_norm_epsilon, "layer_norm_epsilon", "RMS norm epsilon", Range{0, 1});
    v(expert_capacity, "expert_capacity",
      "max tokens per expert per sample (later ones bypass the expert); 0 = never drop", Range{0, 1e9});
    v(is_full_sparse, "is_full_sparse", "every block of both stacks is MoE (c-2048)");
    v(pad_token_id, "pad_token_id", "pad id, also the decoder start token", Range{0, 1e8});
    v(eos_token_id, "eos_token_id", "end-of-sequence id", Range{0, 1e8});
  }

  // MoE iff is_full_sparse, step 0 (c-2048's decoder), step 1, or i % step == 1.
  bool IsSparse(Stack s, int64_t block) const;
  int64_t NumBlocks(Stack s) const { return s == Stack::kEncoder ? num_layers : num_decoder_layers; }
  int64_t InnerDim() const { return num_heads * d_kv; }
  at::ScalarType ScalarType() const;  // kFloat or kBFloat16
  // Throws Error naming `where` and the key when values are inconsistent (e.g. odd bucket count).
  void Validate(const std::string& where) const;
  // Parameter count (tied embedding counted once) and expert parameter count.
  int64_t NumParams() const;
  int64_t NumExpertParams() const;
};

// Reads a Hugging Face config.json (file, or a directory holding one). `path` is set to the
// directory and `name` to its folder name. Applies the c-2048 quirks (docs/switch-semantics.md#switch-c-2048-quirks) (2048 experts with
// d_model 2080: 15/15 layers, untied, all sparse, bf16) and appends a line per applied quirk to
// `quirks` when given. Errors name the file and key.
SwitchConfig ReadHfConfig(const std::filesystem::path& path, std::vector<std::string>* quirks = nullptr);
// ReadHfConfig on the text of `file` (already read).
SwitchConfig ParseHfConfig(const std::string& text, const std::filesystem::path& file,
                           std::vector<std::string>* quirks = nullptr);
// Writes `dir`/config.json in HF SwitchTransformers layout (model_type switch_transformers).
void WriteHfConfig(const SwitchConfig& cfg, const std::filesystem::path& dir);
std::string HfConfigJson(const SwitchConfig& cfg);  // the text WriteHfConfig writes

}  // namespace qmoe
