// Internal to framework/config: OmegaConf-style interpolation, resolved once after composition.
//
//   key: ${a.b}              the node becomes a copy of a.b (mapping, list or scalar)
//   key: run_${a.b}_x        a.b (a scalar) is substituted as text
//   key: ${.sibling}         relative: one dot = the mapping holding `key`, each further dot one up
//   key: ${oc.env:NAME,def}  environment variable NAME, else `def` (an Error if neither)
//   key: ${a.${b}}           nested: the inner interpolation is resolved first
//   key: \${not.this}        escaped: stays the literal text "${not.this}"
// Chains resolve (a -> b -> c); a cycle or a missing key is an Error naming the key holding the
// interpolation and the file or override that set it.
#pragma once
#include "framework/config/config_tree.h"

namespace qmoe::config_internal {

void ResolveInterpolations(CfgNode& root);

}  // namespace qmoe::config_internal
