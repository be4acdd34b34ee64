#include "addon/model_wrap.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <utility>
#include <vector>

#include "addon/error_codes.h"
#include "common/thread_pool.h"
#include "engine/errors.h"

namespace crossrank::addon {
namespace {

using engine::BatchInput;
using engine::BertModel;

constexpr int kMaxThreads = 256;
constexpr const char* kDisposedMessage = "crossrank: model has been disposed";

const char* typed_array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "an Int8Array";
    case napi_uint8_array: return "a Uint8Array";
    case napi_uint8_clamped_array: return "a Uint8ClampedArray";
    case napi_int16_array: return "an Int16Array";
    case napi_uint16_array: return "a Uint16Array";
    case napi_int32_array: return "an Int32Array";
    case napi_uint32_array: return "a Uint32Array";
    case napi_float32_array: return "a Float32Array";
    case napi_float64_array: return "a Float64Array";
    case napi_bigint64_array: return "a BigInt64Array";
    case napi_biguint64_array: return "a BigUint64Array";
    default: return "a typed array";  // types newer than these headers
  }
}

// What a value is, for TypeError messages.
std::string describe(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsBoolean()) return "a boolean";
  if (value.IsNumber()) return "a number";
  if (value.IsString()) return "a string";
  if (value.IsTypedArray()) return typed_array_name(value.As<Napi::TypedArray>().TypedArrayType());
  if (value.IsArray()) return "an Array";
  if (value.IsArrayBuffer()) return "an ArrayBuffer";
  if (value.IsFunction()) return "a function";
  return "an object";
}

template <typename T>
struct ArrayArg {
  const T* data;
  std::size_t length;
};

// The memory of a typed array argument, read in place (the data pointer
// N-API gives already includes byteOffset).
template <typename T>
ArrayArg<T> typed_array_arg(const Napi::CallbackInfo& info, std::size_t index, const char* method,
                            const char* name, napi_typedarray_type type) {
  const Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw make_error(info.Env(), ErrorKind::kArgument,
                     std::string("crossrank: Model.") + method + ": " + name + " must be " +
                         typed_array_name(type) + ", got " + describe(value));
  }
  const auto array = value.As<Napi::TypedArrayOf<T>>();
  return {array.Data(), array.ElementLength()};
}

struct RunArgs {
  ArrayArg<std::uint32_t> ids;
  ArrayArg<std::uint8_t> type_ids;
  ArrayArg<std::uint32_t> lengths;
};

RunArgs run_args(const Napi::CallbackInfo& info, const char* method) {
  return {typed_array_arg<std::uint32_t>(info, 0, method, "ids", napi_uint32_array),
          typed_array_arg<std::uint8_t>(info, 1, method, "typeIds", napi_uint8_array),
          typed_array_arg<std::uint32_t>(info, 2, method, "lengths", napi_uint32_array)};
}

Napi::Float32Array to_float32_array(Napi::Env env, const std::vector<float>& values) {
  Napi::Float32Array array = Napi::Float32Array::New(env, values.size());
  if (!values.empty()) std::memcpy(array.Data(), values.data(), values.size() * sizeof(float));
  return array;
}

// One forward pass off the JS thread. The inputs are copied (they are a few
// bytes per token) so the caller may reuse or drop its arrays at once; the
// model is shared so dispose() cannot free it under the run.
class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<BertModel> model, const RunArgs& args,
            const char* method, ModelWrap::Forward forward)
      : Napi::AsyncWorker(env, "crossrank:Model.run"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        method_(method),
        forward_(std::move(forward)),
        ids_(args.ids.data, args.ids.data + args.ids.length),
        type_ids_(args.type_ids.data, args.type_ids.data + args.type_ids.length),
        lengths_(args.lengths.data, args.lengths.data + args.lengths.length) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      logits_ = forward_(*model_, BatchInput{ids_.data(), ids_.size(), type_ids_.data(),
                                             type_ids_.size(), lengths_.data(), lengths_.size()});
    } catch (const engine::InputError& error) {
      fail(ErrorKind::kInput, error.what());
    } catch (const std::exception& error) {
      fail(ErrorKind::kInternal,
           std::string("crossrank: Model.") + method_ + " failed: " + error.what());
    } catch (...) {
      fail(ErrorKind::kInternal, std::string("crossrank: Model.") + method_ + " failed");
    }
  }

  void OnOK() override { deferred_.Resolve(to_float32_array(Env(), logits_)); }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(make_error(Env(), kind_, message_).Value());
  }

 private:
  void fail(ErrorKind kind, std::string message) {
    kind_ = kind;
    message_ = std::move(message);
    SetError(message_);
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BertModel> model_;
  const char* method_;
  ModelWrap::Forward forward_;
  std::vector<std::uint32_t> ids_;
  std::vector<std::uint8_t> type_ids_;
  std::vector<std::uint32_t> lengths_;
  std::vector<float> logits_;
  ErrorKind kind_ = ErrorKind::kInternal;
  std::string message_;
};

