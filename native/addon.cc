// node-addon-api glue for the CUDA backend. `info()` tells the JS loader whether CUDA is usable;
// without nvcc at build time the addon still builds and answers {cuda: false}.
#include <napi.h>
#include <string>
#include "device.h"

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
  Napi::Array names = Napi::Array::New(env);
  for (int i = 0; i < n; i++) names.Set(static_cast<uint32_t>(i), Napi::String::New(env, handgrad::cudaDeviceName(i)));
  out.Set("names", names);
#else
  out.Set("cuda", Napi::Boolean::New(env, false));
  out.Set("built", Napi::Boolean::New(env, false));
  out.Set("devices", Napi::Number::New(env, 0));
  out.Set("error", Napi::String::New(env, "addon built without a CUDA compiler"));
  out.Set("names", Napi::Array::New(env));
#endif
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(handgrad, Init)
