#include "engine/weights.h"

#include <cstring>

namespace crossrank::engine {

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  std::uint32_t mantissa = h & 0x3FFu;
  std::uint32_t bits;
  if (exponent == 0x1F) {  // inf / nan (keep the payload)
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal: normalise, every f16 subnormal is an f32 normal
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3FFu;
    bits = sign | (static_cast<std::uint32_t>(127 - 15 + 1 - shift) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

float bf16_to_f32(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

namespace {

class WeightReader {
 public:
  WeightReader(const ModelConfig& config, const SafetensorsFile& file,
               const kernels::KernelTable& table)
      : config_(config), file_(file), table_(table) {
    // BertForSequenceClassification names the encoder "bert.*"; a bare
    // BertModel checkpoint has no prefix. The head is always "classifier.*".
    if (file.find("bert.embeddings.word_embeddings.weight") != nullptr) {
      prefix_ = "bert.";
    } else if (file.find("embeddings.word_embeddings.weight") != nullptr) {
      prefix_ = "";
    } else {
      fail("bert.embeddings.word_embeddings.weight", "is missing (neither it nor "
           "embeddings.word_embeddings.weight is in the file); is this a BERT checkpoint?");
    }
  }

  [[noreturn]] void fail(const std::string& name, const std::string& what) const {
    throw ModelError(file_.path() + ": tensor '" + name + "' " + what);
  }

  // The tensor `name` (under the encoder prefix unless `head`), converted to
  // fp32 after checking it has exactly `shape`.
  std::vector<float> read(const std::string& short_name, std::vector<std::int64_t> shape,
                          bool head = false) {
    const std::string name = head ? short_name : prefix_ + short_name;
    const TensorView* view = file_.find(name);
    if (view == nullptr) fail(name, "is missing");
    if (view->shape != shape) {
      TensorView expected;
      expected.shape = shape;
      fail(name, "has shape " + view->shape_string() + ", expected " + expected.shape_string() +
                     " from config.json");
    }
    if (view->dtype != DType::kF32 && view->dtype != DType::kF16 &&
        view->dtype != DType::kBF16) {
      fail(name, std::string("has dtype ") + dtype_name(view->dtype) +
                     "; supported: F32, F16, BF16");
    }
    if (view->dtype != DType::kF32) dtype_ = view->dtype;

    std::vector<float> out(static_cast<std::size_t>(view->numel));
    const unsigned char* src = view->data;
    switch (view->dtype) {
      case DType::kF32:
        std::memcpy(out.data(), src, view->nbytes);  // the mapping need not be aligned
        break;
      case DType::kF16:
      case DType::kBF16: {
        const bool f16 = view->dtype == DType::kF16;
        for (std::size_t i = 0; i < out.size(); ++i) {
          const auto bits = static_cast<std::uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
          out[i] = f16 ? f16_to_f32(bits) : bf16_to_f32(bits);
        }
        break;
      }
      default:
        break;
    }
    return out;
  }

  kernels::PackedWeights pack(const std::vector<float>& w, int n, int k) {
    kernels::PackedWeights packed;
    table_.gemm_pack(w.data(), n, k, &packed);
    return packed;
  }

  // A linear layer [n][k] plus its bias [n].
  kernels::PackedWeights linear(const std::string& name, int n, int k, std::vector<float>* bias,
                                bool head = false) {
    kernels::PackedWeights packed = pack(read(name + ".weight", {n, k}, head), n, k);
    *bias = read(name + ".bias", {n}, head);
    return packed;
  }

  void layer_norm(const std::string& name, std::vector<float>* gamma, std::vector<float>* beta) {
    const int hidden = config_.hidden_size;
    *gamma = read(name + ".weight", {hidden});
    *beta = read(name + ".bias", {hidden});
  }

  DType dtype() const { return dtype_; }

 private:
  const ModelConfig& config_;
  const SafetensorsFile& file_;
  const kernels::KernelTable& table_;
  std::string prefix_;
  DType dtype_ = DType::kF32;
};

}  // namespace

BertWeights load_weights(const ModelConfig& config, const SafetensorsFile& file,
                         const kernels::KernelTable& table) {
  WeightReader reader(config, file, table);
  const int hidden = config.hidden_size;
  const int inter = config.intermediate_size;
  BertWeights w;

  w.word_embeddings = reader.read("embeddings.word_embeddings.weight", {config.vocab_size, hidden});
  w.position_embeddings = reader.read("embeddings.position_embeddings.weight",
                                      {config.max_position_embeddings, hidden});
  w.token_type_embeddings = reader.read("embeddings.token_type_embeddings.weight",
                                        {config.type_vocab_size, hidden});
  reader.layer_norm("embeddings.LayerNorm", &w.embeddings_norm_gamma, &w.embeddings_norm_beta);

  w.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string base = "encoder.layer." + std::to_string(l) + ".";

    // One GEMM computes q, k and v: stack the three [hidden][hidden]
    // matrices (and biases) row-wise before packing.
    std::vector<float> qkv;
    qkv.reserve(static_cast<std::size_t>(3) * hidden * hidden);
    layer.qkv_bias.reserve(static_cast<std::size_t>(3) * hidden);
    for (const char* part : {"query", "key", "value"}) {
      const std::string name = base + "attention.self." + part;
      const std::vector<float> weight = reader.read(name + ".weight", {hidden, hidden});
      qkv.insert(qkv.end(), weight.begin(), weight.end());
      const std::vector<float> bias = reader.read(name + ".bias", {hidden});
      layer.qkv_bias.insert(layer.qkv_bias.end(), bias.begin(), bias.end());
    }
    layer.qkv = reader.pack(qkv, 3 * hidden, hidden);

    layer.attention_output = reader.linear(base + "attention.output.dense", hidden, hidden,
                                           &layer.attention_output_bias);
    reader.layer_norm(base + "attention.output.LayerNorm", &layer.attention_norm_gamma,
                      &layer.attention_norm_beta);
    layer.intermediate =
        reader.linear(base + "intermediate.dense", inter, hidden, &layer.intermediate_bias);
    layer.output = reader.linear(base + "output.dense", hidden, inter, &layer.output_bias);
    reader.layer_norm(base + "output.LayerNorm", &layer.output_norm_gamma,
                      &layer.output_norm_beta);
  }

  w.pooler = reader.linear("pooler.dense", hidden, hidden, &w.pooler_bias);
  w.classifier =
      reader.linear("classifier", config.num_labels, hidden, &w.classifier_bias, /*head=*/true);
  w.dtype = reader.dtype();
  return w;
}

}  // namespace crossrank::engine
