// node-addon-api glue for the CUDA backend: device memory (device_pool.h), host↔device copies and
// every launch function of kernels.h, called from src/backends/cuda/ops.ts. Device pointers
// cross N-API as JS numbers (addresses fit in 2^53); 0 is a null pointer. Arguments are not
// type-checked here: CudaOps validates sizes before it calls, and keeps this layer thin so a
// call costs little more than the launch itself.
// Errors: after every launch cudaGetLastError (and, in debug mode, a device synchronisation
// so that a fault is reported by the op that caused it) becomes a JS Error carrying the CUDA
// error string. Without nvcc at build time (HANDGRAD_WITH_CUDA unset) only info() exists.
#include <napi.h>
#include <exception>
#include <cstdint>
#include <string>
#include "device.h"
#ifdef HANDGRAD_WITH_CUDA
#include "graph.h"
#include "kernels.h"
#include "device_pool.h"
#include "stubs.h"
#endif

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
#ifdef HANDGRAD_WITH_CUDA
  std::string error;
  int n = handgrad::cudaDeviceCount(error);
  out.Set("cuda", Napi::Boolean::New(env, n > 0));
  out.Set("built", Napi::Boolean::New(env, true));
  out.Set("devices", Napi::Number::New(env, n < 0 ? 0 : n));
  if (n < 0) out.Set("error", Napi::String::New(env, error));
  else if (n == 0) out.Set("error", Napi::String::New(env, "no CUDA device"));
  Napi::Array names = Napi::Array::New(env);
  for (int i = 0; i < n; i++) names.Set(static_cast<uint32_t>(i), Napi::String::New(env, handgrad::cudaDeviceName(i)));
  out.Set("names", names);
  if (n > 0) out.Set("shortName", Napi::String::New(env, handgrad::cudaDeviceShortName(0)));
#else
  out.Set("cuda", Napi::Boolean::New(env, false));
  out.Set("built", Napi::Boolean::New(env, false));
  out.Set("devices", Napi::Number::New(env, 0));
  out.Set("error", Napi::String::New(env, "addon built without a CUDA compiler"));
  out.Set("names", Napi::Array::New(env));
#endif
  return out;
}

#ifdef HANDGRAD_WITH_CUDA
using namespace handgrad;

bool debugSync = false;  // setDebug(true): synchronise after every launch

inline double num(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
inline int i32(const Napi::CallbackInfo& info, size_t i) { return static_cast<int>(num(info, i)); }
inline size_t sz(const Napi::CallbackInfo& info, size_t i) { return static_cast<size_t>(num(info, i)); }
inline float f32(const Napi::CallbackInfo& info, size_t i) { return static_cast<float>(num(info, i)); }
inline bool flag(const Napi::CallbackInfo& info, size_t i) { return info[i].ToBoolean().Value(); }
template <class T>
inline T* ptr(const Napi::CallbackInfo& info, size_t i) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(num(info, i)));
}
#define F(i) ptr<float>(info, i)
#define I(i) ptr<int>(info, i)
// An optional trailing pointer argument (a bf16 copy): null when absent or 0.
inline uint16_t* optH(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsNumber() ? ptr<uint16_t>(info, i) : nullptr;
}

Napi::Value throwError(Napi::Env env, const std::string& what, const std::string& error) {
  Napi::Error::New(env, "CUDA " + what + ": " + error).ThrowAsJavaScriptException();
  return env.Undefined();
}

