// Module entry: exports the Model class, cpuInfo() and quantizeModel(). Context-aware: all
// per-module state (the Model constructor) lives in the per-env addon
// instance, so the addon loads in several worker_threads at once. The
// engine keeps no per-env state, so no cleanup hook is needed beyond the
// instance data finalizer and each Model's own finalizer.
#include <napi.h>

#include "addon/model_wrap.h"
#include "engine/errors.h"
#include "engine/quantized_writer.h"
#include "kernels/kernels.h"

namespace crossrank::addon {
namespace {

class CrossrankAddon : public Napi::Addon<CrossrankAddon> {
 public:
  CrossrankAddon(Napi::Env env, Napi::Object exports)
      : model_class_(Napi::Persistent(ModelWrap::define_class(env))) {
    DefineAddon(exports, {
                             InstanceValue("Model", model_class_.Value(), napi_enumerable),
                             InstanceMethod<&CrossrankAddon::cpu_info>("cpuInfo", napi_enumerable),
                             InstanceMethod<&CrossrankAddon::quantize_model>("quantizeModel",
                                                                            napi_enumerable),
                         });
  }

 private:
  Napi::Value cpu_info(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const kernels::CpuFeatures& cpu = kernels::cpu_features();
    const kernels::KernelTable& table = kernels::active_kernels();

    Napi::Object features = Napi::Object::New(env);
    features.Set("avx2", cpu.avx2);
    features.Set("fma", cpu.fma);
    features.Set("f16c", cpu.f16c);
    features.Set("avx512f", cpu.avx512f);
    features.Set("avx512bw", cpu.avx512bw);
    features.Set("avx512vl", cpu.avx512vl);
    features.Set("avx512Vnni", cpu.avx512_vnni);
    features.Set("avxVnni", cpu.avx_vnni);
    features.Set("avx512Bf16", cpu.avx512_bf16);
    features.Set("amxBf16", cpu.amx_bf16);
    features.Set("amxInt8", cpu.amx_int8);
    features.Set("neon", cpu.neon);
    features.Set("armBf16", cpu.arm_bf16);  // HWCAP2_BF16: bfmmla, bfdot
    features.Set("armI8mm", cpu.arm_i8mm);  // HWCAP2_I8MM: smmla

    Napi::Object ops = Napi::Object::New(env);
    ops.Set("gemm", table.gemm_name != nullptr ? table.gemm_name : "");
    ops.Set("qgemm", table.qgemm_name != nullptr ? table.qgemm_name : "");
    // The ISA whose code runs each op: the table's own, or that of the table
    // it borrows the op from (kernels/ops.h).
    // Empty when the table has no bf16 GEMM (dtype 'bf16' is then refused).
    ops.Set("bgemm", table.bgemm_name != nullptr ? table.bgemm_name : "");
    ops.Set("layerNorm", table.implemented_by.add_layernorm);
    ops.Set("gelu", table.implemented_by.gelu_erf);
    ops.Set("tanh", table.implemented_by.tanh);
    ops.Set("attention", table.implemented_by.attention);
    // Attention of bf16 models on bf16 products; empty without one.
    ops.Set("attentionBf16",
            table.implemented_by.attention_bf16 != nullptr ? table.implemented_by.attention_bf16 : "");

    const std::vector<const kernels::KernelTable*> tables = kernels::available_kernels();
    Napi::Array available = Napi::Array::New(env, tables.size());
    for (std::size_t i = 0; i < tables.size(); ++i) {
      available.Set(static_cast<std::uint32_t>(i), tables[i]->isa);
    }

    Napi::Object result = Napi::Object::New(env);
    result.Set("isa", table.isa);
    result.Set("brand", cpu.brand);
    result.Set("features", features);
    result.Set("kernels", ops);
    result.Set("available", available);
    // Why the AMX table is or is not used: which check failed (CPUID, XCR0,
    // the arch_prctl permission), or "usable" and which table runs anyway
    // (a build without AMX kernels, a CPU lacking the rest of the table's
    // needs, or CROSSRANK_ISA).
    std::string amx = cpu.amx_status;
    if (cpu.amx_bf16 || cpu.amx_int8) {
      if (kernels::amx_kernels() == nullptr) {
        amx += "; this build has no AMX kernels, using " + std::string(table.isa);
      } else if (std::string(table.isa) != "amx") {
        amx += "; using " + std::string(table.isa);
      }
    }
    result.Set("amx", amx);
    return result;
  }

  // quantizeModel(modelDir, outPath, dtype = 'int8'): writes the
  // pre-quantised safetensors file (engine/quantized_writer.h), int8 or bf16.
  // Synchronous: a one-off command-line step.
  Napi::Value quantize_model(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    for (std::size_t i = 0; i < 2; ++i) {
      if (!info[i].IsString()) {
        throw make_error(env, ErrorKind::kArgument,
                         std::string("crossrank: quantizeModel(modelDir, outPath): ") +
                             (i == 0 ? "modelDir" : "outPath") + " must be a string");
      }
    }
    engine::StoredDtype dtype = engine::StoredDtype::kInt8;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      const std::string name = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
      if (name == "bf16") {
        dtype = engine::StoredDtype::kBfloat16;
      } else if (name != "int8") {
        throw make_error(env, ErrorKind::kArgument,
                         "crossrank: quantizeModel(modelDir, outPath, dtype): dtype must be "
                         "'int8' or 'bf16'");
      }
    }
    try {
      engine::write_quantized_model(info[0].As<Napi::String>().Utf8Value(),
                                    info[1].As<Napi::String>().Utf8Value(), dtype);
    } catch (const engine::ModelError& error) {
      throw make_error(env, ErrorKind::kModel, error.what());
    } catch (const std::exception& error) {
      throw make_error(env, ErrorKind::kInternal,
                       std::string("crossrank: quantizeModel failed: ") + error.what());
    }
    return env.Undefined();
  }

  Napi::FunctionReference model_class_;
};

}  // namespace
}  // namespace crossrank::addon

// The macro pastes the class name into identifiers, so it must be unqualified.
using crossrank::addon::CrossrankAddon;
NODE_API_ADDON(CrossrankAddon)
