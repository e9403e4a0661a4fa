// The tokenizer of a model: the model config's `tokenizer` (real checkpoints: the spiece.model in
// their own directory), else data.tokenizer (the shipped models' tokenizer), checked against the
// model it will feed. See docs/reproducing.md for where real checkpoints' tokenizers come from.
#pragma once
#include <cstdint>
#include <string>

#include "framework/data/samples.h"
#include "framework/data/tokenizer.h"
#include "framework/model/switch_config.h"

namespace qmoe {

// Loads the tokenizer for `model` (model.tokenizer when set, else dp.tokenizer; relative paths are
// tried against the working directory, then `repo_root`) and checks that it fits the model: every
// id below vocab_size (embedding rows), the T5 sentinels in the top rows (rows = pieces + sentinels
// padded by fewer than kMaxVocabPadding rows, as T5's 32100 ids in 32128 rows; waived for a
// synthetic checkpoint, whose rows carry no meaning), and pad/eos ids
// equal to the model's. A missing file or a misfit is one Error naming the tokenizer file, the model
// and both sizes.
data::Tokenizer LoadModelTokenizer(const data::DataParams& dp, const std::string& repo_root, const SwitchConfig& model);

// The same check on a loaded tokenizer; `source` names its file in the message.
void CheckTokenizerFitsModel(const data::Tokenizer& tok, const std::string& source, const SwitchConfig& model);

constexpr int64_t kMaxVocabPadding = 128;

}  // namespace qmoe