// After a launch: a stub's "not built" message, else the CUDA error state.
Napi::Value done(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  if (stubError) {
    std::string msg = stubError;
    stubError = nullptr;
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string error;
  if (!checkCuda(debugSync, error)) return throwError(env, op, error);
  return env.Undefined();
}

// ---- memory ---------------------------------------------------------------------------------------
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  uintptr_t p = 0;
  std::string error;
  if (!pool::alloc(sz(info, 0), p, error)) return throwError(info.Env(), "out of memory", error);
  return Napi::Number::New(info.Env(), static_cast<double>(p));
}
Napi::Value Mark(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pool::mark()));
}
Napi::Value Release(const Napi::CallbackInfo& info) {
  std::string error;
  if (!pool::release(sz(info, 0), error)) {
    Napi::RangeError::New(info.Env(), error).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}
Napi::Value FreeAll(const Napi::CallbackInfo& info) {
  pool::freeAll();
  return info.Env().Undefined();
}
Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pool::Stats s = pool::stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesInUse", Napi::Number::New(env, static_cast<double>(s.bytesInUse)));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(s.peakBytes)));
  o.Set("reservedBytes", Napi::Number::New(env, static_cast<double>(s.reserved)));
  o.Set("totalDevice", Napi::Number::New(env, static_cast<double>(s.totalDevice)));
  o.Set("freeDevice", Napi::Number::New(env, static_cast<double>(s.freeDevice)));
  return o;
}
Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  pool::resetPeak();
  return info.Env().Undefined();
}
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  std::string error;
  if (!synchronize(error)) return throwError(info.Env(), "synchronize", error);
  return info.Env().Undefined();
}
Napi::Value SetDebug(const Napi::CallbackInfo& info) {
  debugSync = flag(info, 0);
  return info.Env().Undefined();
}
// upload(devicePtr, typedArray): the whole typed array to the device. download: the reverse.
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::TypedArray a = info[1].As<Napi::TypedArray>();
  const char* src = static_cast<const char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  std::string error;
  if (!copyToDevice(static_cast<uintptr_t>(num(info, 0)), src, a.ByteLength(), error))
    return throwError(info.Env(), "upload", error);
  return info.Env().Undefined();
}
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::TypedArray a = info[1].As<Napi::TypedArray>();
  char* dst = static_cast<char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  std::string error;
  if (!copyToHost(dst, static_cast<uintptr_t>(num(info, 0)), a.ByteLength(), error))
    return throwError(info.Env(), "download", error);
  return info.Env().Undefined();
}

