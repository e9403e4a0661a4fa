// LoadModelTokenizer / CheckTokenizerFitsModel: which tokenizer a model gets, and that a misfit is
// one error naming the tokenizer file, the model and both sizes.
#include "framework/model/model_tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "framework/core/error.h"

namespace qmoe {
namespace {

const std::string kShipped = std::string(QMOE_SOURCE_DIR) + "/data/tokenizer/spiece.model";  // 8000 + 100 ids

SwitchConfig Model(int64_t rows) {
  SwitchConfig c;
  c.name = "m", c.path = "/ckpt", c.vocab_size = rows;
  return c;
}

std::string ErrorOf(const data::Tokenizer& tok, const SwitchConfig& m) {
  try {
    CheckTokenizerFitsModel(tok, kShipped, m);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelTokenizer, FitsWhenRowsArePaddedVocabulary) {
  data::Tokenizer tok = data::Tokenizer::Load(kShipped);
  ASSERT_EQ(tok.vocab_size(), 8100);
  EXPECT_EQ(ErrorOf(tok, Model(8128)), "");  // the shipped models: 8100 ids in 8128 rows
  EXPECT_EQ(ErrorOf(tok, Model(8100)), "");
  EXPECT_EQ(ErrorOf(tok, Model(8100 + kMaxVocabPadding - 1)), "");
}

TEST(ModelTokenizer, MisfitsNameFileModelAndSizes) {
  data::Tokenizer tok = data::Tokenizer::Load(kShipped);
  const std::string small = ErrorOf(tok, Model(4096));  // ids beyond the embedding
  EXPECT_NE(small.find(kShipped), std::string::npos) << small;
  EXPECT_NE(small.find("8100 ids"), std::string::npos) << small;
  EXPECT_NE(small.find("only 4096 embedding rows"), std::string::npos) << small;
  EXPECT_NE(small.find("model 'm' (/ckpt)"), std::string::npos) << small;
  // A T5 checkpoint (32128 rows) fed qmoe's tokenizer: ids fit, sentinels 8000.. do not.
  const std::string t5 = ErrorOf(tok, Model(32128));
  EXPECT_NE(t5.find("sentinels would be ids 8000..8099"), std::string::npos) << t5;
  EXPECT_NE(t5.find("32128 embedding rows"), std::string::npos) << t5;
  EXPECT_NE(ErrorOf(tok, Model(8100 + kMaxVocabPadding)), "");  // the first misfit
  // A synthetic checkpoint at T5's shapes (qmoe synth) has no trained sentinel rows: ids must fit.
  SwitchConfig synthetic = Model(32128);
  synthetic.synthetic = true;
  EXPECT_EQ(ErrorOf(tok, synthetic), "");
  synthetic.vocab_size = 4096;
  EXPECT_NE(ErrorOf(tok, synthetic).find("only 4096 embedding rows"), std::string::npos);
  SwitchConfig eos = Model(8128);
  eos.eos_token_id = 2;
  EXPECT_NE(ErrorOf(tok, eos).find("pad/eos ids are 0/1 but the model's are 0/2"), std::string::npos) << ErrorOf(tok, eos);
}

TEST(ModelTokenizer, ModelKeyBeatsDataKeyAndMissingFileIsNamed) {
  data::DataParams dp;
  dp.tokenizer = "data/tokenizer/spiece.model";
  SwitchConfig m = Model(8128);
  EXPECT_EQ(LoadModelTokenizer(dp, QMOE_SOURCE_DIR, m).vocab_size(), 8100);  // model.tokenizer '' -> data.tokenizer
  m.tokenizer = "/nonexistent/spiece.model";
  try {
    LoadModelTokenizer(dp, QMOE_SOURCE_DIR, m);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer file '/nonexistent/spiece.model' (model.tokenizer"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
