#include "engine/quantize.h"

#include "engine/safetensors.h"
#include "kernels/kernels.h"

namespace crossrank::engine {

QuantizedMatrix quantize_rows(const float* w, int rows, int cols) {
  QuantizedMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.values.resize(static_cast<std::size_t>(rows) * cols);
  m.scales.resize(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    const std::size_t at = static_cast<std::size_t>(r) * cols;
    m.scales[static_cast<std::size_t>(r)] = kernels::quantize_row_s8(w + at, cols, &m.values[at]);
  }
  return m;
}

std::vector<float> dequantize(const QuantizedMatrix& m) {
  std::vector<float> out(m.values.size());
  for (int r = 0; r < m.rows; ++r) {
    const std::size_t at = static_cast<std::size_t>(r) * m.cols;
    for (int c = 0; c < m.cols; ++c)
      out[at + c] = static_cast<float>(m.values[at + c]) * m.scales[static_cast<std::size_t>(r)];
  }
  return out;
}

namespace {

// "<head><digits>.<rest>" -> true and rest (head: "encoder.layer." in BERT's
// families, "layers." in ModernBERT).
bool encoder_layer_part(const std::string& name, const std::string& head, std::string* rest) {
  if (name.compare(0, head.size(), head) != 0) return false;
  std::size_t p = head.size();
  const std::size_t digits = p;
  while (p < name.size() && name[p] >= '0' && name[p] <= '9') ++p;
  if (p == digits || p >= name.size() || name[p] != '.') return false;
  *rest = name.substr(p + 1);
  return true;
}

}  // namespace

bool is_quantized_tensor_name(const std::string& full_name) {
  std::string name = full_name;
  for (const std::string prefix : {"bert.", "roberta.", "electra.", "model."}) {
    if (name.compare(0, prefix.size(), prefix) == 0) name = name.substr(prefix.size());
  }
  if (name == "embeddings.word_embeddings.weight") return true;
  if (name == "embeddings.tok_embeddings.weight") return true;  // ModernBERT
  std::string rest;
  if (encoder_layer_part(name, "layers.", &rest)) {  // ModernBERT
    for (const char* linear : {"attn.Wqkv.weight", "attn.Wo.weight", "mlp.Wi.weight",
                               "mlp.Wo.weight"}) {
      if (rest == linear) return true;
    }
    return false;
  }
  if (!encoder_layer_part(name, "encoder.layer.", &rest)) return false;
  for (const char* linear : {"attention.self.query.weight", "attention.self.key.weight",
                             "attention.self.value.weight", "attention.output.dense.weight",
                             "intermediate.dense.weight", "output.dense.weight"}) {
    if (rest == linear) return true;
  }
  return false;
}

bool is_bf16_model_file(const SafetensorsFile& file) {
  const auto it = file.metadata().find("quantization");
  return it != file.metadata().end() && it->second == kBf16Quantization;
}

}  // namespace crossrank::engine
