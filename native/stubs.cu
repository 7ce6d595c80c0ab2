// Stand-ins for the launch functions of kernel files that are not in this checkout (CMake
// compiles this file with HANDGRAD_STUB_<PART> for each missing native/<part>.cu). A stub
// launches nothing and leaves a message that the addon turns into a JS Error, so a partial
// build links, loads and runs everything else.
#include "kernels.h"
#include "stubs.h"

namespace handgrad {



#ifdef HANDGRAD_STUB_GEMM
void gemm(bool, bool, int, int, int, float, const float*, const float*, float, float*, const uint16_t*, const uint16_t*) {
  stubError = "gemm: native/gemm.cu was not built into this addon";
}
void groupedGemm(int, int, const int*, int, int, int, const float*, const float*, float, float*, const uint16_t*,
                 const uint16_t*) {
  stubError = "groupedGemm: native/gemm.cu was not built into this addon";
}
#endif

#ifdef HANDGRAD_STUB_ATTENTION
void attentionForward(const float*, const float*, const float*, float*, float*, const AttentionShape&) {
  stubError = "attention: native/attention.cu was not built into this addon";
}
bool attentionForwardAt(const float*, const float*, const float*, float*, float*, const AttentionShape&, const int*) {
  stubError = "attentionAt: native/attention.cu was not built into this addon";
  return false;
}
void attentionBackward(const float*, const float*, const float*, const float*, const float*, const float*, float*,
                       float*, float*, float*, const AttentionShape&) {
  stubError = "attentionBackward: native/attention.cu was not built into this addon";
}
#endif

#ifdef HANDGRAD_STUB_MOE
void swiglu(const float*, float*, int, int) { stubError = "swiglu: native/moe.cu was not built into this addon"; }
void swigluBackward(const float*, const float*, float*, int, int) {
  stubError = "swigluBackward: native/moe.cu was not built into this addon";
}
void moeRoute(const float*, float*, float*, int*, float*, int, int, int, bool) {
  stubError = "moeRoute: native/moe.cu was not built into this addon";
}
void moePlan(const int*, int, int, int, int, int*, int*, int*, int*) {
  stubError = "moePlan: native/moe.cu was not built into this addon";
}
void moeCombine(const float*, const int*, const float*, float*, int, int, int) {
  stubError = "moeCombine: native/moe.cu was not built into this addon";
}
void moeCombineBackward(const float*, const int*, const float*, const float*, float*, float*, int, int, int) {
  stubError = "moeCombineBackward: native/moe.cu was not built into this addon";
}
void moeRouteBackward(const float*, const float*, const int*, const float*, const float*, const float*, float, float*,
                      int, int, int, bool) {
  stubError = "moeRouteBackward: native/moe.cu was not built into this addon";
}
void moeAuxLoss(const float*, const float*, const int*, const int*, int, int, int, float, float, float*, float*, int*,
                bool) {
  stubError = "moeAuxLoss: native/moe.cu was not built into this addon";
}
#endif

}  // namespace handgrad