// ---- elementwise.cu, rows.cu, layernorm.cu, embedding.cu, optim.cu ------------------------------
Napi::Value Fill(const Napi::CallbackInfo& info) { fill(F(0), sz(info, 1), f32(info, 2)); return done(info, "fill"); }
Napi::Value FillInts(const Napi::CallbackInfo& info) {
  fillInts(I(0), sz(info, 1), i32(info, 2));
  return done(info, "fillInts");
}
Napi::Value Copy(const Napi::CallbackInfo& info) { copy(F(0), F(1), sz(info, 2)); return done(info, "copy"); }
Napi::Value Scale(const Napi::CallbackInfo& info) { scale(F(0), sz(info, 1), f32(info, 2)); return done(info, "scale"); }
Napi::Value Axpy(const Napi::CallbackInfo& info) { axpy(f32(info, 0), F(1), F(2), sz(info, 3)); return done(info, "axpy"); }
Napi::Value Add(const Napi::CallbackInfo& info) { add(F(0), F(1), F(2), sz(info, 3)); return done(info, "add"); }
Napi::Value Mul(const Napi::CallbackInfo& info) {
  mul(F(0), F(1), F(2), sz(info, 3), flag(info, 4));
  return done(info, "mul");
}
Napi::Value Activation(const Napi::CallbackInfo& info) {
  activation(i32(info, 0), F(1), F(2), sz(info, 3));
  return done(info, "activation");
}
Napi::Value ActivationBackward(const Napi::CallbackInfo& info) {
  activationBackward(i32(info, 0), F(1), F(2), F(3), F(4), sz(info, 5), flag(info, 6));
  return done(info, "activationBackward");
}
Napi::Value AddBias(const Napi::CallbackInfo& info) {
  addBias(F(0), F(1), i32(info, 2), i32(info, 3));
  return done(info, "addBias");
}
Napi::Value SumRows(const Napi::CallbackInfo& info) {
  sumRows(F(0), F(1), i32(info, 2), i32(info, 3));
  return done(info, "sumRows");
}
Napi::Value SumCols(const Napi::CallbackInfo& info) {
  sumCols(F(0), F(1), i32(info, 2), i32(info, 3));
  return done(info, "sumCols");
}
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  softmax(F(0), F(1), i32(info, 2), i32(info, 3));
  return done(info, "softmax");
}
Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  logSoftmax(F(0), F(1), i32(info, 2), i32(info, 3));
  return done(info, "logSoftmax");
}
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  softmaxBackward(F(0), F(1), F(2), i32(info, 3), i32(info, 4));
  return done(info, "softmaxBackward");
}
Napi::Value LogSoftmaxBackward(const Napi::CallbackInfo& info) {
  logSoftmaxBackward(F(0), F(1), F(2), i32(info, 3), i32(info, 4));
  return done(info, "logSoftmaxBackward");
}
// Returns the summed loss: zero the device double, launch, read it back (synchronises).
Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string error;
  double* d = nullptr;
  if (!pool::doubles(d, error) || !zeroDoubles(d, 1, error)) return throwError(env, "softmaxCrossEntropy", error);
  softmaxCrossEntropy(F(0), I(1), i32(info, 2), i32(info, 3), F(4), f32(info, 5), d);
  done(info, "softmaxCrossEntropy");
  if (env.IsExceptionPending()) return env.Undefined();
  double loss = 0;
  if (!readDoubles(&loss, d, 1, error)) return throwError(env, "softmaxCrossEntropy", error);
  return Napi::Number::New(env, loss);
}
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  layerNorm(F(0), F(1), F(2), F(3), F(4), F(5), i32(info, 6), i32(info, 7), f32(info, 8));
  return done(info, "layerNorm");
}
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  layerNormBackward(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), i32(info, 8), i32(info, 9));
  return done(info, "layerNormBackward");
}
// embedding(table, ids, out, n, dim, vocab[, outBf16])
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  embedding(F(0), I(1), F(2), i32(info, 3), i32(info, 4), i32(info, 5), optH(info, 6));
  return done(info, "embedding");
}
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  embeddingBackward(F(0), I(1), F(2), i32(info, 3), i32(info, 4), i32(info, 5));
  return done(info, "embeddingBackward");
}
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string error;
  double* d = nullptr;
  if (!pool::doubles(d, error) || !zeroDoubles(d, 1, error)) return throwError(env, "sumSquares", error);
  sumSquares(F(0), sz(info, 1), d);
  done(info, "sumSquares");
  if (env.IsExceptionPending()) return env.Undefined();
  double s = 0;
  if (!readDoubles(&s, d, 1, error)) return throwError(env, "sumSquares", error);
  return Napi::Number::New(env, s);
}
// sumSquaresList(Float64Array of [ptr, n] pairs): Σ over every tensor, one synchronisation in all
// (gradient clipping over ~100 parameter tensors would otherwise wait on the device ~100 times).
Napi::Value SumSquaresList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string error;
  double* d = nullptr;
  if (!pool::doubles(d, error) || !zeroDoubles(d, 1, error)) return throwError(env, "sumSquaresList", error);
  Napi::Float64Array list = info[0].As<Napi::Float64Array>();
  for (size_t i = 0; i + 1 < list.ElementLength(); i += 2) {
    sumSquares(reinterpret_cast<const float*>(static_cast<uintptr_t>(list[i])), static_cast<size_t>(list[i + 1]), d);
  }
  done(info, "sumSquaresList");
  if (env.IsExceptionPending()) return env.Undefined();
  double s = 0;
  if (!readDoubles(&s, d, 1, error)) return throwError(env, "sumSquaresList", error);
  return Napi::Number::New(env, s);
}
// adam(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, step[, paramBf16])
Napi::Value Adam(const Napi::CallbackInfo& info) {
  adam(F(0), F(1), F(2), F(3), sz(info, 4), f32(info, 5), f32(info, 6), f32(info, 7), f32(info, 8), f32(info, 9),
       flag(info, 10), i32(info, 11), optH(info, 12));
  return done(info, "adam");
}

// ---- gemm.cu ------------------------------------------------------------------------------------
// gemm(transA, transB, m, n, k, alpha, A, B, beta, C[, Abf16, Bbf16])
// gemm.cu reports bad arguments and launch failures as C++ exceptions; the addon is built without
// N-API C++ exceptions, so one escaping here would abort Node: they become JS Errors instead.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  try {
    gemm(flag(info, 0), flag(info, 1), i32(info, 2), i32(info, 3), i32(info, 4), f32(info, 5), F(6), F(7), f32(info, 8),
         F(9), optH(info, 10), optH(info, 11));
  } catch (const std::exception& e) {
    return throwError(info.Env(), "gemm", e.what());
  }
  return done(info, "gemm");
}
// groupedGemm(mode, G, offsets, maxRows, n, k, A, B, beta, C[, Abf16, Bbf16])
Napi::Value GroupedGemm(const Napi::CallbackInfo& info) {
  try {
    groupedGemm(i32(info, 0), i32(info, 1), I(2), i32(info, 3), i32(info, 4), i32(info, 5), F(6), F(7), f32(info, 8),
                F(9), optH(info, 10), optH(info, 11));
  } catch (const std::exception& e) {
    return throwError(info.Env(), "groupedGemm", e.what());
  }
  return done(info, "groupedGemm");
}

