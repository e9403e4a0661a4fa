#include "framework/model/model_tokenizer.h"

#include <filesystem>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

std::string ModelName(const SwitchConfig& m) {
  return m.path.empty() ? StrCat("model '", m.name, "'") : StrCat("model '", m.name, "' (", m.path, ")");
}

}  // namespace

void CheckTokenizerFitsModel(const data::Tokenizer& tok, const std::string& source, const SwitchConfig& m) {
  const int64_t ids = tok.vocab_size(), rows = m.vocab_size;
  const std::string what = StrCat("tokenizer '", source, "' (", tok.num_pieces(), " pieces + ", tok.num_sentinels(),
                                  " sentinels = ", ids, " ids, sentinels at ", tok.num_pieces(), "..", ids - 1, ")");
  QMOE_CHECK(ids <= rows, what, " does not fit ", ModelName(m), ": the model has only ", rows,
             " embedding rows (vocab_size); use the tokenizer the checkpoint was trained with (model.tokenizer)");
  // A synthetic checkpoint (random weights at a real model's shapes) has no trained sentinel rows:
  // any tokenizer whose ids fit serves it.
  QMOE_CHECK(m.synthetic || rows - ids < kMaxVocabPadding, what, " does not fit ", ModelName(m), " with ", rows,
             " embedding rows (vocab_size): its sentinels would be ids ", tok.num_pieces(), "..", ids - 1,
             " but a T5-style model keeps them in its top rows (ids >= ", rows - kMaxVocabPadding,
             "); use the spiece.model that came with the checkpoint (model.tokenizer)");
  QMOE_CHECK(tok.pad_id() == m.pad_token_id && tok.eos_id() == m.eos_token_id, what, " does not fit ", ModelName(m),
             ": its pad/eos ids are ", tok.pad_id(), "/", tok.eos_id(), " but the model's are ", m.pad_token_id, "/",
             m.eos_token_id);
}

data::Tokenizer LoadModelTokenizer(const data::DataParams& dp, const std::string& repo_root, const SwitchConfig& m) {
  const bool own = !m.tokenizer.empty();
  const std::string key = own ? "model.tokenizer" : "data.tokenizer";
  std::string path = own ? m.tokenizer : dp.tokenizer;
  QMOE_CHECK(!path.empty(), key, " is empty: no tokenizer for ", ModelName(m));
  if (!fs::path(path).is_absolute() && !fs::exists(path)) path = (fs::path(repo_root) / path).string();
  QMOE_CHECK(fs::is_regular_file(path), ModelName(m), ": no tokenizer file '", path, "' (", key,
             own ? "; a real checkpoint's directory must hold the spiece.model it was trained with: copy it there "
                   "from the model's release, see docs/reproducing.md)"
                 : ")");
  data::Tokenizer tok = data::Tokenizer::Load(path, static_cast<int>(dp.num_sentinels));
  CheckTokenizerFitsModel(tok, path, m);
  return tok;
}

}  // namespace qmoe