int threads_option(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 2 || info[1].IsUndefined()) return default_thread_count();
  if (!info[1].IsObject() || info[1].IsArray() || info[1].IsFunction()) {
    throw make_error(env, ErrorKind::kArgument,
                     "crossrank: new Model(modelDir, options): options must be an object, got " +
                         describe(info[1]));
  }
  const Napi::Value threads = info[1].As<Napi::Object>().Get("threads");
  if (threads.IsUndefined()) return default_thread_count();
  if (!threads.IsNumber()) {
    throw make_error(env, ErrorKind::kArgument,
                     "crossrank: options.threads must be a number, got " + describe(threads));
  }
  const double value = threads.As<Napi::Number>().DoubleValue();
  if (!(value >= 1 && value <= kMaxThreads) || value != std::floor(value)) {
    throw make_error(env, ErrorKind::kInput,
                     "crossrank: options.threads must be an integer from 1 to " +
                         std::to_string(kMaxThreads) + ", got " +
                         threads.ToString().Utf8Value());
  }
  return static_cast<int>(value);
}

// options.dtype: 'fp32', 'int8', 'bf16' or absent (as the file is stored). Called
// after threads_option, which checked that options is an object.
engine::Dtype dtype_option(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 2 || info[1].IsUndefined()) return engine::Dtype::kAsStored;
  const Napi::Value dtype = info[1].As<Napi::Object>().Get("dtype");
  if (dtype.IsUndefined()) return engine::Dtype::kAsStored;
  if (!dtype.IsString()) {
    throw make_error(env, ErrorKind::kArgument,
                     "crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got " +
                         describe(dtype));
  }
  const std::string value = dtype.As<Napi::String>().Utf8Value();
  if (value == "fp32") return engine::Dtype::kFloat32;
  if (value == "int8") return engine::Dtype::kInt8;
  if (value == "bf16") return engine::Dtype::kBfloat16;
  throw make_error(env, ErrorKind::kInput,
                   "crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got '" + value +
                       "'");
}

// options.encoderOnly: true loads the encoder alone (no pooler or classifier
// needed). Called after threads_option, which checked that options is an object.
engine::Head head_option(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || info[1].IsUndefined()) return engine::Head::kClassifier;
  const Napi::Value encoder_only = info[1].As<Napi::Object>().Get("encoderOnly");
  if (encoder_only.IsUndefined()) return engine::Head::kClassifier;
  if (!encoder_only.IsBoolean()) {
    throw make_error(info.Env(), ErrorKind::kArgument,
                     "crossrank: options.encoderOnly must be a boolean, got " +
                         describe(encoder_only));
  }
  return encoder_only.As<Napi::Boolean>().Value() ? engine::Head::kNone
                                                  : engine::Head::kClassifier;
}

ModelWrap::Forward read_run(const Napi::CallbackInfo&, const char*) {
  return [](BertModel& model, const BatchInput& input) { return model.run(input); };
}

ModelWrap::Forward read_pooled(const Napi::CallbackInfo&, const char*) {
  return [](BertModel& model, const BatchInput& input) { return model.run_pooled(input); };
}

