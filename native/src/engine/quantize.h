// int8 weights: the per-output-channel quantiser the engine applies at load,
// and which tensors a pre-quantised model file (quantized_writer.h) stores
// as int8.
//
// A pre-quantised model.safetensors is a standard safetensors file in which
// each quantised matrix `X.weight` is stored as I8 [n][k] (values in
// [-127, 127]) beside `X.weight_scale`, F32 [n], with X.weight[j][p] ~=
// q[j][p] * scale[j]. The quantised matrices are the encoder's linear layers
// (attention.self.{query,key,value}, attention.output.dense,
// intermediate.dense, output.dense of every layer) and the word embeddings
// (one scale per token row, dequantised to fp32 at load: they only save
// file size and memory traffic at load). Every other tensor is copied as is.
//
// A bf16 file (`crossrank quantize --dtype bf16`) holds the same tensors as
// its source, the encoder's linear weights as BF16 (rounded to nearest even)
// and the rest as they were, and says so in its metadata ("quantization":
// kBf16Quantization), so that it loads as dtype 'bf16' by default; an
// ordinary BF16 checkpoint (no such metadata) still loads as fp32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossrank::engine {

class SafetensorsFile;

// Symmetric int8 per row (output channel), as kernels::quantize_row_s8.
struct QuantizedMatrix {
  int rows = 0;
  int cols = 0;
  std::vector<std::int8_t> values;  // rows x cols, row-major, in [-127, 127]
  std::vector<float> scales;        // one per row
};

QuantizedMatrix quantize_rows(const float* w, int rows, int cols);

// values[r][c] * scales[r], as fp32.
std::vector<float> dequantize(const QuantizedMatrix& m);

// The suffix naming a matrix's scales tensor: "X.weight" -> "X.weight_scale".
inline constexpr char kScaleSuffix[] = "_scale";

// True when `name` (with or without the "bert.", "roberta.", "electra." or ModernBERT's "model."
// prefix) is one of the
// tensors a pre-quantised file stores as int8.
bool is_quantized_tensor_name(const std::string& name);

class SafetensorsFile;

inline constexpr char kBf16Quantization[] = "crossrank bf16: encoder linear weights";

// True when file is a bf16 file (above).
bool is_bf16_model_file(const SafetensorsFile& file);

}  // namespace crossrank::engine
