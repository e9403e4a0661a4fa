// Run-time CPU feature detection for the CPU kernels. Kernels compile their fast paths with
// per-function __attribute__((target(...))) so one binary runs on any x86-64, and pick the
// best path here at run time. QMOE_CPU_ISA=scalar|avx2|avx512 caps the choice (for tests
// and benchmarks of the slower paths).
#pragma once
#include <string>

namespace qmoe::kernels {

// Ordered: a higher value implies every lower one is usable.
enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// kAvx2 needs AVX2+FMA+BMI2+F16C; kAvx512 needs AVX-512 F/BW/VL/DQ plus the AVX2 set.
bool CpuSupports(CpuIsa isa);
// The best supported ISA, capped by QMOE_CPU_ISA if set (an unknown value is a qmoe::Error).
CpuIsa BestCpuIsa();
const char* CpuIsaName(CpuIsa isa);
// The CPU's model name as /proc/cpuinfo reports it ("unknown CPU" if unreadable).
std::string CpuModelName();
// The QMOE_CPU_ISA cap as set ("" when unset).
std::string CpuIsaCap();

}  // namespace qmoe::kernels
