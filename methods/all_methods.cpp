// The one list of methods. Keys reach results.db: never rename or reuse a key.
#include "methods/method.h"

namespace qmoe {

void RegisterAllMethods(MethodRegistry& r) {
  (void)r;
}

const MethodRegistry& Methods() {
  static const MethodRegistry reg = [] {
    MethodRegistry r("method");
    RegisterAllMethods(r);
    return r;
  }();
  return reg;
}

}  // namespace qmoe
