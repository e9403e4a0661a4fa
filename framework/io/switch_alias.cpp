#include "framework/io/switch_alias.h"

#include "framework/core/error.h"
#include "framework/core/strings.h"

#include <vector>

namespace qmoe {

std::string ResolveSwitchAlias(const Checkpoint& ckpt, const std::string& name) {
  std::vector<std::string> tried = {name};
  if (name == "encoder.embed_tokens.weight" || name == "decoder.embed_tokens.weight") {
    tried.push_back("shared.weight");
  } else if (name == "shared.weight") {
    tried.push_back("encoder.embed_tokens.weight");
    tried.push_back("decoder.embed_tokens.weight");
  } else if (name == "lm_head.weight") {
    tried.push_back("decoder.lm_head.weight");
  }
  for (const std::string& n : tried)
    if (ckpt.Has(n)) return n;
  throw Error(StrCat("checkpoint ", ckpt.dir().string(), ": no tensor \"", name, "\" (tried ",
                     Join(tried, ", "), ")"));
}

}  // namespace qmoe
