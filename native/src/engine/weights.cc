#include "engine/weights.h"

#include <cstring>
#include <limits>

#include "engine/errors.h"
#include "engine/quantize.h"

namespace crossrank::engine {

namespace {

class WeightReader {
 public:
  WeightReader(const ModelConfig& config, const SafetensorsFile& file,
               const kernels::KernelTable& table)
      : config_(config), file_(file), table_(table) {
    // ...ForSequenceClassification names the encoder "bert.*" or
    // "roberta.*" (XLM-R too); a bare encoder checkpoint has no prefix. The
    // head is always "classifier.*".
    const bool modernbert = config.family == Family::kModernBert;
    const std::string family_prefix = config.family == Family::kBert      ? "bert."
                                      : config.family == Family::kElectra ? "electra."
                                      : modernbert                        ? "model."
                                                                          : "roberta.";
    const std::string probe =
        modernbert ? "embeddings.tok_embeddings.weight" : "embeddings.word_embeddings.weight";
    if (file.find(family_prefix + probe) != nullptr) {
      prefix_ = family_prefix;
    } else if (file.find(probe) != nullptr) {
      prefix_ = "";
    } else {
      fail(family_prefix + probe, "is missing (neither it nor " + probe +
                                      " is in the file); is this a " + config.model_type +
                                      " checkpoint?");
    }
  }

  [[noreturn]] void fail(const std::string& name, const std::string& what) const {
    throw ModelError(file_.path() + ": tensor '" + name + "' " + what);
  }

  // The tensor `name` (under the encoder prefix unless `head`) after checking
  // it has exactly `shape`.
  const TensorView& find(const std::string& name, const std::vector<std::int64_t>& shape) const {
    const TensorView* view = file_.find(name);
    if (view == nullptr) fail(name, "is missing");
    if (view->shape != shape) {
      TensorView expected;
      expected.shape = shape;
      fail(name, "has shape " + view->shape_string() + ", expected " + expected.shape_string() +
                     " from config.json");
    }
    return *view;
  }

  // The tensor `name` (under the encoder prefix unless `head`), converted to
  // fp32 after checking it has exactly `shape`.
  std::vector<float> read(const std::string& short_name, std::vector<std::int64_t> shape,
                          bool head = false) {
    const std::string name = head ? short_name : prefix_ + short_name;
    const TensorView& view = find(name, shape);
    std::vector<float> out;
    if (!tensor_to_f32(view, &out)) {
      if (view.dtype == TensorDtype::kI8 && is_quantized_tensor_name(name)) {
        fail(name, "is int8 (a file written by crossrank quantize); load it with dtype 'int8'");
      }
      fail(name, std::string("has dtype ") + dtype_name(view.dtype) +
                     "; supported: F32, F16, BF16");
    }
    if (view.dtype != TensorDtype::kF32) dtype_ = view.dtype;
    return out;
  }

  // True when the file stores `short_name` as int8 (a pre-quantised file).
  bool stored_int8(const std::string& short_name) const {
    const TensorView* view = file_.find(prefix_ + short_name);
    return view != nullptr && view->dtype == TensorDtype::kI8;
  }

  // The matrix `short_name` ([rows][cols]) as int8: read with its scales
  // from a pre-quantised file, else read as fp32 and quantised per row.
  QuantizedMatrix read_int8(const std::string& short_name, int rows, int cols) {
    if (!stored_int8(short_name)) {
      const std::vector<float> w = read(short_name, {rows, cols});
      return quantize_rows(w.data(), rows, cols);
    }
    const std::string name = prefix_ + short_name;
    const TensorView& values = find(name, {rows, cols});
    const std::string scale_name = name + kScaleSuffix;
    const TensorView& scales = find(scale_name, {rows});
    if (scales.dtype != TensorDtype::kF32) {
      fail(scale_name, std::string("has dtype ") + dtype_name(scales.dtype) +
                           "; the scales of int8 weights must be F32");
    }
    QuantizedMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.values.resize(values.nbytes);
    std::memcpy(m.values.data(), values.data, values.nbytes);
    m.scales.resize(static_cast<std::size_t>(rows));
    std::memcpy(m.scales.data(), scales.data, scales.nbytes);
    // The int8 kernels are exact only for values in [-127, 127].
    for (std::size_t i = 0; i < m.values.size(); ++i) {
      if (m.values[i] == -128) {
        fail(name, "holds -128 at element " + std::to_string(i) +
                       "; int8 weights must lie in [-127, 127]");
      }
    }
    for (int r = 0; r < rows; ++r) {
      const float s = m.scales[static_cast<std::size_t>(r)];
      if (!(s >= 0.f) || s == std::numeric_limits<float>::infinity()) {
        fail(scale_name, "holds " + std::to_string(s) + " at row " + std::to_string(r) +
                             "; scales must be finite and >= 0");
      }
    }
    return m;
  }

