// The weights of a BERT, RoBERTa or XLM-R ...ForSequenceClassification
// checkpoint (or of the encoder alone), checked against
// the config, converted to fp32 and packed for the active GEMM at load. The
// safetensors mapping is not needed afterwards.
#pragma once

#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/safetensors.h"
#include "kernels/kernels.h"

namespace crossrank::engine {

struct LayerWeights {
  kernels::PackedWeights qkv;  // [3 * hidden][hidden]: query, key, value rows fused
  std::vector<float> qkv_bias;
  kernels::PackedWeights attention_output;
  std::vector<float> attention_output_bias;
  std::vector<float> attention_norm_gamma, attention_norm_beta;
  kernels::PackedWeights intermediate;
  std::vector<float> intermediate_bias;
  kernels::PackedWeights output;
  std::vector<float> output_bias;
  std::vector<float> output_norm_gamma, output_norm_beta;
};

struct BertWeights {
  std::vector<float> word_embeddings;        // [vocab][hidden]
  std::vector<float> position_embeddings;    // [max_position][hidden]
  std::vector<float> token_type_embeddings;  // [type_vocab][hidden]
  std::vector<float> embeddings_norm_gamma, embeddings_norm_beta;
  // ELECTRA with embedding_size != hidden_size: [hidden][embedding_size].
  bool has_embeddings_project = false;
  kernels::PackedWeights embeddings_project;
  std::vector<float> embeddings_project_bias;
  std::vector<LayerWeights> layers;
  // The head, loaded with Head::kClassifier only: a dense layer and tanh on
  // each sequence's first row (BERT's pooler, RoBERTa's classifier.dense;
  // ELECTRA's classifier.dense with GELU), then the output layer (BERT's
  // classifier, RoBERTa's and ELECTRA's classifier.out_proj).
  bool has_head = false;
  kernels::PackedWeights head_dense;
  std::vector<float> head_dense_bias;
  kernels::PackedWeights head_output;  // [num_labels][hidden]
  std::vector<float> head_output_bias;
  bool head_gelu = false;  // ELECTRA's head: GELU, not tanh, after its dense layer
  // ModernBERT: the encoder's final norm, and the head's norm after its
  // dense layer and GELU. (Its layers use LayerWeights as: qkv Wqkv,
  // attention_output attn.Wo, attention_norm attn_norm (empty in layer 0,
  // an identity), intermediate Wi (2 x intermediate rows: input then gate),
  // output mlp.Wo, output_norm mlp_norm; absent biases are zeros.)
  std::vector<float> final_norm_gamma, final_norm_beta;
  std::vector<float> head_norm_gamma, head_norm_beta;
  // The checkpoint's tensor dtype (F32, F16 or BF16): JS's weightsDtype.
  TensorDtype weights_dtype = TensorDtype::kF32;
  bool int8 = false;  // encoder linears in int8 (see quantize.h)
  bool bf16 = false;  // encoder linears in bf16 (the table's bgemm)
};

// The compute dtype: which GEMM the encoder's linear layers run on. JS's
// `dtype` option and config.dtype ('fp32', 'int8', 'bf16'; absent: as
// stored); not to be confused with TensorDtype, a stored tensor's dtype.
enum class Dtype {
  kAsStored,   // int8 or bf16 for a file written by crossrank quantize, fp32 otherwise
  kFloat32,    // fp32; an int8 file is refused (a bf16 one converts exactly)
  kInt8,       // int8: quantised at load unless the file is pre-quantised
  kBfloat16,   // bf16: rounded at load; refused where the table has no bgemm
};

// Reads every tensor the model uses from file, checks names, dtypes and
// shapes against config, converts and packs with table. With Head::kNone the
// pooler and classifier are neither required nor read. Throws ModelError.
BertWeights load_weights(const ModelConfig& config, const SafetensorsFile& file,
                         const kernels::KernelTable& table,
                         Dtype dtype = Dtype::kAsStored,
                         Head head = Head::kClassifier);

}  // namespace crossrank::engine