// copyAt(src, dst, n, pos, stride): dst[pos[0]·stride + i] = src[i]
Napi::Value CopyAt(const Napi::CallbackInfo& info) {
  copyAt(F(0), F(1), sz(info, 2), I(3), sz(info, 4));
  return done(info, "copyAt");
}

// ---- graph.cu: capture and replay of op sequences (see graph.h) ----------------------------------
// graphBegin(); …ops…; graphEnd() → handle (a number), or throws; graphLaunch(handle); graphDestroy(handle).
Napi::Value GraphBegin(const Napi::CallbackInfo& info) {
  std::string error;
  if (!graphBegin(error)) return throwError(info.Env(), "graphBegin", error);
  return info.Env().Undefined();
}
Napi::Value GraphEnd(const Napi::CallbackInfo& info) {
  std::string error;
  uintptr_t exec = 0;
  if (!graphEnd(exec, error)) return throwError(info.Env(), "graphEnd", error);
  return Napi::Number::New(info.Env(), static_cast<double>(exec));
}
Napi::Value GraphLaunch(const Napi::CallbackInfo& info) {
  std::string error;
  if (!graphLaunch(static_cast<uintptr_t>(num(info, 0)), error)) return throwError(info.Env(), "graphLaunch", error);
  return done(info, "graphLaunch");
}
Napi::Value GraphDestroy(const Napi::CallbackInfo& info) {
  graphDestroy(static_cast<uintptr_t>(num(info, 0)));
  return info.Env().Undefined();
}

// ---- attention.cu -------------------------------------------------------------------------------
// The shape travels as 11 trailing numbers: B, H, D, Tq, Tk, qOffset, qStride, kvStride, oStride, causal, scale;
// with dropout on P, three more: the uint32 threshold, 1/(1 − p), the uint32 seed (absent: no dropout).
AttentionShape shapeAt(const Napi::CallbackInfo& info, size_t i) {
  AttentionShape s;
  s.B = i32(info, i); s.H = i32(info, i + 1); s.D = i32(info, i + 2); s.Tq = i32(info, i + 3);
  s.Tk = i32(info, i + 4); s.qOffset = i32(info, i + 5); s.qStride = i32(info, i + 6);
  s.kvStride = i32(info, i + 7); s.oStride = i32(info, i + 8); s.causal = flag(info, i + 9);
  s.scale = f32(info, i + 10);
  if (info.Length() >= i + 14) {
    s.dropThr = static_cast<unsigned>(num(info, i + 11));
    s.dropScale = f32(info, i + 12);
    s.dropSeed = static_cast<unsigned>(num(info, i + 13));
  }
  return s;
}
// attention(q, k, v, out, lse, ...shape)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  AttentionShape s = shapeAt(info, 5);
  attentionForward(F(0), F(1), F(2), F(3), F(4), s);
  return done(info, "attention");
}
// attentionAt(q, k, v, out, lse, pos, ...shape): qOffset = pos[0], Tk = pos[0] + Tq ≤ shape's Tk, on the device.
Napi::Value AttentionAt(const Napi::CallbackInfo& info) {
  AttentionShape s = shapeAt(info, 6);
  if (!attentionForwardAt(F(0), F(1), F(2), F(3), F(4), s, I(5)) && !stubError)
    return throwError(info.Env(), "attentionAt", "needs B = 1, Tq <= 4, D <= 128 and a cache of at most ~11k rows");
  return done(info, "attentionAt");
}
// attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, ...shape); the rowsum scratch is ours.
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  AttentionShape s = shapeAt(info, 9);
  uintptr_t scratch = 0;
  std::string error;
  size_t rows = size_t(s.B) * s.H * s.Tq;
  if (!pool::scratch(rows * sizeof(float), scratch, error)) return throwError(info.Env(), "attentionBackward", error);
  attentionBackward(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), reinterpret_cast<float*>(scratch), s);
  return done(info, "attentionBackward");
}