  kernels::PackedWeights pack(const std::vector<float>& w, int n, int k) {
    kernels::PackedWeights packed;
    table_.gemm_pack(w.data(), n, k, &packed);
    return packed;
  }

  kernels::PackedWeights pack_bf16(const std::vector<float>& w, int n, int k) {
    kernels::PackedWeights packed;
    table_.bgemm_pack(w.data(), n, k, &packed);
    return packed;
  }

  kernels::PackedWeights pack_int8(const QuantizedMatrix& m) {
    kernels::PackedWeights packed;
    table_.qgemm_pack(m.values.data(), m.scales.data(), m.rows, m.cols, &packed);
    return packed;
  }

  // A linear layer [n][k] plus its bias [n].
  kernels::PackedWeights linear(const std::string& name, int n, int k, std::vector<float>* bias,
                                bool head = false) {
    kernels::PackedWeights packed = pack(read(name + ".weight", {n, k}, head), n, k);
    *bias = read(name + ".bias", {n}, head);
    return packed;
  }

  // An encoder linear layer, in int8, bf16 or fp32 as the model runs.
  // An encoder linear layer, in int8, bf16 or fp32 as the model runs.
  // Without has_bias (ModernBERT's bias-free linears) the bias is zeros.
  kernels::PackedWeights encoder_linear(const std::string& name, int n, int k,
                                        std::vector<float>* bias, const BertWeights& w,
                                        bool has_bias = true) {
    *bias = has_bias ? read(name + ".bias", {n}) : std::vector<float>(static_cast<std::size_t>(n));
    if (w.bf16) return pack_bf16(read(name + ".weight", {n, k}), n, k);
    if (!w.int8) return pack(read(name + ".weight", {n, k}), n, k);
    return pack_int8(read_int8(name + ".weight", n, k));
  }

  // Without has_bias (ModernBERT's norm_bias false) beta is zeros.
  void layer_norm(const std::string& name, std::vector<float>* gamma, std::vector<float>* beta,
                  int width, bool has_bias = true, bool head = false) {
    *gamma = read(name + ".weight", {width}, head);
    *beta = has_bias ? read(name + ".bias", {width}, head)
                     : std::vector<float>(static_cast<std::size_t>(width));
  }

  TensorDtype dtype() const { return dtype_; }

