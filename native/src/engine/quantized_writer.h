// The writer of pre-quantised model files (`crossrank quantize`); the file
// format is described in quantize.h. Kept apart from the quantiser because
// it loads the whole model to check it first, and the weight loader itself
// uses the quantiser.
#pragma once

#include <string>

namespace crossrank::engine {

// What `crossrank quantize` stores: int8 or bf16 (the two file kinds of
// quantize.h).
enum class StoredDtype { kInt8, kBfloat16 };

// Reads <model_dir>/config.json and <model_dir>/model.safetensors (F32, F16
// or BF16) and writes the pre-quantised safetensors file out_path, in int8 or
// bf16. Throws ModelError naming the file at fault.
void write_quantized_model(const std::string& model_dir, const std::string& out_path,
                           StoredDtype dtype = StoredDtype::kInt8);

}  // namespace crossrank::engine