// ---- moe.cu -------------------------------------------------------------------------------------
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  swiglu(F(0), F(1), i32(info, 2), i32(info, 3));
  return done(info, "swiglu");
}
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  swigluBackward(F(0), F(1), F(2), i32(info, 3), i32(info, 4));
  return done(info, "swigluBackward");
}
// moeRoute(logits, probs, lse, topIdx, topGate, n, E, k, renormalize)
Napi::Value MoeRoute(const Napi::CallbackInfo& info) {
  moeRoute(F(0), F(1), F(2), I(3), F(4), i32(info, 5), i32(info, 6), i32(info, 7), flag(info, 8));
  return done(info, "moeRoute");
}
// moePlan(topIdx, n, E, k, capacity, slot, rowToken, offsets, routed)
Napi::Value MoePlan(const Napi::CallbackInfo& info) {
  moePlan(I(0), i32(info, 1), i32(info, 2), i32(info, 3), i32(info, 4), I(5), I(6), I(7), I(8));
  return done(info, "moePlan");
}
// moeCombine(yd, slot, topGate, y, n, k, C)
Napi::Value MoeCombine(const Napi::CallbackInfo& info) {
  moeCombine(F(0), I(1), F(2), F(3), i32(info, 4), i32(info, 5), i32(info, 6));
  return done(info, "moeCombine");
}
// moeCombineBackward(yd, slot, topGate, dy, dyd, dgate, n, k, C)
Napi::Value MoeCombineBackward(const Napi::CallbackInfo& info) {
  moeCombineBackward(F(0), I(1), F(2), F(3), F(4), F(5), i32(info, 6), i32(info, 7), i32(info, 8));
  return done(info, "moeCombineBackward");
}
// moeRouteBackward(probs, lse, topIdx, topGate, dgate, balanceGrad|0, zGrad, dlogits, n, E, k, renormalize)
Napi::Value MoeRouteBackward(const Napi::CallbackInfo& info) {
  moeRouteBackward(F(0), F(1), I(2), F(3), F(4), F(5), f32(info, 6), F(7), i32(info, 8), i32(info, 9), i32(info, 10),
                   flag(info, 11));
  return done(info, "moeRouteBackward");
}
// moeAuxLoss(probs, lse, offsets, routed, n, E, k, balanceCoef, zLossCoef, balanceGrad, loss, counts, accumulate):
// no return value and no synchronisation (the losses and counts stay on the device until read).
Napi::Value MoeAuxLoss(const Napi::CallbackInfo& info) {
  moeAuxLoss(F(0), F(1), I(2), I(3), i32(info, 4), i32(info, 5), i32(info, 6), f32(info, 7), f32(info, 8), F(9), F(10),
             I(11), flag(info, 12));
  return done(info, "moeAuxLoss");
}
#undef F
#undef I
#endif  // HANDGRAD_WITH_CUDA

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
#ifdef HANDGRAD_WITH_CUDA
  struct Entry { const char* name; Napi::Value (*fn)(const Napi::CallbackInfo&); };
  static const Entry entries[] = {
      {"alloc", Alloc}, {"mark", Mark}, {"release", Release}, {"freeAll", FreeAll}, {"memory", Memory},
      {"resetPeak", ResetPeak}, {"synchronize", Synchronize}, {"setDebug", SetDebug}, {"upload", Upload},
      {"download", Download},
      {"fill", Fill}, {"fillInts", FillInts}, {"copy", Copy}, {"scale", Scale}, {"axpy", Axpy}, {"add", Add},
      {"mul", Mul}, {"activation", Activation}, {"activationBackward", ActivationBackward}, {"addBias", AddBias},
      {"sumRows", SumRows}, {"sumCols", SumCols}, {"softmax", Softmax}, {"logSoftmax", LogSoftmax},
      {"softmaxBackward", SoftmaxBackward}, {"logSoftmaxBackward", LogSoftmaxBackward},
      {"softmaxCrossEntropy", SoftmaxCrossEntropy}, {"layerNorm", LayerNorm},
      {"layerNormBackward", LayerNormBackward}, {"embedding", Embedding}, {"embeddingBackward", EmbeddingBackward},
      {"sumSquares", SumSquares}, {"sumSquaresList", SumSquaresList}, {"adam", Adam},
      {"gemm", Gemm}, {"groupedGemm", GroupedGemm}, {"attention", Attention}, {"attentionBackward", AttentionBackward},
      {"swiglu", Swiglu}, {"swigluBackward", SwigluBackward}, {"moeRoute", MoeRoute}, {"moePlan", MoePlan},
      {"moeCombine", MoeCombine}, {"moeCombineBackward", MoeCombineBackward}, {"moeRouteBackward", MoeRouteBackward},
      {"moeAuxLoss", MoeAuxLoss},
      {"copyAt", CopyAt}, {"attentionAt", AttentionAt},
      {"graphBegin", GraphBegin}, {"graphEnd", GraphEnd}, {"graphLaunch", GraphLaunch}, {"graphDestroy", GraphDestroy},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(handgrad, Init)