 private:
  const ModelConfig& config_;
  const SafetensorsFile& file_;
  const kernels::KernelTable& table_;
  std::string prefix_;
  TensorDtype dtype_ = TensorDtype::kF32;
};

// ModernBERT's layers and head (the embeddings are read by load_weights).
void load_modernbert_layers(const ModelConfig& config, WeightReader& reader, BertWeights& w,
                            Head head) {
  const int hidden = config.hidden_size;
  const int inter = config.intermediate_size;
  w.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string base = "layers." + std::to_string(l) + ".";
    // Layer 0's attn_norm is an identity (the embeddings were just normed).
    if (l > 0) {
      reader.layer_norm(base + "attn_norm", &layer.attention_norm_gamma,
                        &layer.attention_norm_beta, hidden, config.norm_bias);
    }
    layer.qkv = reader.encoder_linear(base + "attn.Wqkv", 3 * hidden, hidden, &layer.qkv_bias, w,
                                      config.attention_bias);
    layer.attention_output = reader.encoder_linear(base + "attn.Wo", hidden, hidden,
                                                   &layer.attention_output_bias, w,
                                                   config.attention_bias);
    reader.layer_norm(base + "mlp_norm", &layer.output_norm_gamma, &layer.output_norm_beta,
                      hidden, config.norm_bias);
    layer.intermediate = reader.encoder_linear(base + "mlp.Wi", 2 * inter, hidden,
                                               &layer.intermediate_bias, w, config.mlp_bias);
    layer.output = reader.encoder_linear(base + "mlp.Wo", hidden, inter, &layer.output_bias, w,
                                         config.mlp_bias);
  }
  reader.layer_norm("final_norm", &w.final_norm_gamma, &w.final_norm_beta, hidden,
                    config.norm_bias);
  if (head != Head::kClassifier) return;
  // The head: dense, GELU, LayerNorm, then the classifier (always biased).
  w.head_gelu = true;
  w.head_dense_bias.assign(static_cast<std::size_t>(hidden), 0.f);
  w.head_dense = reader.pack(reader.read("head.dense.weight", {hidden, hidden}, /*head=*/true),
                             hidden, hidden);
  if (config.classifier_bias) w.head_dense_bias = reader.read("head.dense.bias", {hidden}, true);
  reader.layer_norm("head.norm", &w.head_norm_gamma, &w.head_norm_beta, hidden, config.norm_bias,
                    /*head=*/true);
  w.head_output = reader.linear("classifier", config.num_labels, hidden, &w.head_output_bias,
                                /*head=*/true);
  w.has_head = true;
}

}  // namespace