// (…, layer, pooling): layer an integer (its range is the engine's to check),
// pooling 'cls' or 'mean'.
ModelWrap::Forward read_hidden(const Napi::CallbackInfo& info, const char* method) {
  const Napi::Env env = info.Env();
  const Napi::Value layer_value = info[3];
  if (!layer_value.IsNumber()) {
    throw make_error(env, ErrorKind::kArgument,
                     std::string("crossrank: Model.") + method + ": layer must be a number, got " +
                         describe(layer_value));
  }
  const double layer = layer_value.As<Napi::Number>().DoubleValue();
  if (!(layer >= 0 && layer <= 1 << 20) || layer != std::floor(layer)) {
    throw make_error(env, ErrorKind::kInput,
                     std::string("crossrank: Model.") + method +
                         ": layer must be a non-negative integer, got " +
                         layer_value.ToString().Utf8Value());
  }
  const Napi::Value pooling_value = info[4];
  const std::string pooling =
      pooling_value.IsString() ? pooling_value.As<Napi::String>().Utf8Value() : "";
  if (pooling != "cls" && pooling != "mean") {
    const std::string got =
        pooling_value.IsString() ? "'" + pooling + "'" : describe(pooling_value);
    throw make_error(env, pooling_value.IsString() ? ErrorKind::kInput : ErrorKind::kArgument,
                     std::string("crossrank: Model.") + method +
                         ": pooling must be 'cls' or 'mean', got " + got);
  }
  const engine::Pooling mode = pooling == "cls" ? engine::Pooling::kCls : engine::Pooling::kMean;
  return [layer = static_cast<int>(layer), mode](BertModel& model, const BatchInput& input) {
    return model.run_hidden(input, layer, mode);
  };
}

Napi::Object config_object(Napi::Env env, const BertModel& model) {
  const engine::ModelConfig& c = model.config();
  Napi::Array architectures = Napi::Array::New(env, c.architectures.size());
  for (std::size_t i = 0; i < c.architectures.size(); ++i) {
    architectures.Set(static_cast<std::uint32_t>(i), c.architectures[i]);
  }
  architectures.Freeze();
  Napi::Object config = Napi::Object::New(env);
  config.Set("modelType", c.model_type);
  config.Set("architectures", architectures);
  config.Set("hiddenSize", c.hidden_size);
  config.Set("numHiddenLayers", c.num_hidden_layers);
  config.Set("numAttentionHeads", c.num_attention_heads);
  config.Set("intermediateSize", c.intermediate_size);
  config.Set("vocabSize", c.vocab_size);
  config.Set("typeVocabSize", c.type_vocab_size);
  config.Set("maxPositionEmbeddings", c.max_position_embeddings);
  config.Set("maxSequenceLength", c.max_length());
  config.Set("numLabels", c.num_labels);
  config.Set("layerNormEps", c.layer_norm_eps);
  config.Set("hiddenAct", c.hidden_act);
  config.Set("weightsDtype", engine::dtype_name(model.weights_dtype()));
  config.Set("dtype", model.int8() ? "int8" : model.bf16() ? "bf16" : "fp32");
  config.Set("hasClassifier", model.has_head());
  config.Freeze();
  return config;
}

}  // namespace

