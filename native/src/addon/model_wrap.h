// The JS class Model: one loaded engine model. Inputs are validated and
// copied on the JS thread; run() does the forward pass on a libuv worker
// (Napi::AsyncWorker, no N-API calls in Execute) and resolves a
// Float32Array. The engine model is shared with in-flight runs, so
// dispose() or garbage collection during a run frees it when the run ends.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/bert.h"

namespace crossrank::addon {

// What went wrong, decided where the error happens (possibly off the JS
// thread) and turned into the matching JS error class on the JS thread. The
// codes and classes are those of native/error-codes.json (error_codes.h).
enum class ErrorKind {
  kModel,     // Error, code error_code::kModel: the model folder
  kInput,     // RangeError, code error_code::kInput: input values
  kArgument,  // TypeError, no code: wrong argument types
  kDisposed,  // Error, code error_code::kDisposed
  kInternal,  // Error, code error_code::kInternal: out of memory, threads, ...
};

Napi::Error make_error(Napi::Env env, ErrorKind kind, const std::string& message);

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  // The Model constructor function for env.
  static Napi::Function define_class(Napi::Env env);

  explicit ModelWrap(const Napi::CallbackInfo& info);

  // One forward pass of some kind, its arguments already read from JS.
  using Forward = std::function<std::vector<float>(engine::BertModel&, const engine::BatchInput&)>;
  // Reads the arguments after (ids, typeIds, lengths) into a Forward; throws
  // Napi::Error when they are wrong.
  using ForwardReader = Forward (*)(const Napi::CallbackInfo& info, const char* method);

 private:
  Napi::Value run(const Napi::CallbackInfo& info);
  Napi::Value run_sync(const Napi::CallbackInfo& info);
  // Pooled hidden states after a layer (BertModel::run_hidden), n x hidden:
  // hidden(ids, typeIds, lengths, layer, pooling) off the JS thread,
  // hiddenSync(...) on it.
  Napi::Value hidden(const Napi::CallbackInfo& info);
  Napi::Value hidden_sync(const Napi::CallbackInfo& info);
  // Queues the forward pass on a libuv worker; every failure rejects the promise.
  Napi::Value run_async(const Napi::CallbackInfo& info, const char* method, ForwardReader read);
  // The pooled [CLS] rows (BertModel::run_pooled), n x hidden, on the calling thread.
  Napi::Value pooled_sync(const Napi::CallbackInfo& info);
  Napi::Value forward_sync(const Napi::CallbackInfo& info, const char* method, ForwardReader read);
  void dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  std::shared_ptr<engine::BertModel> model_;  // null once disposed
};

}  // namespace crossrank::addon