BertWeights load_weights(const ModelConfig& config, const SafetensorsFile& file,
                         const kernels::KernelTable& table, Dtype dtype, Head head) {
  WeightReader reader(config, file, table);
  const int hidden = config.hidden_size;
  const int inter = config.intermediate_size;
  BertWeights w;

  const bool modernbert = config.family == Family::kModernBert;
  const bool file_int8 = reader.stored_int8(modernbert ? "layers.0.attn.Wqkv.weight"
                                                       : "encoder.layer.0.attention.self.query.weight");
  if (dtype == Dtype::kFloat32 && file_int8) {
    throw ModelError(file.path() + ": holds int8 weights (written by crossrank quantize); "
                     "load it with dtype 'int8'");
  }
  const bool file_bf16 = is_bf16_model_file(file);
  if (dtype == Dtype::kBfloat16 && file_int8) {
    throw ModelError(file.path() + ": holds int8 weights (written by crossrank quantize); "
                     "load it with dtype 'int8'");
  }
  if (dtype == Dtype::kInt8 && file_bf16) {
    throw ModelError(file.path() + ": holds bf16 weights (written by crossrank quantize "
                     "--dtype bf16); load it with dtype 'bf16' or 'fp32'");
  }
  w.int8 = file_int8 || dtype == Dtype::kInt8;
  w.bf16 = dtype == Dtype::kBfloat16 || (dtype == Dtype::kAsStored && file_bf16);
  if (w.bf16 && table.bgemm == nullptr) {
    throw ModelError("dtype 'bf16' needs a bf16 GEMM, and this CPU's kernels (" +
                     std::string(table.isa) + ") have none: crossrank runs bf16 on "
                     "AVX512-BF16 CPUs (AMD Zen 4 and later, Intel Cooper Lake and Xeon 4th "
                     "generation and later); use dtype 'int8' or 'fp32' here" +
                     (file_bf16 ? " ('fp32' reads the bf16 file exactly)" : ""));
  }

  const int embedding = config.embedding_size;
  const std::string word_embeddings =
      modernbert ? "embeddings.tok_embeddings.weight" : "embeddings.word_embeddings.weight";
  if (w.int8) {
    // Quantised in the file too (see quantize.h), so that a model quantised
    // at load and one read from a pre-quantised file compute the same.
    w.word_embeddings =
        dequantize(reader.read_int8(word_embeddings, config.vocab_size, embedding));
  } else {
    w.word_embeddings = reader.read(word_embeddings, {config.vocab_size, embedding});
  }
  if (modernbert) {
    // No position or token-type tables: rotary positions, no token types.
    reader.layer_norm("embeddings.norm", &w.embeddings_norm_gamma, &w.embeddings_norm_beta, hidden,
                      config.norm_bias);
    load_modernbert_layers(config, reader, w, head);
    w.weights_dtype = reader.dtype();
    return w;
  }
  w.position_embeddings = reader.read("embeddings.position_embeddings.weight",
                                      {config.max_position_embeddings, embedding});
  w.token_type_embeddings = reader.read("embeddings.token_type_embeddings.weight",
                                        {config.type_vocab_size, embedding});
  reader.layer_norm("embeddings.LayerNorm", &w.embeddings_norm_gamma, &w.embeddings_norm_beta,
                    embedding);
  if (embedding != hidden) {
    // Kept in fp32 like the head: it runs once per token on a narrow input.
    w.embeddings_project = reader.linear("embeddings_project", hidden, embedding,
                                         &w.embeddings_project_bias);
    w.has_embeddings_project = true;
  }

  w.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string base = "encoder.layer." + std::to_string(l) + ".";

    // One GEMM computes q, k and v: stack the three [hidden][hidden]
    // matrices (and biases) row-wise before packing.
    // (Per-row int8 scales are the same whether taken before or after stacking.)
    std::vector<float> qkv;
    QuantizedMatrix qkv_int8;
    qkv_int8.rows = 3 * hidden;
    qkv_int8.cols = hidden;
    layer.qkv_bias.reserve(static_cast<std::size_t>(3) * hidden);
    for (const char* part : {"query", "key", "value"}) {
      const std::string name = base + "attention.self." + part;
      if (w.int8) {
        const QuantizedMatrix m = reader.read_int8(name + ".weight", hidden, hidden);
        qkv_int8.values.insert(qkv_int8.values.end(), m.values.begin(), m.values.end());
        qkv_int8.scales.insert(qkv_int8.scales.end(), m.scales.begin(), m.scales.end());
      } else {
        const std::vector<float> weight = reader.read(name + ".weight", {hidden, hidden});
        qkv.insert(qkv.end(), weight.begin(), weight.end());
      }
      const std::vector<float> bias = reader.read(name + ".bias", {hidden});
      layer.qkv_bias.insert(layer.qkv_bias.end(), bias.begin(), bias.end());
    }
    layer.qkv = w.int8   ? reader.pack_int8(qkv_int8)
                : w.bf16 ? reader.pack_bf16(qkv, 3 * hidden, hidden)
                         : reader.pack(qkv, 3 * hidden, hidden);

    layer.attention_output = reader.encoder_linear(base + "attention.output.dense", hidden,
                                                   hidden, &layer.attention_output_bias, w);
    reader.layer_norm(base + "attention.output.LayerNorm", &layer.attention_norm_gamma,
                      &layer.attention_norm_beta, hidden);
    layer.intermediate = reader.encoder_linear(base + "intermediate.dense", inter, hidden,
                                               &layer.intermediate_bias, w);
    layer.output =
        reader.encoder_linear(base + "output.dense", hidden, inter, &layer.output_bias, w);
    reader.layer_norm(base + "output.LayerNorm", &layer.output_norm_gamma,
                      &layer.output_norm_beta, hidden);
  }

  if (head == Head::kClassifier) {
    // BERT: the pooler's dense layer, then "classifier". RoBERTa's
    // classification head: "classifier.dense", then "classifier.out_proj".
    const bool bert = config.family == Family::kBert;
    w.head_gelu = config.family == Family::kElectra;
    const std::string output = bert ? "classifier" : "classifier.out_proj";
    if (file.find(output + ".weight") == nullptr) {
      reader.fail(output + ".weight",
                  "is missing: a cross-encoder needs a sequence-classification head; a bare "
                  "encoder can be loaded as a sentence encoder (SentenceEncoder.load)");
    }
    w.head_dense = bert ? reader.linear("pooler.dense", hidden, hidden, &w.head_dense_bias)
                        : reader.linear("classifier.dense", hidden, hidden, &w.head_dense_bias,
                                        /*head=*/true);
    w.head_output =
        reader.linear(output, config.num_labels, hidden, &w.head_output_bias, /*head=*/true);
    w.has_head = true;
  }
  w.weights_dtype = reader.dtype();
  return w;
}

}  // namespace crossrank::engine
