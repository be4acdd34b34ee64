// BERT inference (eval mode) on packed batches: sequences of different lengths
// laid end to end, no padding. Gives BertForSequenceClassification's logits,
// or any layer's hidden states pooled per sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "engine/config.h"
#include "engine/errors.h"
#include "engine/safetensors.h"
#include "engine/weights.h"
#include "kernels/kernels.h"

namespace crossrank::engine {

// One packed batch. Sequence i occupies tokens [offset_i, offset_i + lengths[i])
// where offset_i is the sum of the lengths before it; its positions are
// 0 .. lengths[i] - 1.
struct BatchInput {
  const std::uint32_t* ids = nullptr;
  std::size_t num_ids = 0;
  const std::uint8_t* type_ids = nullptr;
  std::size_t num_type_ids = 0;
  const std::uint32_t* lengths = nullptr;
  std::size_t num_sequences = 0;
};

// How run_hidden reduces a sequence's rows to one vector.
enum class Pooling {
  kCls,   // the first ([CLS]) row as it is (not the pooler's tanh layer)
  kMean,  // the mean of every row of the sequence
};

class BertModel {
 public:
  // Loads <model_dir>/config.json and <model_dir>/model.safetensors and packs
  // the weights for `table`. threads >= 1. With Head::kNone only the encoder
  // is loaded (run_hidden works, run and run_pooled throw). Throws ModelError.
  static std::unique_ptr<BertModel> load(const std::string& model_dir, int threads,
                                         const kernels::KernelTable& table,
                                         Dtype dtype = Dtype::kAsStored,
                                         Head head = Head::kClassifier);
  static std::unique_ptr<BertModel> load(const std::string& model_dir, int threads,
                                         Dtype dtype = Dtype::kAsStored,
                                         Head head = Head::kClassifier) {
    return load(model_dir, threads, kernels::active_kernels(), dtype, head);
  }

  const ModelConfig& config() const { return config_; }
  TensorDtype weights_dtype() const { return weights_.weights_dtype; }
  bool int8() const { return weights_.int8; }
  bool bf16() const { return weights_.bf16; }
  bool has_head() const { return weights_.has_head; }
  int threads() const { return pool_.size(); }

  // Throws InputError naming the first thing wrong with input.
  void validate(const BatchInput& input) const;

  // Validates, then returns the logits, num_sequences x num_labels row-major.
  // Safe to call from several threads; runs are serialised per model.
  std::vector<float> run(const BatchInput& input);

  // As run, but returns the pooler's output (the head's dense layer on each
  // sequence's first row, then its activation: tanh for BERT, RoBERTa and
  // XLM-R, GELU for ELECTRA), num_sequences x hidden_size: the representation
  // the classifier reads, to compare dtypes on an untrained head.
  std::vector<float> run_pooled(const BatchInput& input);

  // Validates, then returns each sequence's hidden states after `layer`
  // (0: the embeddings' output, 1..num_hidden_layers: after that encoder
  // layer, as transformers' hidden_states[layer]) pooled to one row,
  // num_sequences x hidden_size. Runs only the layers needed. Throws
  // InputError for a layer outside [0, num_hidden_layers].
  std::vector<float> run_hidden(const BatchInput& input, int layer, Pooling pooling);

 private:
  // What one forward pass produces into `out`.
  struct Target {
    enum class Kind { kLogits, kPooler, kHidden } kind = Kind::kLogits;
    float* out = nullptr;
    int layer = 0;                     // kHidden only
    Pooling pooling = Pooling::kCls;   // kHidden only
  };

  // One forward pass: the batch's layout and its activations (bert.cc).
  struct Pass;
  // Which rows an attention block computes: every token's, or only each
  // sequence's first row (the last layer, when only [CLS] is read).
  enum class Rows { kAll, kFirst };

  BertModel(ModelConfig config, BertWeights weights, int threads,
            const kernels::KernelTable& table);
  void require_head(const char* method) const;
  void forward(const BatchInput& input, const Target& target);

  // The steps of forward, in order. Each reads and writes the pass's
  // activations; a family that wires its layers differently recombines them.
  Pass begin_pass(const BatchInput& input);
  void embed(Pass& pass);
  void attention_block(const LayerWeights& layer, Pass& pass, Rows rows);
  void feed_forward_block(const LayerWeights& layer, Pass& pass, float* rows, std::size_t count);
  void pool(const Pass& pass, Pooling pooling, float* out);
  void head(Pass& pass, const Target& target);

  // The kernels the steps share.
  void layer_norm(float* rows, std::size_t count, const std::vector<float>& gamma,
                  const std::vector<float>& beta);
  void linear(int m, const float* a, int lda, const kernels::PackedWeights& w,
              const std::vector<float>& bias, kernels::Epilogue epilogue, float* c, int ldc);
  // Attention of every sequence into pass.context (see Pass::first_queries);
  // window > 0: each query sees only the keys within window / 2 of it.
  void attend(Pass& pass, Rows rows, int window = 0);

  // ModernBERT's forward pass and its steps (pre-norm layers, rotary
  // positions, gated GELU, final norm; see modernbert in bert.cc).
  void forward_modernbert(Pass& pass, const Target& target);
  void modernbert_layer(int l, Pass& pass, Rows rows);
  void modernbert_head(Pass& pass, const Target& target);
  // Rotates the query and key of every token (Rows::kAll) or the keys only
  // (kFirst, whose queries are position 0's: rotation by zero) by its
  // position, with layer l's theta.
  void rotate(int l, Pass& pass, Rows rows);
  // Grows the rotary cos/sin tables to `positions` rows.
  void grow_rotary_tables(int positions);
  // out[r] = layernorm(rows[r]) * gamma + beta, rows and out both count x hidden.
  void layer_norm_into(const float* rows, std::size_t count, const std::vector<float>& gamma,
                       const std::vector<float>& beta, float* out);

  // At least `floats` floats of activations, kept between runs.
  float* workspace(std::size_t floats);

  ModelConfig config_;
  BertWeights weights_;
  const kernels::KernelTable& table_;
  // The attention op: the table's fp32 attention, or, for a bf16 model with
  // CROSSRANK_BF16_ATTENTION=1, the table's attention on bf16 when it has
  // one. Opt-in: on Zen 4 with MiniLM (head_dim 32) the bf16 attention
  // measured slower end to end than the fp32 one (its packing of K, V and
  // the weights outweighs the halved products at 16 pairs per score).
  void (*attention_heads_)(const kernels::AttentionArgs& args, int head_begin, int head_end);
  ThreadPool pool_;
  std::mutex run_mutex_;  // the pool is not re-entrant: one forward pass at a time
  // One forward pass's activations, grown to the largest batch seen and
  // reused (runs are serialised by run_mutex_): allocating them afresh each
  // run cost about 3 % of the run in the kernel zeroing new pages.
  std::unique_ptr<float[]> workspace_;
  std::size_t workspace_floats_ = 0;
  // ModernBERT's rotary tables, [position][head_dim / 2] for the global
  // (index 0) and local (1) theta, grown to the longest sequence seen.
  std::vector<float> rotary_cos_[2], rotary_sin_[2];
  int rotary_positions_ = 0;
};

}  // namespace crossrank::engine