Napi::Error make_error(Napi::Env env, ErrorKind kind, const std::string& message) {
  Napi::Error error;
  const char* code = nullptr;
  switch (kind) {
    case ErrorKind::kModel:
      error = Napi::Error::New(env, message);
      code = error_code::kModel;
      break;
    case ErrorKind::kInput:
      error = Napi::RangeError::New(env, message);
      code = error_code::kInput;
      break;
    case ErrorKind::kArgument:
      error = Napi::TypeError::New(env, message);
      break;
    case ErrorKind::kDisposed:
      error = Napi::Error::New(env, message);
      code = error_code::kDisposed;
      break;
    case ErrorKind::kInternal:
      error = Napi::Error::New(env, message);
      code = error_code::kInternal;
      break;
  }
  if (code != nullptr) error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Function ModelWrap::define_class(Napi::Env env) {
  return DefineClass(env, "Model",
                     {
                         InstanceMethod<&ModelWrap::run>("run"),
                         InstanceMethod<&ModelWrap::run_sync>("runSync"),
                         InstanceMethod<&ModelWrap::pooled_sync>("pooledSync"),
                         InstanceMethod<&ModelWrap::hidden>("hidden"),
                         InstanceMethod<&ModelWrap::hidden_sync>("hiddenSync"),
                         InstanceMethod<&ModelWrap::dispose>("dispose"),
                         InstanceAccessor<&ModelWrap::disposed>("disposed"),
                     });
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  const Napi::Env env = info.Env();
  if (!info.IsConstructCall()) {
    throw make_error(env, ErrorKind::kArgument, "crossrank: Model must be called with new");
  }
  if (!info[0].IsString()) {
    throw make_error(env, ErrorKind::kArgument,
                     "crossrank: new Model(modelDir): modelDir must be a string, got " +
                         describe(info[0]));
  }
  const std::string model_dir = info[0].As<Napi::String>().Utf8Value();
  if (model_dir.empty() || model_dir.find('\0') != std::string::npos) {
    throw make_error(env, ErrorKind::kArgument,
                     "crossrank: new Model(modelDir): modelDir must be a non-empty path");
  }
  const int threads = threads_option(info);
  const engine::Dtype dtype = dtype_option(info);
  const engine::Head head = head_option(info);
  try {
    model_ = BertModel::load(model_dir, threads, dtype, head);
  } catch (const engine::ModelError& error) {
    throw make_error(env, ErrorKind::kModel, error.what());
  } catch (const std::exception& error) {
    throw make_error(env, ErrorKind::kInternal,
                     "crossrank: loading " + model_dir + " failed: " + error.what());
  }
  info.This().As<Napi::Object>().DefineProperties({
      Napi::PropertyDescriptor::Value("config", config_object(env, *model_), napi_enumerable),
      Napi::PropertyDescriptor::Value("threads", Napi::Number::New(env, model_->threads()),
                                      napi_enumerable),
  });
}

Napi::Value ModelWrap::run(const Napi::CallbackInfo& info) {
  return run_async(info, "run", read_run);
}

Napi::Value ModelWrap::hidden(const Napi::CallbackInfo& info) {
  return run_async(info, "hidden", read_hidden);
}

Napi::Value ModelWrap::run_async(const Napi::CallbackInfo& info, const char* method,
                                 ForwardReader read) {
  const Napi::Env env = info.Env();
  // Every failure rejects the promise, none throws synchronously.
  try {
    if (!model_) throw make_error(env, ErrorKind::kDisposed, kDisposedMessage);
    const RunArgs args = run_args(info, method);
    auto* worker = new RunWorker(env, model_, args, method, read(info, method));
    const Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& error) {
    const auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(error.Value());
    return deferred.Promise();
  } catch (const std::exception& error) {  // e.g. bad_alloc copying the inputs
    const auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(make_error(env, ErrorKind::kInternal,
                               std::string("crossrank: Model.") + method + " failed: " +
                                   error.what())
                        .Value());
    return deferred.Promise();
  }
}

Napi::Value ModelWrap::run_sync(const Napi::CallbackInfo& info) {
  return forward_sync(info, "runSync", read_run);
}

Napi::Value ModelWrap::pooled_sync(const Napi::CallbackInfo& info) {
  return forward_sync(info, "pooledSync", read_pooled);
}

Napi::Value ModelWrap::hidden_sync(const Napi::CallbackInfo& info) {
  return forward_sync(info, "hiddenSync", read_hidden);
}

Napi::Value ModelWrap::forward_sync(const Napi::CallbackInfo& info, const char* method,
                                    ForwardReader read) {
  const Napi::Env env = info.Env();
  if (!model_) throw make_error(env, ErrorKind::kDisposed, kDisposedMessage);
  const RunArgs args = run_args(info, method);
  const Forward forward = read(info, method);
  std::vector<float> out;
  try {
    // No JS runs until this returns, so the arrays are read in place.
    out = forward(*model_, BatchInput{args.ids.data, args.ids.length, args.type_ids.data,
                                      args.type_ids.length, args.lengths.data,
                                      args.lengths.length});
  } catch (const engine::InputError& error) {
    throw make_error(env, ErrorKind::kInput, error.what());
  } catch (const std::exception& error) {
    throw make_error(env, ErrorKind::kInternal,
                     std::string("crossrank: Model.") + method + " failed: " + error.what());
  }
  return to_float32_array(env, out);
}

void ModelWrap::dispose(const Napi::CallbackInfo&) { model_.reset(); }

Napi::Value ModelWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), model_ == nullptr);
}

}  // namespace crossrank::addon
